"""What the agreement score means, measured: AUROC of true reports against wrong ones on held-out cases.

For each case the model predicts with its true report and with wrong ones: another case's report (the
swapped-case error, the derangement of ``shuffle_reports``), and edits of its own (sides swapped, zones
swapped, target sentences deleted; ``evaluation/controls.edit_report``). AUROC = P(score of the true pair >
score of a wrong pair). For the synthetic sets, whose images are regenerated from the generator's seed, the
*ceiling* is computed too: a wrong report that names only places where this image also has a look-alike
lesion is the true report of some other target choice on that image, so no score can tell it apart;
ceiling = 0.5 + 0.5 * (share of wrong reports that name a lesion-free place). Report text is never printed.
"""
from __future__ import annotations

import os

import numpy as np

from nnunetv2_tmca.evaluation.controls import EDITS, edit_report, shuffle_report_sources
from nnunetv2_tmca.inference.agreement import auroc

SIGNALS = ("support", "coverage", "certainty", "effect")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def wrong_reports(reports: dict, case_ids, target_words: str | None) -> dict:
    """kind -> {case id: wrong report} ('swapped' and each edit that changes the report)."""
    sources = shuffle_report_sources({c: reports[c] for c in case_ids}, seed=0)
    out = {"swapped": {c: reports[sources[c]] for c in case_ids}}
    for kind in EDITS:
        edited = {c: edit_report(reports[c], kind, target_words) for c in case_ids}
        out[kind] = {c: r for c, r in edited.items() if r is not None}
    return out, sources


def score_cases(predictor, images: str, labels: str, reports: dict, target_words: str | None = None,
                progress: bool = True) -> dict:
    """Per case: Dice and agreement record with the true report, and the record of every wrong report."""
    from tqdm import tqdm

    ending = predictor.dataset_json["file_ending"]
    case_ids = sorted(f[:-len(ending)] for f in os.listdir(labels) if f.endswith(ending))
    wrong, sources = wrong_reports(reports, case_ids, target_words)
    reader = predictor.plans_manager.image_reader_writer_class()
    predictor.agreement_enabled = True
    results = {}
    for case in tqdm(case_ids, desc="agreement", disable=not progress):
        image, props = reader.read_images([os.path.join(images, f"{case}_0000{ending}")])
        reference = reader.read_seg(os.path.join(labels, case + ending))[0][0] > 0
        seg = predictor.predict_single_npy_array(image, props, report=reports[case])
        row = {"dice": _dice(np.asarray(seg) > 0, reference), "true": predictor.last_agreement,
               "source": sources[case]}
        for kind, edited in wrong.items():
            if case in edited:
                predictor.predict_single_npy_array(image, props, report=edited[case])
                row[kind] = predictor.last_agreement
        results[case] = row
    return results


def _value(record: dict, signal: str | None):
    if signal is None:
        return record["score"]
    v = record["signals"].get(signal)
    return 0.0 if v is None else v


def auroc_table(results: dict, ceilings: dict | None = None, detectable: dict | None = None) -> dict:
    """kind -> {'n', 'auroc' (the score), 'ceiling', 'auroc_detectable' and 'n_detectable' (synthetic sets), and
    the AUROC of each signal alone}."""
    true = [r["true"] for r in results.values()]
    table = {}
    for kind in ("swapped",) + EDITS:
        wrong = [r[kind] for r in results.values() if kind in r]
        if not wrong:
            continue
        row = {"n": len(wrong), "auroc": auroc([_value(t, None) for t in true], [_value(w, None) for w in wrong])}
        for s in SIGNALS:  # effect: a wrong report changes the mask too, so lower effect is not "agreement"
            row[s] = auroc([_value(t, s) for t in true], [_value(w, s) for w in wrong])
        if ceilings and kind in ceilings:
            row["ceiling"] = ceilings[kind]
        if detectable and kind in detectable:
            row["auroc_detectable"], row["n_detectable"] = detectable[kind]
        table[kind] = row
    return table


def flagged_dice(results: dict) -> dict:
    """Mean Dice (true reports) of the cases with and without a flag, and of the lowest-scoring quarter."""
    rows = list(results.values())
    flagged = [r["dice"] for r in rows if r["true"]["flags"]]
    clean = [r["dice"] for r in rows if not r["true"]["flags"]]
    order = sorted(rows, key=lambda r: r["true"]["score"])
    q = max(1, len(rows) // 4)
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    return {"flagged_n": len(flagged), "flagged_dice": mean(flagged), "clean_n": len(clean),
            "clean_dice": mean(clean), "lowest_quarter_dice": mean([r["dice"] for r in order[:q]]),
            "rest_dice": mean([r["dice"] for r in order[q:]])}


# ------------------------------------------------------------------ synthetic sets: the ceiling
def synthetic_layouts(raw: str, case_ids, seed: int, num_lesions, size: int = 64, dim: int = 2) -> dict:
    """case id -> (lesion cells, target cells) of a generated test case, regenerated from the generator's seed
    (checked against the written label)."""
    from nnunetv2_tmca.synthetic.images import sample_case

    reader_labels = os.path.join(raw, "labelsTs")
    from nnunetv2_tmca.evaluation.evaluate import get_reader
    ending = ".png" if dim == 2 else ".nii.gz"
    reader = get_reader(ending)
    layouts = {}
    for case in case_ids:
        i = int(case.rsplit("_", 1)[-1])
        _, mask, _, meta = sample_case(np.random.default_rng([seed, 1, i]), size, dim, tuple(num_lesions))
        written = reader.read_seg(os.path.join(reader_labels, case + ending))[0][0] > 0
        if not np.array_equal(written.reshape(mask.shape), mask > 0):
            raise ValueError(f"case {case}: regenerated mask differs from {reader_labels}; wrong --seed/--num_lesions")
        layouts[case] = ({(lesion["side"], lesion["zone"]) for lesion in meta["lesions"]},
                         {(lesion["side"], lesion["zone"]) for lesion in meta["lesions"] if lesion["target"]})
    return layouts


def _mirror_cells(cells, kind):
    flip = {"left": "right", "right": "left"} if kind == "swap_sides" else {"upper": "lower", "lower": "upper"}
    return {(flip.get(s, s), flip.get(z, z)) for s, z in cells}


def detectable_cases(layouts: dict, results: dict) -> dict:
    """kind -> the cases whose wrong report names a place where this image has no lesion (the only wrong reports
    that an image-based score can catch on the synthetic sets)."""
    out = {}
    for kind in ("swapped", "swap_sides", "swap_zones"):
        out[kind] = set()
        for c, r in results.items():
            if kind in r:
                lesions, targets = layouts[c]
                named = layouts[r["source"]][1] if kind == "swapped" else _mirror_cells(targets, kind)
                if not named <= lesions:
                    out[kind].add(c)
    return out


def synthetic_ceilings(layouts: dict, results: dict) -> tuple:
    """(kind -> the best AUROC any score can reach when only the target places can be checked against the image,
    kind -> AUROC of the score on the detectable wrong reports alone, against all true reports)."""
    ceilings, detectable_auroc = {}, {}
    true = [r["true"]["score"] for r in results.values()]
    for kind, cases in detectable_cases(layouts, results).items():
        n = sum(kind in r for r in results.values())
        if n:
            ceilings[kind] = 0.5 + 0.5 * len(cases) / n
            detectable_auroc[kind] = (auroc(true, [results[c][kind]["score"] for c in cases]), len(cases))
    return ceilings, detectable_auroc


def markdown(table: dict, flagged: dict, title: str) -> str:
    lines = [f"**{title}**", "", "| wrong report | n | AUROC of the score | ceiling | AUROC where detectable (n) | " +
             " | ".join(f"{s} alone" for s in SIGNALS) + " |", "|---|---:|---:|---:|---:|" + "---:|" * len(SIGNALS)]
    for kind, row in table.items():
        ceiling = f"{row['ceiling']:.3f}" if "ceiling" in row else "-"
        detectable = f"{row['auroc_detectable']:.3f} ({row['n_detectable']})" if "auroc_detectable" in row else "-"
        lines.append(f"| {kind} | {row['n']} | **{row['auroc']:.3f}** | {ceiling} | {detectable} | " +
                     " | ".join(f"{row[s]:.3f}" for s in SIGNALS) + " |")
    lines += ["", f"True reports: {flagged['flagged_n']} cases flagged, Dice {100 * flagged['flagged_dice']:.1f}; "
                  f"{flagged['clean_n']} not flagged, Dice {100 * flagged['clean_dice']:.1f}; lowest-scoring quarter "
                  f"Dice {100 * flagged['lowest_quarter_dice']:.1f} vs the rest {100 * flagged['rest_dice']:.1f}."]
    return "\n".join(lines)
