"""Trainer variants, filed by topic as in nnU-Net: ablations of TMCA and training budgets."""
