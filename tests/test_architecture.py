"""The one-way flow of documentation/architecture.md, checked on the source: which package may import which."""
import ast
import os

import nnunetv2_tmca

ROOT = os.path.dirname(nnunetv2_tmca.__file__)
# package -> packages of nnunetv2_tmca it must never import (directly)
FORBIDDEN = {
    "model": {"training", "inference", "experiments", "evaluation", "text", "reports", "losses", "mirroring"},
    "losses": {"training", "inference", "experiments", "evaluation", "text", "reports", "model", "mirroring"},
    "mirroring": {"training", "inference", "experiments", "evaluation", "model", "losses"},
    "text": {"training", "inference", "experiments", "evaluation", "model", "losses"},
    "reports": {"training", "inference", "experiments", "evaluation", "model", "losses", "text"},
    "training": {"inference", "experiments", "evaluation"},
    "inference": {"training", "experiments"},
    "evaluation": {"training", "inference", "experiments", "model"},
    "checkpoints": {"training", "inference", "experiments", "evaluation", "model", "losses", "mirroring", "text",
                    "reports", "cli_errors"},
    "viewer": {"training", "experiments", "evaluation", "model", "losses", "mirroring", "text", "dataset_conversion",
               "demo"},
    "cli_errors": {"training", "inference", "experiments", "evaluation", "model", "losses", "mirroring"},
}


def imported_packages(package: str) -> dict:
    """{imported nnunetv2_tmca package: [file, ...]} for every module of ``package`` (a folder or a .py)."""
    path = os.path.join(ROOT, package)
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(path) for f in fs if f.endswith(".py")] \
        if os.path.isdir(path) else [path + ".py"]
    found = {}
    for file in files:
        for node in ast.walk(ast.parse(open(file).read())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "nnunetv2_tmca" and len(parts) > 1:
                    found.setdefault(parts[1], []).append(os.path.relpath(file, ROOT))
    return found


def test_data_flows_one_way():
    for package, forbidden in FORBIDDEN.items():
        bad = {p: files for p, files in imported_packages(package).items() if p in forbidden}
        assert not bad, f"{package} imports {bad}"


def test_no_module_over_400_lines():
    long = [(os.path.relpath(os.path.join(dp, f), ROOT), n) for dp, _, fs in os.walk(ROOT) for f in fs
            if f.endswith(".py") and (n := sum(1 for _ in open(os.path.join(dp, f)))) > 400]
    assert not long, long
