"""DataFrames to files and datasets, de-identified by DICOM PS3.15 Annex E unless asked.

Owns the one atomic file writer (:mod:`~hi_widgets.export.atomic`, a leaf the sandbox and
the bulk checkpoints use too), the file formats, partitioned Parquet datasets and the
de-identification table. May import :mod:`hi_widgets.api`.
"""
