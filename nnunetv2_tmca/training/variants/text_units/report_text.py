"""How a report reaches the text adapter.

_reportText: the report as one text cut at 64 tokens, pooled by the mean over its tokens. The default reads
every sentence whole and pools by sentence relevance (text/layout.py, model/sentence_pooling.py);
documentation/benchmarks.md, "Clinical-style reports", compares the two.
"""
from nnunetv2_tmca.training.nnUNetTrainerTMCA import nnUNetTrainerTMCA


class nnUNetTrainerTMCA_reportText(nnUNetTrainerTMCA):
    text_units = "report"
    text_max_length = 64
