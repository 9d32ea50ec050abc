"""The synthetic report-guided benchmark: TMCA and its ablations vs the image-only nnU-Net at one budget.

Each image has 4-5 look-alike lesions and its report names the target ones by side, zone and count,
so an image-only network cannot know which to segment. Prints the markdown table of per-image and
global Dice/IoU on held-out test images with true, shuffled and no reports.

    python benchmarks/synthetic_report_guided.py --out /tmp/synth_bench            # 1,000 iterations each
    python benchmarks/synthetic_report_guided.py --out /tmp/synth_bench --ablations
    python benchmarks/synthetic_report_guided.py --out /tmp/synth_bench --mirroring   # _noMirror, _naiveMirror
"""
import argparse

from nnunetv2_tmca.demo import run_comparison


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--num_train", type=int, default=200)
    p.add_argument("--num_test", type=int, default=50)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--ablations", action="store_true", help="also train the ablation trainers")
    p.add_argument("--mirroring", action="store_true", help="also train the mirroring variants")
    p.add_argument("--trainers", nargs="+", default=["nnUNetTrainerTMCA_synth"])
    p.add_argument("--baseline", default="nnUNetTrainer_synth")
    p.add_argument("-device", default="cpu")
    args = p.parse_args()
    trainers = list(args.trainers)
    if args.ablations:
        trainers += [f"nnUNetTrainerTMCA_{a}_synth" for a in ("noAlign", "globalAlign", "singleLevel", "noLGTE")]
    if args.mirroring:
        trainers += ["nnUNetTrainerTMCA_noMirror_synth", "nnUNetTrainerTMCA_naiveMirror_synth"]
    run_comparison(args.out, trainers, args.baseline, args.num_train, args.num_test, args.size, dataset_id=991,
                   device=args.device, seed=1, dim=args.dim)


if __name__ == "__main__":
    main()
