"""Data settings: which recordings, how they are labelled, split, cached and sampled."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from eegssm.config.base import NonNegFloat, NonNegInt, PosFloat, PosInt, StrictModel

#: Where the development copy of PhysioNet eegmat lives (beside the repository; override in
#: the YAML or with ``--data-dir``).
EEGMAT_DIR = "../shared/data/eegmat"

#: Shares of subjects per split when a corpus has no split folders
#: (:func:`eegssm.data.split_by_subject`).
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "dev": 0.15, "eval": 0.15}

Split = Literal["train", "dev", "eval"]


class EEGM2DataConfig(StrictModel):
    """EEGM2 recordings: which files, how they are labelled and split, how they are cut.

    Attributes:
        layout: ``"files"``: every file under ``data_dir`` matching ``pattern``, labelled by
            ``labels`` and split into subjects by ``subject_regex``. ``"tuab"``: the TUH Abnormal
            EEG corpus (``data_dir`` holds ``edf/{train,eval}/{normal,abnormal}/…/*.edf``, any
            depth; :func:`eegssm.data.discovery.find_tuab`): label and subject from the path
            (``labels`` and ``subject_regex`` unused; class names default to ``normal``,
            ``abnormal``), and only TUAB's ``train`` folder is cached and read: its ``eval``
            split stays unseen for ``eegssm classify``.
        data_dir: folder searched (recursively) for ``pattern``.
        pattern: glob of recordings (EDF/BDF).
        labels: filename-stem suffix → class index, e.g. ``{"_1": 0, "_2": 1}`` for eegmat
            (rest vs mental arithmetic). Recordings matching no suffix are unlabelled: used for
            pretraining only.
        class_names: one name per class index (``class_names[k]`` is class ``k``), saved in the
            fine-tuned checkpoint and used by ``eegssm classify`` for its ``p_<name>`` columns;
            empty: ``class0``, ``class1``, ...
        subject_regex: regular expression whose first group, applied to the file stem, is the
            subject id (splits are by subject).
        window_s, stride_s: window length and stride in seconds (stride default = window);
            cut from the cached recordings when read (complete windows only).
        sfreq: rate after resampling (Hz); the ``eegm2`` preprocessing preset otherwise
            (19 referential channels, per-recording 95th-percentile scaling).
        val_subjects: subjects held out for evaluation (early stopping, metrics); empty: none.
        val_fraction: with ``val_subjects`` empty, this share of the subjects (at least one) is
            held out instead, drawn with a fixed seed (``recipes.eegm2.carve_val_subjects``);
            0: no validation split.
        max_recordings: use only the first N recordings (sorted; for smoke tests).
        cache_dir: the cache of the preprocessed recordings (:func:`eegssm.data.build_cache`,
            built or refreshed from ``data_dir`` on each run; recordings already cached are
            skipped); None: ``<output_dir>/cache``.
        num_workers: DataLoader worker processes reading the windows.
    """

    layout: Literal["files", "tuab"] = "files"
    data_dir: str = EEGMAT_DIR
    pattern: str = "*.edf"
    labels: dict[str, int] = Field(default_factory=lambda: {"_1": 0, "_2": 1})
    class_names: list[str] = Field(default_factory=list)
    subject_regex: str = r"^(.*?)(?:_\d+)?$"
    window_s: PosFloat = 10.0
    stride_s: PosFloat | None = None
    sfreq: PosFloat = 128.0
    val_subjects: list[str] = Field(default_factory=list)
    val_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    max_recordings: PosInt | None = None
    cache_dir: str | None = None
    num_workers: NonNegInt = 0

    @model_validator(mode="after")
    def _check_class_names(self) -> EEGM2DataConfig:
        names = self.class_names
        if not names:
            return self
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", n)]
        if bad:
            raise ValueError(
                f"class_names {bad}: use letters, digits, '_', '.', '-' (they become CSV columns)"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"class_names must be distinct, got {names}")
        if self.labels and max(self.labels.values()) >= len(names):
            raise ValueError(
                f"labels use class {max(self.labels.values())} but class_names has only "
                f"{len(names)} names"
            )
        return self


class CorpusConfig(StrictModel):
    """The synthetic seizure corpus (:func:`eegssm.recipes.synthetic_corpus.generate_corpus`);
    durations in seconds, amplitudes in µV.

    Attributes:
        eegmat_dir: folder with eegmat ``SubjectNN_{1,2}.edf`` (None: fully synthetic only).
        max_eegmat_subjects: use at most this many eegmat subjects (sorted; None: all).
        fractions: share of subjects per split (eegmat and synthetic subjects apart).
        split_seed: seed of the subject assignment.
        seed: base seed of the seizures (each split, subject, recording and copy gets its own).
        copies: seizure-bearing copies of each real recording, per split.
        seizures_rest, seizures_task: seizures per copy of a rest (``_1``) / task (``_2``)
            recording.
        seizure_duration_s: range of seizure durations on real backgrounds (uniform).
        seizure_amplitude_uv: range of peak seizure amplitudes at the focus (uniform).
        min_gap_s: least time between seizures.
        synthetic_subjects: fully synthetic subjects (one recording each), split by
            ``fractions``.
        synthetic_duration_s: length of each fully synthetic recording.
        synthetic_seizures: seizures per fully synthetic recording.
    """

    eegmat_dir: str | None = EEGMAT_DIR
    max_eegmat_subjects: int | None = Field(None, ge=3)
    fractions: dict[Split, float] = Field(
        default_factory=lambda: {"train": 0.5, "dev": 0.25, "eval": 0.25}
    )
    split_seed: int = 0
    seed: int = 0
    copies: dict[Split, int] = Field(default_factory=lambda: {"train": 3, "dev": 1, "eval": 1})
    seizures_rest: NonNegInt = 1
    seizures_task: NonNegInt = 1
    seizure_duration_s: tuple[float, float] = (10.0, 50.0)
    seizure_amplitude_uv: tuple[float, float] = (60.0, 250.0)
    min_gap_s: NonNegFloat = 20.0
    synthetic_subjects: NonNegInt = 12
    synthetic_duration_s: PosFloat = 300.0
    synthetic_seizures: NonNegInt = 2


class DetectorDataConfig(StrictModel):
    """Where the detector's recordings come from (windows are cut from the cache when read).

    Attributes:
        corpus_dir: EDF + csv_bi corpus folder; generated with ``generate`` when given and the
            folder has no ``corpus.json`` yet. Default: ``OUTPUT/corpus`` when ``generate`` is
            given, else none (use ``cache_dir`` as it is).
        generate: synthetic-corpus settings (:class:`CorpusConfig`), or None.
        cache_dir: window cache (built from ``corpus_dir`` with ``preprocess`` when missing or
            stale; :func:`eegssm.data.build_cache` skips recordings already cached). Default:
            ``OUTPUT/cache``. Training writes only under the run's ``output_dir`` unless these
            two name other folders (set them to share a corpus or cache between runs).
        preprocess: preprocessing preset name (``"seizure"``: 19 ch, 256 Hz, 60 s / 10 s).
        train_split, dev_split: split names in the cache (TUSZ layout ``<split>/...``).
        fractions, split_seed: when the cache has no splits, subjects are assigned with
            :func:`eegssm.data.split_by_subject` (``train_split`` / ``dev_split`` must be keys).
        build_workers: worker processes for the cache build.
    """

    corpus_dir: str | None = None
    generate: CorpusConfig | None = None
    cache_dir: str | None = None
    preprocess: Literal["seizure"] = "seizure"
    train_split: str = "train"
    dev_split: str = "dev"
    fractions: dict[str, float] = Field(default_factory=lambda: dict(SPLIT_FRACTIONS))
    split_seed: int = 0
    build_workers: PosInt = 1


class SamplingConfig(StrictModel):
    """Balanced sampling (:class:`eegssm.data.BalancedSampler`) and training crops.

    Attributes:
        partial, full, background_ratio: the sampler's shares per epoch.
        batch_size: windows per step.
        crop_s: train on random crops of this length (s) from each cached window (None: the
            whole window); crops are cheaper and the model is length-agnostic.
        seizure_crop_prob: probability that a crop of a window holding seizure samples is
            centred on a random seizure sample (the rest are uniform).
        num_workers: DataLoader workers.
    """

    partial: NonNegFloat = 1.0
    full: NonNegFloat = 0.5
    background_ratio: NonNegFloat = 2.0
    batch_size: PosInt = 8
    crop_s: PosFloat | None = 30.0
    seizure_crop_prob: float = Field(0.5, ge=0, le=1)
    num_workers: NonNegInt = 0


#: Preprocessing of the bundled detector, over the ``seizure`` preset: the 18-channel double
#: banana (any 10-20 recording yields it), up to 4 derivations left out, 0.5–45 Hz whatever the
#: mains (50 and 60 Hz notched), 30-s inference windows every 15 s, amplitude kept in µV
#: (``x / 50 µV``: a seizure is a large rhythm, and z-scoring a recording erases how large).
REAL_DETECTOR_PREPROCESS: dict[str, object] = {
    "montage": "double_banana",
    "missing": "drop",
    "max_missing": 4,
    "h_freq": 45.0,
    "notch": [50.0, 60.0],
    "window_s": 30.0,
    "stride_s": 15.0,
    "normalize": "fixed",
    "scale_uv": 50.0,
}


class RealDataConfig(StrictModel):
    """The development corpora of the real-data detector recipe (``../shared/data`` layout).

    Attributes:
        data_dir: the folder holding the corpora below (relative paths are resolved against it).
        eegmat: PhysioNet eegmat EDFs (required).
        eegmmidb: PhysioNet eegmmidb EDFs of one or more subjects (skipped when absent).
        chbmit_clips: CHB-MIT clip folders (``ictal/*.npy``, ``preictal_10s/*.npy``).
        bonn_ictal: the Bonn set S zip (synthetic seizure waveforms), or None.
        preprocess: ``PreprocessConfig`` fields over the ``seizure`` preset.
    """

    data_dir: str = "../shared/data"
    eegmat: str = "eegmat"
    eegmmidb: str = "eegmmidb_S001"
    chbmit_clips: list[str] = Field(default_factory=lambda: ["chbmit_clips/chb01"])
    bonn_ictal: str | None = "bonn/S.zip"
    preprocess: dict[str, object] = Field(default_factory=lambda: dict(REAL_DETECTOR_PREPROCESS))


Probability = Annotated[float, Field(ge=0, le=1)]


class ExamplesConfig(StrictModel):
    """How :class:`eegssm.data.seizure_examples.ExampleSampler` mixes training examples
    (probabilities per example; lengths in seconds).

    Attributes:
        lengths_s, length_weights: crop lengths, one drawn per batch with these weights.
        p_real_ictal: an ictal clip of a training seizure (alone at 10 s, else in a composition
            of the patient's clips).
        p_clip_background: a composition of pre-ictal clips (half get a synthetic seizure).
        p_synthetic: share of seizure-free recordings that get a synthetic seizure.
        p_onset, onset_s: a seizure crop starts within ``onset_s`` of the onset.
        seizure_s: synthetic seizure duration range.
        snr: synthetic seizure signal-to-background range (strongest channel).
        p_muscle_artifact, p_rhythmic_run: artefacts that are not seizures.
        p_background_rhythm: a steady rhythm through the whole recording (not a seizure; a
            seizure may still be added on top).
        p_own_stats: normalise the crop on itself (as a short file is) instead of the recording
            (z-score only).
        gain: range of a log-uniform amplitude gain per example (``normalize="fixed"`` only).
        p_drop, max_drop: derivations removed from a whole batch (missing or flat channels).
        clip: clip of the normalised values (as the preprocessing's).
    """

    lengths_s: tuple[PosFloat, ...] = (10.0, 15.0, 20.0, 30.0)
    length_weights: tuple[NonNegFloat, ...] = (0.35, 0.15, 0.2, 0.3)
    p_real_ictal: Probability = 0.15
    p_clip_background: Probability = 0.12
    p_synthetic: Probability = 0.35
    p_onset: Probability = 0.5
    onset_s: NonNegFloat = 2.0
    seizure_s: tuple[PosFloat, PosFloat] = (8.0, 90.0)
    snr: tuple[PosFloat, PosFloat] = (2.0, 8.0)
    p_muscle_artifact: Probability = 0.12
    p_rhythmic_run: Probability = 0.08
    p_background_rhythm: Probability = 0.35
    p_own_stats: Probability = 0.4
    gain: tuple[PosFloat, PosFloat] = (0.6, 1.6)
    p_drop: Probability = 0.15
    max_drop: NonNegInt = 4
    clip: PosFloat = 10.0

    @model_validator(mode="after")
    def _check(self) -> ExamplesConfig:
        if len(self.lengths_s) != len(self.length_weights) or not sum(self.length_weights) > 0:
            raise ValueError("lengths_s and length_weights must pair up, with a positive weight")
        if self.p_real_ictal + self.p_clip_background > 1:
            raise ValueError("p_real_ictal + p_clip_background must be at most 1")
        return self
