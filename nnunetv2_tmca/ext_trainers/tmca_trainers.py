from nnunetv2_tmca.training import *  # noqa: F401,F403  (re-export for nnU-Net's trainer lookup)
