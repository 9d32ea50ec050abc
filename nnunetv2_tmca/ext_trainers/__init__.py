"""The folder that nnU-Net's trainer lookup scans (listed in ``nnUNet_extTrainer``).

Classes are *defined* in :mod:`nnunetv2_tmca.training`; nnU-Net removes modules imported
from this folder from ``sys.modules`` after each lookup, so this folder holds only the
re-export in ``tmca_trainers.py``.
"""
