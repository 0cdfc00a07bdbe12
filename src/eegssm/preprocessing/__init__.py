"""Channels, montages, filters, normalisation and windowing (``Recording`` → fixed arrays).

Modules: :mod:`.channels` (label normalisation), :mod:`.montages` (fixed channel sets),
:mod:`.filters` (resample, band-pass, notch, normalise), :mod:`.pipeline` (config, presets,
:func:`preprocess`), :mod:`.windowing` (windows, labels, masks).
"""

from eegssm.preprocessing.channels import (
    ChannelMapping,
    normalize_channel_names,
    normalize_name,
    normalize_recording_channels,
)
from eegssm.preprocessing.montages import (
    REFERENTIAL_19,
    MissingChannelsError,
    Montage,
    apply_montage,
    get_montage,
)
from eegssm.preprocessing.pipeline import (
    PRESETS,
    NonFiniteSignalError,
    PreprocessConfig,
    PreprocessError,
    get_preset,
    preprocess,
    preprocess_windows,
)
from eegssm.preprocessing.windowing import WindowClass, Windows, make_windows, window_classes

__all__ = [
    "PRESETS",
    "REFERENTIAL_19",
    "ChannelMapping",
    "MissingChannelsError",
    "Montage",
    "NonFiniteSignalError",
    "PreprocessConfig",
    "PreprocessError",
    "WindowClass",
    "Windows",
    "apply_montage",
    "get_montage",
    "get_preset",
    "make_windows",
    "normalize_channel_names",
    "normalize_name",
    "normalize_recording_channels",
    "preprocess",
    "preprocess_windows",
    "window_classes",
]
