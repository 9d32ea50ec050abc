"""The command line shared by the real-dataset benchmark scripts (``benchmarks/qata_cov19.py``,
``benchmarks/kvasir_seg.py``): their options, the trainers they compare, the few-reports curve after the run."""
import argparse
import os

from nnunetv2_tmca.experiments.budgets import write_budget_trainers
from nnunetv2_tmca.experiments.real_data import raw_dataset_folder, validation_subset
from nnunetv2_tmca.experiments.report_curve import run_report_curve
from nnunetv2_tmca.experiments.runner import nnunet_env

BUDGET_SUFFIX = {"full": "", "cpu": "_cpu", "synth": "_synth", "demo": "_demo", "debug": "_debug"}


def benchmark_parser(doc, default_id, default_max_cases, default_size):
    """The options of a real-dataset benchmark script (``--source``, ``--out``, budget, trainers, ...)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="the downloaded dataset folder")
    p.add_argument("--out", required=True, help="working folder (nnUNet_raw/preprocessed/results live inside)")
    p.add_argument("-d", "--dataset_id", type=int, default=default_id)
    p.add_argument("--size", type=int, default=default_size, help="resize to NxN (0: original size)")
    p.add_argument("--max_cases", type=int, default=default_max_cases,
                   help="at most N cases per split, seeded subset (0: all)")
    p.add_argument("--num_val", type=int, default=None, help="evaluate a seeded subset of N validation cases")
    p.add_argument("--budget", default="cpu", choices=sorted(BUDGET_SUFFIX),
                   help="training budget: cpu = 30 epochs x 20 iterations, batch 12; full = nnU-Net's 1000 epochs")
    p.add_argument("--epochs", type=int, default=None, help="custom budget (instead of --budget): epochs")
    p.add_argument("--iterations", type=int, default=None, help="custom budget: iterations per epoch")
    p.add_argument("--batch_size", type=int, default=None, help="custom budget: batch size")
    p.add_argument("--ablations", action="store_true", help="also _noAlign, _noLGTE, _regionAsGlobal, _oneAlignStage")
    p.add_argument("--mirroring", action="store_true",
                   help="also _noMirror and _naiveMirror (the default mirrors text-consistently)")
    p.add_argument("--no_baseline", action="store_true", help="skip the image-only nnUNetTrainer")
    p.add_argument("--trainers", nargs="+", default=None,
                   help="exactly these TMCA trainers (overrides --budget/--mirroring/--ablations for TMCA)")
    p.add_argument("--report_fraction", type=float, nargs="+", default=None, metavar="F",
                   help="few-reports curve for the first TMCA trainer: shares of fold 0's training cases that keep "
                        "their report (e.g. 1 0.5 0.25 0.1 0); validation reports are kept")
    p.add_argument("--report_seed", type=int, default=0, help="seed of the cases that keep their report")
    p.add_argument("-device", default="cpu")
    return p


def few_reports_curve(args, trainers, baseline):
    """After the benchmark: the few-reports curve of ``trainers[0]`` on the same validation cases."""
    if not args.report_fraction:
        return
    env = nnunet_env(os.path.abspath(args.out))
    raw = raw_dataset_folder(env, args.dataset_id)
    out = os.path.join(os.path.abspath(args.out), f"benchmark_{args.dataset_id}")
    images, labels = validation_subset(env, raw, out, args.num_val)
    print(run_report_curve(env, raw, args.dataset_id, trainers[0], baseline, args.report_fraction, images, labels,
                           os.path.join(out, "report_curve"), args.device, os.path.join(out, "log.txt"),
                           seed=args.report_seed, use_splits=True))


def trainers_of(args):
    """(TMCA trainers, image-only baseline, folder of generated budget trainers or None)."""
    custom = any(v is not None for v in (args.epochs, args.iterations, args.batch_size))
    suffix = "" if custom else BUDGET_SUFFIX[args.budget]
    names = ["nnUNetTrainerTMCA"]
    if args.mirroring:
        names += ["nnUNetTrainerTMCA_noMirror", "nnUNetTrainerTMCA_naiveMirror"]
    if args.ablations:
        names += [f"nnUNetTrainerTMCA_{a}" for a in ("noAlign", "noLGTE", "regionAsGlobal", "oneAlignStage")]
    baseline = None if args.no_baseline else f"nnUNetTrainer{suffix}"
    trainers = args.trainers or [n + suffix for n in names]
    if not custom:
        return trainers, baseline, None
    folder = os.path.join(os.path.abspath(args.out), f"benchmark_{args.dataset_id}", "trainers")
    made = write_budget_trainers(folder, trainers + ([baseline] if baseline else []), args.epochs or 30,
                                 args.iterations or 20, args.batch_size or 12)
    return made[:len(trainers)], (made[-1] if baseline else None), folder
