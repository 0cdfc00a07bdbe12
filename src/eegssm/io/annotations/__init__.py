"""Annotation readers and writers, one module per format.

| module | format |
|---|---|
| ``csv_bi`` | TUSZ bi-class ``.csv_bi`` (read, write) |
| ``tusz_csv`` | TUSZ multi-class per-channel ``.csv`` (read, write) |
| ``chbmit`` | CHB-MIT ``chbNN-summary.txt`` (read) |
| ``siena`` | Siena ``Seizures-list-PNxx.txt`` (read) |
| ``bids`` | BIDS / SzCORE ``events.tsv`` with HED-SCORE columns (read, write) |
| ``edf_plus`` | EDF+ annotations (read); Recording + events → EDF+ (write) |
| ``labels`` | which labels count as seizure |
"""

from eegssm.io.annotations.bids import BidsEvents, read_bids_events, write_bids_events
from eegssm.io.annotations.chbmit import ChbmitFile, ChbmitSummary, read_chbmit_summary
from eegssm.io.annotations.csv_bi import CsvBiFile, fill_background, read_csv_bi, write_csv_bi
from eegssm.io.annotations.edf_plus import read_edf_annotations, write_edf
from eegssm.io.annotations.labels import (
    BACKGROUND_LABEL,
    SEIZURE_LABELS,
    is_seizure,
    normalize_label,
)
from eegssm.io.annotations.siena import SienaFile, SienaSeizureList, read_siena_seizures
from eegssm.io.annotations.tusz_csv import CsvFile, read_tusz_csv, write_tusz_csv

__all__ = [
    "BACKGROUND_LABEL",
    "SEIZURE_LABELS",
    "BidsEvents",
    "ChbmitFile",
    "ChbmitSummary",
    "CsvBiFile",
    "CsvFile",
    "SienaFile",
    "SienaSeizureList",
    "fill_background",
    "is_seizure",
    "normalize_label",
    "read_bids_events",
    "read_chbmit_summary",
    "read_csv_bi",
    "read_edf_annotations",
    "read_siena_seizures",
    "read_tusz_csv",
    "write_bids_events",
    "write_csv_bi",
    "write_edf",
    "write_tusz_csv",
]
