"""Mean +- sd over independent runs of a benchmark: reads the ``table.md`` that each run of
``synthetic_report_guided.py``, ``qata_cov19.py`` or ``kvasir_seg.py`` wrote, and prints one row per run name
(trainer and report kind) with the mean +- sd (n-1) of each chosen column and the per-run values.

Each run is one output folder (``--out`` of the benchmark); its table is found below it. A row missing from a
run is left out of that row's statistics (the run count says so).

    python benchmarks/aggregate_runs.py /tmp/kv_r1 /tmp/kv_r2 /tmp/kv_r3 --columns "per-image Dice (%)"
"""
import argparse
import glob
import os

import numpy as np


def read_table(path: str) -> tuple[list, dict]:
    """(header, {row name: [cells]}) of a markdown table (first column = the row name)."""
    header, rows = None, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(cells[0]) <= set("-: "):
                rows[cells[0]] = cells[1:]
    if header is None:
        raise ValueError(f"{path}: no markdown table")
    return header, rows


def find_table(folder: str) -> str:
    found = sorted(glob.glob(os.path.join(folder, "**", "table.md"), recursive=True))
    if not found:
        raise FileNotFoundError(f"{folder}: no table.md below it (has the benchmark finished?)")
    return found[0]


def aggregate(folders, columns) -> str:
    values = {}  # (row, column) -> list
    order = []
    for folder in folders:
        header, rows = read_table(find_table(folder))
        for name, cells in rows.items():
            if name not in order:
                order.append(name)
            for column in columns:
                if column not in header:
                    raise ValueError(f"{folder}: no column {column!r} (columns: {header[1:]})")
                cell = cells[header.index(column) - 1].strip("* ")
                if cell:
                    values.setdefault((name, column), []).append(float(cell))
    lines = ["| Run | " + " | ".join(f"{c}, mean +- sd" for c in columns) + " | runs | values (first column) |",
             "|---|" + "---:|" * len(columns) + "---:|---|"]
    for name in order:
        parts = []
        for column in columns:
            v = values.get((name, column), [])
            sd = np.std(v, ddof=1) if len(v) > 1 else 0.0
            parts.append(f"{np.mean(v):.2f} +- {sd:.2f}" if v else "")
        first = values.get((name, columns[0]), [])
        lines.append(f"| {name} | " + " | ".join(parts) + f" | {len(first)} | {', '.join(f'{x:.2f}' for x in first)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="the --out folder of each run")
    p.add_argument("--columns", nargs="+", default=["per-image Dice (%)", "global Dice (%)"])
    args = p.parse_args()
    print(aggregate(args.folders, args.columns))


if __name__ == "__main__":
    main()
