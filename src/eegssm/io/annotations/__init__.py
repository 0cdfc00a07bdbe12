"""Annotation readers and writers, one module per format.

| module | format |
|---|---|
| ``csv_bi`` | TUSZ bi-class ``.csv_bi`` (read, write) |
| ``tusz_csv`` | TUSZ multi-class per-channel ``.csv`` (read, write) |
| ``labels`` | which labels count as seizure |
"""

from eegssm.io.annotations.csv_bi import CsvBiFile, fill_background, read_csv_bi, write_csv_bi
from eegssm.io.annotations.labels import (
    BACKGROUND_LABEL,
    SEIZURE_LABELS,
    is_seizure,
    normalize_label,
)
from eegssm.io.annotations.tusz_csv import CsvFile, read_tusz_csv, write_tusz_csv

__all__ = [
    "BACKGROUND_LABEL",
    "SEIZURE_LABELS",
    "CsvBiFile",
    "CsvFile",
    "fill_background",
    "is_seizure",
    "normalize_label",
    "read_csv_bi",
    "read_tusz_csv",
    "write_csv_bi",
    "write_tusz_csv",
]
