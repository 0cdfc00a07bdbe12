"""Annotation readers and writers, one module per format.

| module | format |
|---|---|
| ``csv_bi`` | TUSZ bi-class ``.csv_bi`` (read, write) |
| ``labels`` | which labels count as seizure |
"""

from eegssm.io.annotations.csv_bi import CsvBiFile, fill_background, read_csv_bi, write_csv_bi
from eegssm.io.annotations.labels import (
    BACKGROUND_LABEL,
    SEIZURE_LABELS,
    is_seizure,
    normalize_label,
)

__all__ = [
    "BACKGROUND_LABEL",
    "SEIZURE_LABELS",
    "CsvBiFile",
    "fill_background",
    "is_seizure",
    "normalize_label",
    "read_csv_bi",
    "write_csv_bi",
]
