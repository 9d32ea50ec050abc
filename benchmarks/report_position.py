"""Dice by where the target sentence stands in the report, and how often it is the most relevant sentence.

For report-guided sets that record each test case's target sentence (``tmca_report_meta.json`` next to
dataset.json, written by ``nnUNetv2_tmca_make_synthetic --report_style real``): per run (the ``--out`` folder of
``synthetic_report_guided.py``), the per-image Dice of the true-report predictions of ``--trainer`` averaged within
each third of the report (first / middle / last, by the target sentence's index among the report's sentences), then
mean +- sd over the runs; and, with ``--relevance``, the share of test cases whose sentence of highest relevance
r_k (sentence_pooling.py, what ``nnUNetv2_tmca_visualize`` shows) is the target sentence; with ``--move``, the
same test cases predicted three times, their target sentence moved to the first, the middle and the last place
of the report (what position alone does, without the case mix of the thirds). Prints counts and numbers only,
never report text.

    python benchmarks/report_position.py /tmp/rp1 /tmp/rp2 /tmp/rp3 --raw /tmp/rp1/nnUNet_raw/Dataset994_TMCASynthetic \
        --trainer nnUNetTrainerTMCA_synth -d 994 --relevance --move
"""
import argparse
import json
import os

import numpy as np

THIRDS = ("first", "middle", "last")


def dice_by_third(run: str, trainer: str, meta: dict) -> dict:
    """{third: mean per-image Dice of the test cases whose target sentence is in that third} for one run."""
    summary = os.path.join(run, "predictions", trainer, "true", "summary_tmca.json")
    if not os.path.isfile(summary):
        raise FileNotFoundError(f"{summary}: no evaluated true-report predictions of {trainer} in {run}")
    with open(summary) as f:
        per_case = {c["case"]: c["Dice"] for c in json.load(f)["per_case"]}
    out = {}
    for third in THIRDS:
        values = [d for case, d in per_case.items() if meta.get(case, {}).get("third") == third and d is not None]
        out[third] = (float(np.mean(values)) if values else float("nan"), len(values))
    return out


def load_predictor(run: str, trainer: str, dataset_id: int, device: str):
    """The run's fold-0 model of ``trainer`` (2d, else 3d_fullres) in an nnUNetPredictorTMCA."""
    import torch
    from nnunetv2.utilities.file_path_utilities import get_output_folder

    from nnunetv2_tmca.experiments.runner import nnunet_env
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA

    os.environ.update(nnunet_env(os.path.abspath(run)))
    import nnunetv2.paths as paths
    paths.nnUNet_results = os.environ["nnUNet_results"]
    folder = get_output_folder(dataset_id, trainer, "nnUNetPlans", "2d")
    if not os.path.isdir(folder):
        folder = get_output_folder(dataset_id, trainer, "nnUNetPlans", "3d_fullres")
    predictor = nnUNetPredictorTMCA(device=torch.device(device), allow_tqdm=False, reports=None)
    predictor.initialize_from_trained_model_folder(folder, [0])
    return predictor


def test_cases(meta: dict, reports: dict) -> list:
    return [c for c, r in meta.items()
            if r.get("split") == "test" and c in reports and r.get("target_index") is not None]


def relevance_hits(predictor, reports: dict, meta: dict) -> tuple:
    """(test cases whose most relevant sentence is the target sentence, test cases) for one model."""
    from nnunetv2_tmca.text.sentences import split_sentences

    hits = total = 0
    for case in test_cases(meta, reports):
        record = meta[case]
        units = predictor.report_sentences(reports[case])
        relevance = predictor.sentence_relevance(reports[case])
        target = split_sentences(reports[case])[record["target_index"]]
        hits += int(units[int(np.argmax(relevance))] == target)
        total += 1
    return hits, total


def moved_report(report: str, target_index: int, position: str) -> str:
    """``report`` with its target sentence moved to the first / middle / last place (the other sentences in order)."""
    from nnunetv2_tmca.text.sentences import split_sentences

    sentences = split_sentences(report)
    target = sentences.pop(target_index)
    sentences.insert({"first": 0, "middle": len(sentences) // 2, "last": len(sentences)}[position], target)
    return " ".join(sentences)


def moved_dice(predictor, raw: str, reports: dict, meta: dict) -> dict:
    """{third: (mean per-image Dice, cases)}: every test case predicted with its target sentence moved to the first,
    the middle and the last place of its report; the same cases in every row, only the position changes."""
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    cases = test_cases(meta, reports)
    io = NaturalImage2DIO() if os.path.isfile(os.path.join(raw, "imagesTs", f"{cases[0]}_0000.png")) else SimpleITKIO()
    ending = ".png" if isinstance(io, NaturalImage2DIO) else ".nii.gz"
    dice = {position: [] for position in THIRDS}
    for case in cases:
        image, props = io.read_images([os.path.join(raw, "imagesTs", f"{case}_0000{ending}")])
        reference = io.read_seg(os.path.join(raw, "labelsTs", f"{case}{ending}"))[0][0] > 0
        texts = [moved_report(reports[case], meta[case]["target_index"], position) for position in THIRDS]
        for position, seg in zip(THIRDS, predictor.predict_reports(image, props, texts)):
            pred = (np.asarray(seg) > 0).reshape(reference.shape)
            both = pred.sum() + reference.sum()
            dice[position].append(1.0 if both == 0 else 2.0 * np.logical_and(pred, reference).sum() / both)
    return {position: (float(np.mean(v)), len(v)) for position, v in dice.items()}


def print_by_position(title: str, column: str, unit: str, per_run: list) -> None:
    """One row per position: cases, mean +- sd over the runs of {position: (mean Dice, cases)} and the run values."""
    print(f"\n{title}\n\n| {column} | test cases | per-image Dice (%), mean +- sd | runs |\n|---|---:|---:|---|")
    for position in THIRDS:
        values = [100 * run[position][0] for run in per_run]
        sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
        print(f"| {position} {unit} | {per_run[0][position][1]} | {np.mean(values):.2f} +- {sd:.2f} | "
              f"{', '.join(f'{v:.2f}' for v in values)} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="the --out folder of each run")
    p.add_argument("--raw", required=True, help="the raw dataset folder (tmca_report_meta.json, reports.json)")
    p.add_argument("--trainer", default="nnUNetTrainerTMCA_synth")
    p.add_argument("-d", dest="dataset_id", type=int, default=994)
    p.add_argument("--relevance", action="store_true", help="also the most-relevant-sentence check (loads models)")
    p.add_argument("--move", action="store_true", help="also predict every test case with its target sentence "
                   "moved to the first / middle / last place (the same cases in each row; loads models)")
    p.add_argument("-device", default="cpu")
    args = p.parse_args()
    with open(os.path.join(args.raw, "tmca_report_meta.json")) as f:
        meta = json.load(f)["cases"]
    with open(os.path.join(args.raw, "reports.json")) as f:
        reports = json.load(f)
    per_run = [dice_by_third(run, args.trainer, meta) for run in args.runs]
    print_by_position(f"Per-image Dice (%) of {args.trainer} with the true reports by the target sentence's third, "
                      f"{len(args.runs)} runs", "target sentence in the", "third", per_run)
    if not (args.relevance or args.move):
        return
    predictors = [load_predictor(run, args.trainer, args.dataset_id, args.device) for run in args.runs]
    if args.relevance:
        print("\n| run | most relevant sentence = target sentence |\n|---|---:|")
        for run, predictor in zip(args.runs, predictors):
            hits, total = relevance_hits(predictor, reports, meta)
            print(f"| {os.path.basename(os.path.normpath(run))} | {hits} of {total} |")
    if args.move:
        moved = [moved_dice(predictor, args.raw, reports, meta) for predictor in predictors]
        print_by_position(f"Per-image Dice (%) of {args.trainer}, every test case with its target sentence moved to "
                          f"one place of its report, {len(args.runs)} runs", "target sentence moved to the", "place",
                          moved)


if __name__ == "__main__":
    main()
