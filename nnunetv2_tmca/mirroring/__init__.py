"""Text-consistent mirroring: when nnU-Net flips an image, the report's direction words flip too.

- ``words``: the report transform (left <-> right, upper <-> lower, with typos and merged words);
- ``axes``: ``ReportAxes``, which patch axes the words follow (dataset.json + plans), the mirroring
  modes, and which word groups a flip trades;
- ``keys``: the lookup keys of the mirrored reports in the text cache;
- ``recording``: nnU-Net's data loader, recording which axes each training sample was flipped along;
- ``test_time``: test-time mirroring that pairs each flipped tile with the flipped report.
Training and inference both import from here; neither imports the other.
"""
