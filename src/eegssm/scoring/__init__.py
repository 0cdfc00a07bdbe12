"""Seizure-detection scoring.

| module | job |
|---|---|
| ``segments`` | events → merged seizure intervals per file (:class:`SeizureTrack`) |
| ``counting`` | per-file / total counts and derived measures (:class:`Counts`) |
| ``overlap``, ``taes``, ``epoch``, ``dpalign`` | NEDC v6.0.0-compatible methods, one each |
| ``szcore`` | SzCORE event / sample scoring via ``timescoring`` |
| ``report`` | many files × methods, NEDC-style summary, JSON |
| ``metrics`` | threshold-free metrics on per-sample probabilities, sensitivity-vs-FA sweep |
| ``operating_points`` | thresholds for target FA/24h chosen on dev, applied to eval |

NEDC methods: Shah et al. (2021), "Objective evaluation metrics for automatic classification of EEG
events" (Temple NEDC ``nedc_eeg_eval`` v6.0.0). SzCORE: Dan et al. (2024), "SzCORE: Seizure
Community Open-Source Research Evaluation framework" (*Epilepsia*). Both are checked against the
golden cases in ``tests/data/scoring_cases``.
"""

from eegssm.scoring.counting import Counts, MethodReport, score_files
from eegssm.scoring.report import ALL_METHODS, ScoreReport, format_summary, score_pairs
from eegssm.scoring.segments import SeizureTrack, check_pair, seizure_track

__all__ = [
    "ALL_METHODS",
    "Counts",
    "MethodReport",
    "ScoreReport",
    "SeizureTrack",
    "check_pair",
    "format_summary",
    "score_files",
    "score_pairs",
    "seizure_track",
]
