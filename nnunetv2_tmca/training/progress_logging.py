"""nnU-Net's local logger plus the TMCA alignment loss (one value per epoch, drawn in progress.png)."""
from __future__ import annotations

import os

import numpy as np
from nnunetv2.training.logging.nnunet_logger import LocalLogger

ALIGN_KEYS = ("align_losses", "align_region_losses", "align_pixel_losses")
# logger key -> key of the train step's output
STEP_OUTPUTS = dict(zip(ALIGN_KEYS, ("align_loss", "align_region", "align_pixel")))


def log_alignment_losses(logger, train_outputs: list, epoch: int, is_ddp: bool) -> None:
    """The epoch's mean of each alignment term over every step (of every process under DDP)."""
    for key, out_key in STEP_OUTPUTS.items():
        values = [o[out_key] for o in train_outputs]
        if is_ddp:
            import torch.distributed as dist
            gathered = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, values)
            values = [v for g in gathered for v in g]
        logger.log(key, float(np.mean(values)), epoch)


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
        """progress.png with nnU-Net's three panels (losses and pseudo Dice, epoch duration, learning rate)
        and a fourth for the alignment loss and its terms, drawn and saved once per epoch."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns

        log = self.my_fantastic_logging
        epochs = min(len(v) for v in log.values())
        x = range(epochs)
        sns.set(font_scale=2.5)
        fig, (losses, duration, lr, align) = plt.subplots(4, 1, figsize=(30, 72))
        dice = losses.twinx()
        losses.plot(x, log["train_losses"][:epochs], color="b", label="loss_tr", linewidth=4)
        losses.plot(x, log["val_losses"][:epochs], color="r", label="loss_val", linewidth=4)
        dice.plot(x, log["mean_fg_dice"][:epochs], color="g", ls="dotted", label="pseudo dice", linewidth=3)
        dice.plot(x, log["ema_fg_dice"][:epochs], color="g", label="pseudo dice (mov. avg.)", linewidth=4)
        losses.set(xlabel="epoch", ylabel="loss")
        dice.set_ylabel("pseudo dice")
        dice.legend(loc=(0.2, 1))
        seconds = [end - start for start, end in zip(log["epoch_start_timestamps"][:epochs],
                                                     log["epoch_end_timestamps"][:epochs])]
        duration.plot(x, seconds, color="b", label="epoch duration", linewidth=4)
        duration.set(ylim=(0, duration.get_ylim()[1]), xlabel="epoch", ylabel="time [s]")
        lr.plot(x, log["lrs"][:epochs], color="b", label="learning rate", linewidth=4)
        lr.set(xlabel="epoch", ylabel="learning rate")
        for key, color, label in zip(ALIGN_KEYS, ("m", "c", "y"), ("alignment loss (total)", "TSSD region term",
                                                                        "pixel term")):
            align.plot(x, log[key][:epochs], color=color, label=label, linewidth=4)
        align.set(xlabel="epoch", ylabel="alignment loss")
        for ax in (losses, duration, lr, align):
            ax.legend(loc=(0, 1))
        plt.tight_layout()
        fig.savefig(os.path.join(output_folder, "progress.png"))
        plt.close(fig)
