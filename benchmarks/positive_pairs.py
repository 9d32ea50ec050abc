"""Which pairs of cases the soft contrastive targets should treat as positives: a check without training.

On synthetic cases (the harder set's generator: 5-6 look-alike lesions, 1-3 targets), a pair is "the same
target" when both reports name the same cells; every such pair has different report texts (paraphrases), so
exact text groups make them negatives. For each candidate similarity the script prints how well it tells
those pairs from the others: AUC, and at thresholds the share of same-target pairs caught (TPR) and of
other pairs made positive (FPR):
  target: cos of the coarse target descriptors (losses/tssd.py ``target_descriptor``) at the 16x16 and 32x32
          decoder stages of a 64x64 image (masks resized nearest, as nnU-Net's deep-supervision targets);
  text:   cos of the frozen encoder's pooled report embeddings (the default encoder).
Augmentation (rotation, scaling) is not applied, so the target figures are an upper bound for training.

    python benchmarks/positive_pairs.py --cases 300
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.nn import functional as F


def separation(sim: np.ndarray, same: np.ndarray, thresholds) -> str:
    off = ~np.eye(len(sim), dtype=bool)
    pos, neg = sim[same & off], sim[~same & off]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return f"AUC {auc:.3f}; " + "; ".join(f">= {t}: TPR {(pos >= t).mean():.2f}, FPR {(neg >= t).mean():.4f}"
                                         for t in thresholds)


def main():
    from nnunetv2_tmca.losses.tssd import target_descriptor
    from nnunetv2_tmca.synthetic.images import sample_case
    from nnunetv2_tmca.text.encoder import FrozenTextEncoder

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    cases = [sample_case(np.random.default_rng([args.seed, i]), args.size, 2, (5, 6), (1, 3), typo_rate=0.05)
             for i in range(args.cases)]
    cells = [tuple(sorted(map(tuple, c[3]["targets"]))) for c in cases]
    texts = [c[2] for c in cases]
    same = np.array([[a == b for b in cells] for a in cells])
    same_text = np.array([[a == b for b in texts] for a in texts])
    off = ~np.eye(len(cases), dtype=bool)
    print(f"{args.cases} cases: {(same & off).sum() // 2} same-target pairs of {off.sum() // 2}, "
          f"{(same & off & ~same_text).sum() // 2} of them with different report texts")
    masks = torch.tensor(np.stack([c[1] for c in cases]), dtype=torch.float32)[:, None]
    for res in (args.size // 4, args.size // 2):
        d = target_descriptor(F.interpolate(masks, size=(res, res), mode="nearest")).numpy()
        print(f"target, {res}x{res} stage: " + separation(d @ d.T, same, (0.9, 0.95, 0.98)))
    pooled = FrozenTextEncoder(None).encode(texts).pooled
    e = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    print("text (frozen pooled): " + separation(e @ e.T, same, (0.8, 0.9, 0.95)))


if __name__ == "__main__":
    main()
