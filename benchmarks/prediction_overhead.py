"""Prediction time of nnUNetv2_predict_tmca over the stock nnUNetv2_predict on the same TMCA model and images.

The stock command predicts the same network with the learned null text; nnUNetv2_predict_tmca
additionally loads the text encoder, encodes each case's report and binds it before the sliding
window; with ``--agreement`` it also runs the image-only pass of the agreement score per case and writes
agreement.json. All run sequentially (-npp 0 -nps 0), alternating, ``--rounds`` times; medians.

    python benchmarks/prediction_overhead.py -d 991 -c 2d -tr nnUNetTrainerTMCA_synth \
        -i $nnUNet_raw/Dataset991_TMCASynthetic/imagesTs
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", required=True)
    p.add_argument("-d", required=True)
    p.add_argument("-c", default="2d")
    p.add_argument("-tr", default="nnUNetTrainerTMCA")
    p.add_argument("-f", default="0")
    p.add_argument("-device", default="cpu")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    common = ["-i", args.i, "-d", args.d, "-c", args.c, "-tr", args.tr, "-f", args.f, "-device", args.device,
              "-npp", "0", "-nps", "0", "--disable_progress_bar"]
    n_cases = len([f for f in os.listdir(args.i) if f.endswith("_0000" + os.path.splitext(f)[1]) or "_0000." in f])
    commands = {"nnUNetv2_predict": ["nnUNetv2_predict"], "nnUNetv2_predict_tmca": ["nnUNetv2_predict_tmca"],
                "agreement": ["nnUNetv2_predict_tmca", "--agreement"]}
    times = {k: [] for k in commands}
    for _ in range(args.rounds):
        for name, cmd in commands.items():
            with tempfile.TemporaryDirectory() as out:
                t = time.perf_counter()
                subprocess.run([*cmd, *common, "-o", out], check=True, capture_output=True)
                times[name].append(time.perf_counter() - t)
    stock, tmca = np.median(times["nnUNetv2_predict"]), np.median(times["nnUNetv2_predict_tmca"])
    agreement = np.median(times["agreement"])
    print(f"\n{n_cases} cases, model {args.tr}, configuration {args.c}, device {args.device}, {args.rounds} rounds\n")
    print("| command | wall time (s, median) | s / case |")
    print("|---|---|---|")
    print(f"| nnUNetv2_predict (null text) | {stock:.1f} | {stock / n_cases:.3f} |")
    print(f"| nnUNetv2_predict_tmca (reports) | {tmca:.1f} | {tmca / n_cases:.3f} |")
    print(f"| **ratio** | **{tmca / stock:.3f}** | text cost {(tmca - stock) / n_cases * 1000:.0f} ms / case "
          f"(encoder load included) |")
    print(f"| nnUNetv2_predict_tmca --agreement | {agreement:.1f} | {agreement / n_cases:.3f} |")
    print(f"| **ratio --agreement / without** | **{agreement / tmca:.3f}** | agreement cost "
          f"{(agreement - tmca) / n_cases * 1000:.0f} ms / case |")


if __name__ == "__main__":
    main()
