"""``nnUNetv2_tmca_demo``: the whole product on a synthetic report-guided dataset, on the CPU, in minutes.

In a folder of its own (a temporary one unless ``--out``), with the nnU-Net path variables set
for it: make the dataset (several look-alike lesions per image; the report says which are the
target), run the stock ``nnUNetv2_plan_and_preprocess`` and ``nnUNetv2_train -tr
nnUNetTrainerTMCA_demo`` plus the image-only ``nnUNetTrainer_demo`` at the same budget, predict the
held-out cases with true, shuffled and no reports, evaluate, print one table and write overlays
(the steps: :func:`nnunetv2_tmca.experiments.synthetic_data.run_comparison`).
"""
from __future__ import annotations

import argparse
import os
import tempfile

from nnunetv2_tmca.experiments.synthetic_data import DATASET_NAME, run_comparison

DEMO_ID = 999


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="keep everything in this folder (default: a temporary one)")
    p.add_argument("--num_train", type=int, default=100)
    p.add_argument("--num_test", type=int, default=24)
    p.add_argument("--size", type=int, default=32, help="image size (pixels)")
    p.add_argument("--trainer", default="nnUNetTrainerTMCA_demo")
    p.add_argument("--baseline", default="nnUNetTrainer_demo")
    p.add_argument("-device", default="cpu")
    p.add_argument("--one_at_a_time", action="store_true",
                   help="on the CPU, run the trainings and predictions one after the other instead of side by side "
                        "on pinned cores")
    args = p.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="nnunetv2_tmca_demo_")
    run_comparison(out, [args.trainer], args.baseline, args.num_train, args.num_test, args.size, DEMO_ID,
                   device=args.device, side_by_side=not args.one_at_a_time)
    pictures = os.path.join(out, "overlays")
    if os.path.isdir(pictures):
        print("Overlays: " + ", ".join(sorted(os.path.join(pictures, f) for f in os.listdir(pictures))))
    print("\nLook at the test cases, edit a report and watch the mask (pip install \"nnunetv2_tmca[viewer]\"):\n  "
          + viewer_command(out, args.trainer, args.device))


def viewer_command(out: str, trainer: str, device: str = "cpu", dataset_id: int = DEMO_ID) -> str:
    """The one command that opens the demo's model and test cases in nnUNetv2_tmca_viewer."""
    name = f"Dataset{dataset_id:03d}_{DATASET_NAME}"
    raw = os.path.join(out, "nnUNet_raw", name)
    model = os.path.join(out, "nnUNet_results", name, f"{trainer}__nnUNetPlans__2d")
    return (f"nnUNetv2_tmca_viewer -m {model} -f 0 -i {os.path.join(raw, 'imagesTs')} "
            f"--labels {os.path.join(raw, 'labelsTs')} -device {device}")


if __name__ == "__main__":
    main()
