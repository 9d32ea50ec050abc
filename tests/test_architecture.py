"""The one-way flow of documentation/architecture.md, checked on the source.

The "may import" table of that page is parsed: each row names a package (``text/``), a top-level module
(``reports.py``) or a module inside a package (``text/cli.py``, which then has its own row), and the list of
what it may import. Every package and module of nnunetv2_tmca needs a row; each import of ours must be on its
row's list; and the table lists the rows from the bottom layer to the top (a row's layer is 1 + the highest
layer of what it may import), so a list may name only earlier rows: no arrow points back up.
"""
import ast
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout, also when installed non-editable
ROOT = os.path.join(REPO, "nnunetv2_tmca")
DOC = os.path.join(REPO, "documentation", "architecture.md")
NOTHING = ("—", "-", "nothing of ours", "nnU-Net only")


def table_rows() -> dict:
    """{row key (``text``, ``reports``, ``text/cli``): set of allowed row keys}, from the "may import" table."""
    rows, in_table = {}, False
    for line in open(DOC, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells and cells[-1] == "may import":
            in_table = True
            continue
        if not in_table or not cells:
            if in_table and rows:
                break
            continue
        if set(cells[0]) <= set("-: "):
            continue
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        assert name, f"first column of {line!r} is not one `package/` or `module.py`"
        allowed = re.sub(r"\([^)]*\)", "", cells[-1])  # explanations in parentheses are no entries
        entries = re.findall(r"`([^`]+)`", allowed)
        assert entries or allowed.strip() in NOTHING, f"cannot read the may-import column of {line!r}"
        rows[key(name.group(1))] = {key(e) for e in entries}
    assert rows, f"no 'may import' table in {DOC}"
    return rows


def key(name: str) -> str:
    """``text/`` -> ``text``, ``reports.py`` -> ``reports``, ``text/cli.py`` -> ``text/cli``."""
    name = name.strip().rstrip("/")
    return name[:-3] if name.endswith(".py") else name


def row_of(parts: list, rows: dict) -> str | None:
    """The most specific row for the module ``nnunetv2_tmca.<parts>``."""
    for n in range(len(parts), 0, -1):
        if "/".join(parts[:n]) in rows:
            return "/".join(parts[:n])
    return None


def source_files() -> list:
    """(path relative to ROOT as parts without .py, file) for every module of nnunetv2_tmca."""
    out = []
    for dp, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                parts = os.path.relpath(os.path.join(dp, f), ROOT)[:-3].split(os.sep)
                out.append((parts, os.path.join(dp, f)))
    return out


def imported_modules(parts: list, file: str) -> list:
    """Every module of ours that ``file`` imports (at any depth of the code), as parts below nnunetv2_tmca."""
    package = parts[:-1]  # the package of a module, also of a package's __init__
    found = []
    for node in ast.walk(ast.parse(open(file, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (["nnunetv2_tmca"] + package[:len(package) - node.level + 1]) if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            names = [module + [a.name] for a in node.names]  # ``from x import y``: y may be a module
        else:
            continue
        found += [name[1:] for name in names if name[0] == "nnunetv2_tmca" and len(name) > 1]
    return found


def layers(rows: dict) -> dict:
    """{row: layer}, 0 for a row that may import nothing of ours; fails on a cycle (an arrow back up)."""
    layer, visiting = {}, []

    def visit(row):
        assert row not in visiting, f"the may-import lists form a cycle: {' -> '.join(visiting + [row])}"
        if row not in layer:
            visiting.append(row)
            layer[row] = 1 + max((visit(r) for r in rows[row]), default=-1)
            visiting.pop()
        return layer[row]
    for row in rows:
        visit(row)
    return layer


def test_table_names_real_packages_and_orders_them_in_layers():
    rows = table_rows()
    unknown = {row: sorted(allowed - set(rows)) for row, allowed in rows.items() if allowed - set(rows)}
    assert not unknown, f"may-import entries without a row of their own: {unknown}"
    missing = [row for row in rows if not (os.path.isdir(os.path.join(ROOT, row))
                                           or os.path.isfile(os.path.join(ROOT, row + ".py")))]
    assert not missing, f"rows for packages or modules that do not exist: {missing}"
    order = list(rows)
    up = {row: sorted(e for e in allowed if e in rows and order.index(e) > order.index(row))
          for row, allowed in rows.items()}
    assert not any(up.values()), f"may-import entries naming a later row of the table (an arrow back up): " \
                                 f"{ {r: u for r, u in up.items() if u} }"
    layer = layers(rows)
    assert "training" not in rows["inference"] and "inference" not in rows["training"]
    assert layer["errors"] == 0 and layer["cli_errors"] == 1


def test_every_package_and_module_has_a_row():
    rows = table_rows()
    top = {key(e) for e in os.listdir(ROOT) if e != "__pycache__" and (e.endswith(".py") or any(
        f.endswith(".py") for _, _, fs in os.walk(os.path.join(ROOT, e)) for f in fs))}
    assert not top - set(rows), f"not in the may-import table of {DOC}: {sorted(top - set(rows))}"


def test_every_import_is_on_its_rows_list():
    rows = table_rows()
    bad = {}
    for parts, file in source_files():
        row = row_of(parts, rows)
        for module in imported_modules(parts, file):
            target = row_of(module, rows) or "__init__"  # else a name defined in nnunetv2_tmca/__init__.py
            if target != row and target not in rows.get(row, ()):
                bad.setdefault(row, set()).add(f"{os.path.relpath(file, ROOT)} -> {'.'.join(module)}")
    assert not bad, f"imports not allowed by the may-import table of {DOC}: {bad}"


def test_no_module_over_400_lines():
    long = [(os.path.relpath(file, ROOT), n) for _, file in source_files()
            if (n := sum(1 for _ in open(file, encoding="utf-8"))) > 400]
    assert not long, long


def test_trainer_module_under_300_lines():
    file = os.path.join(ROOT, "training", "nnUNetTrainerTMCA.py")
    n = sum(1 for _ in open(file, encoding="utf-8"))
    assert n < 300, f"training/nnUNetTrainerTMCA.py has {n} lines: move a topic into its own module"
