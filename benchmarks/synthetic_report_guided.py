"""The synthetic report-guided benchmark: TMCA and its ablations vs the image-only nnU-Net at one budget.

Each image has 5-6 look-alike lesions (one per cell of a 2 x 3 grid) and its report names the 1-3
target ones by side, zone and count, so an image-only network cannot know which to segment: segmenting
every lesion is the best it can do (the image-only row). Prints the markdown table of per-image and global
Dice/IoU on held-out test images with true, shuffled and no reports.

    python benchmarks/synthetic_report_guided.py --out /tmp/synth6                 # 1,000 iterations each
    python benchmarks/synthetic_report_guided.py --out /tmp/synth6 --ablations
    python benchmarks/synthetic_report_guided.py --out /tmp/synth6 --mirroring      # _noMirror, _naiveMirror
    python benchmarks/synthetic_report_guided.py --out /tmp/synth_bench --num_lesions 4 5 -d 991  # first version
    # clinical-style reports: today's sentence-level model vs the whole-report (64-token) one
    python benchmarks/synthetic_report_guided.py --out /tmp/clinical -d 993 --report_style clinical \
        --trainers nnUNetTrainerTMCA_synth nnUNetTrainerTMCA_reportText_synth --side_by_side
    # real chest-CT prose (one real nodule sentence names the targets' lobes, at the patient's side)
    python benchmarks/synthetic_report_guided.py --out /tmp/realprose -d 994 --report_style real \
        --report_corpus /work/shared/datasets/CT-RATE-reports/reports.json

--side_by_side trains (and predicts) two models at a time, each on its own CPU core.
--report_fraction 1 0.5 0.25 0.1 0 then trains the first trainer again with the reports of only that share of
the training cases (seeded, nested subsets; ``reports_optional``) and writes the curve of per-image Dice with
true reports and with none beside the image-only line (OUT/report_curve/curve.md and curve.png).
"""
import argparse
import os

from nnunetv2_tmca.experiments.synthetic_data import run_comparison


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--num_train", type=int, default=200)
    p.add_argument("--num_test", type=int, default=50)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--num_lesions", type=int, nargs=2, default=(5, 6), metavar=("MIN", "MAX"),
                   help="look-alike lesions per image (at most 6 cells)")
    p.add_argument("-d", dest="dataset_id", type=int, default=992)
    p.add_argument("--side_by_side", action="store_true",
                   help="on the CPU, train and predict two models at a time, one core each")
    p.add_argument("--ablations", action="store_true", help="also train the ablation trainers")
    p.add_argument("--mirroring", action="store_true", help="also train the mirroring variants")
    p.add_argument("--trainers", nargs="+", default=["nnUNetTrainerTMCA_synth"])
    p.add_argument("--baseline", default="nnUNetTrainer_synth")
    p.add_argument("--report_fraction", type=float, nargs="+", default=None, metavar="F",
                   help="few-reports curve: shares of training cases that keep their report (e.g. 1 0.5 0.25 0.1 0)")
    p.add_argument("--report_seed", type=int, default=0, help="seed of the cases that keep their report")
    p.add_argument("--report_style", choices=("short", "clinical", "real"), default="short",
                   help="clinical: multi-section reports of 80-170 words, the targets among other findings, "
                        "negations and boilerplate (nnUNetv2_tmca_make_synthetic --report_style clinical); "
                        "real: real reports of --report_corpus, one real lung-nodule sentence naming the targets")
    p.add_argument("--report_corpus", default=None, metavar="FILE",
                   help="--report_style real: JSON file of real reports (key -> text or key -> sections)")
    p.add_argument("-device", default="cpu")
    args = p.parse_args()
    if (args.report_style == "real") != (args.report_corpus is not None):
        p.error("--report_style real needs --report_corpus FILE (and --report_corpus needs --report_style real)")
    trainers = list(args.trainers)
    if args.ablations:
        trainers += [f"nnUNetTrainerTMCA_{a}_synth" for a in ("noAlign", "noLGTE", "regionAsGlobal", "oneAlignStage")]
    if args.mirroring:
        trainers += ["nnUNetTrainerTMCA_noMirror_synth", "nnUNetTrainerTMCA_naiveMirror_synth"]
    run_comparison(args.out, trainers, args.baseline, args.num_train, args.num_test, args.size,
                   dataset_id=args.dataset_id, device=args.device, seed=1, dim=args.dim,
                   side_by_side=args.side_by_side, num_lesions=tuple(args.num_lesions),
                   report_style=args.report_style, report_corpus=args.report_corpus)
    if args.report_fraction:
        from nnunetv2_tmca.experiments.report_curve import run_report_curve
        from nnunetv2_tmca.experiments.runner import nnunet_env
        out = os.path.abspath(args.out)
        env = nnunet_env(out)
        raw = os.path.join(env["nnUNet_raw"], f"Dataset{args.dataset_id:03d}_TMCASynthetic")
        print(run_report_curve(env, raw, args.dataset_id, trainers[0], args.baseline, args.report_fraction,
                               os.path.join(raw, "imagesTs"), os.path.join(raw, "labelsTs"),
                               os.path.join(out, "report_curve"), args.device, os.path.join(out, "log.txt"),
                               seed=args.report_seed))


if __name__ == "__main__":
    main()
