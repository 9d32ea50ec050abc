"""``nnUNetv2_tmca_viewer``: a local web page to look at a case, edit its report and watch the mask.

``session`` holds the model and the cases (no web code), ``render`` turns slices into PNG layers,
``server`` is the Starlette app (token, loopback, bounded requests, no report text in its log), ``cli``
the command. ``static/`` is plain HTML + JS, no build step. Optional: ``pip install "nnunetv2_tmca[viewer]"``.
"""
