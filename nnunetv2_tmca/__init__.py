"""nnunetv2_tmca: language-guided segmentation (TMCA, arXiv 2412.13533) as an nnU-Net v2 plugin.

Importing this package is cheap on purpose (no torch): Python imports
``nnunetv2_tmca._autoregister`` at every start-up through a .pth file.
"""
__version__ = "0.6.0"
