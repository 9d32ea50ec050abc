"""The synthetic report-guided benchmark: a dataset in which the REPORT decides the segmentation target.

Every image holds several look-alike lesions, one per grid cell (side x zone); the mask holds the
random subset the report names. An image-only network cannot tell target from distractor, a network
that reads the report can.

* :mod:`.reports`: the grid, the one-sentence ("short") reports and the phrase and typo helpers;
* :mod:`.clinical`: multi-section radiology-style reports (``report_style="clinical"``);
* :mod:`.images`: one case's image, mask and short report (:func:`~.images.sample_case`);
* :mod:`.dataset`: the nnU-Net raw dataset (:func:`~.dataset.make_synthetic_dataset`), written
  through the raw-dataset writer of :mod:`nnunetv2_tmca.dataset_conversion`;
* :mod:`.cli`: ``nnUNetv2_tmca_make_synthetic``.
"""
