"""nnU-Net's local logger plus the TMCA alignment loss (one value per epoch, drawn in progress.png)."""
from __future__ import annotations

import os

from nnunetv2.training.logging.nnunet_logger import LocalLogger

ALIGN_KEYS = ("align_losses", "align_region_losses", "align_pixel_losses")


class TMCALocalLogger(LocalLogger):
    def __init__(self, verbose: bool = False):
        super().__init__(verbose)
        for k in ALIGN_KEYS:
            self.my_fantastic_logging[k] = []

    def load_checkpoint(self, checkpoint: dict):
        for k in ALIGN_KEYS:  # checkpoints of older runs: keep the epoch counts consistent
            checkpoint.setdefault(k, [float("nan")] * len(checkpoint.get("train_losses", [])))
        super().load_checkpoint(checkpoint)

    def plot_progress_png(self, output_folder):
        super().plot_progress_png(output_folder)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from PIL import Image

        epochs = min(len(v) for v in self.my_fantastic_logging.values())
        fig, ax = plt.subplots(1, 1, figsize=(30, 14))
        for key, color, label in zip(ALIGN_KEYS, ("m", "c", "y"), ("alignment loss (total)", "TSSD region term",
                                                                        "pixel term")):
            ax.plot(range(epochs), self.my_fantastic_logging[key][:epochs], color=color, label=label, linewidth=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel("alignment loss")
        ax.legend(loc=(0, 1))
        plt.tight_layout()
        extra = os.path.join(output_folder, ".progress_align.png")
        fig.savefig(extra)
        plt.close(fig)
        main = os.path.join(output_folder, "progress.png")
        top, bottom = Image.open(main), Image.open(extra)
        combined = Image.new("RGB", (top.width, top.height + bottom.height * top.width // bottom.width), "white")
        combined.paste(top.convert("RGB"), (0, 0))
        combined.paste(bottom.convert("RGB").resize((top.width, bottom.height * top.width // bottom.width)),
                       (0, top.height))
        combined.save(main)
        os.remove(extra)
