"""What a detector checkpoint accepts: its input montage, channels, sampling rate and window.

A checkpoint's ``config.json`` records its input under ``"input"``::

    "input": {"montage": "double_banana", "channels": ["Fp1-F7", ...], "n_chans": 18,
              "sfreq": 256.0, "window_s": 30.0}

Every field may be absent or null, and is then derived (:meth:`InputSpec.from_meta`):
``SeizureDetector.save_pretrained`` on a bare model knows only the channel count, rate and window;
the real-data recipe (:mod:`eegssm.recipes.detector_real`) may write only ``montage`` and
``channels``; checkpoints written before the section existed have none. The rest comes from the
checkpoint's preprocessing (``"preprocess"``, resolved by :func:`preprocess_config_of`), its
``window_s`` and its model fields (``n_chans``, ``n_times``, ``sfreq``). A montage with a fixed
channel list names the channels even when the writer did not.

How many named channels may be missing is not stored in ``input``: it is the preprocessing's
``missing="drop"`` policy (``max_missing`` of the montage's channels left out, as the montage
code does for the per-electrode detector, which takes any channel count); otherwise none.

The check runs on what preprocessing produces (after the montage, whichever way the input was
read, and after flat channels were treated as missing), so it holds whatever montage handling runs
before it: :meth:`InputSpec.check` takes the channel names and rate coming out of preprocessing and
raises :class:`InputMismatchError`, one line naming both sides, when they do not fit. When the
checkpoint names its channels and the recording has them (or an allowed subset) in another order,
:meth:`InputSpec.check` gives the reordering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eegssm.preprocessing.pipeline import PreprocessConfig


class InputMismatchError(ValueError):
    """A recording does not fit a checkpoint's input (channels or sampling rate)."""


@dataclass(frozen=True)
class InputSpec:
    """The input a checkpoint was trained for.

    Attributes:
        n_chans: channels the model was built for.
        sfreq: sampling rate in Hz after preprocessing.
        window_s: window length in seconds.
        montage: the preprocessing montage (``"ref19"``, ``"double_banana"``, ``"as_is"``...),
            or None when unknown.
        channels: channel names in model order (after the montage), or None when only the
            count is known.
        max_missing: how many of the ``n_chans`` channels a recording may lack (the
            preprocessing leaves them out: ``missing="drop"``); 0 for all of them required.
            Derived from the preprocessing, not written into ``input``.
    """

    n_chans: int
    sfreq: float
    window_s: float
    montage: str | None = None
    channels: tuple[str, ...] | None = None
    max_missing: int = 0

    def __post_init__(self) -> None:
        if self.channels is not None and len(self.channels) != self.n_chans:
            raise ValueError(
                f"input spec names {len(self.channels)} channels but n_chans is {self.n_chans}"
            )
        if not 0 <= self.max_missing < max(self.n_chans, 1):
            raise ValueError(
                f"max_missing must be in [0, {self.n_chans - 1}], got {self.max_missing}"
            )

    def to_json(self) -> dict[str, Any]:
        """The ``input`` section of ``config.json`` (``max_missing`` belongs to the
        preprocessing and is not part of it)."""
        return {
            "n_chans": self.n_chans,
            "sfreq": self.sfreq,
            "window_s": self.window_s,
            "montage": self.montage,
            "channels": list(self.channels) if self.channels is not None else None,
        }

    @classmethod
    def from_meta(
        cls, meta: dict[str, Any], preprocess: PreprocessConfig | None = None
    ) -> InputSpec:
        """The spec of a checkpoint ``config.json``.

        Args:
            meta: the ``config.json`` contents.
            preprocess: the preprocessing the checkpoint runs with (a caller that resolved it,
                as :class:`eegssm.detection.Detector` does; None: the checkpoint's
                ``"preprocess"`` section when it has one, else nothing is assumed about the
                montage).

        The fields of ``meta["input"]`` where present and not null; the others derived:
        ``n_chans`` from the channel names or the model, ``sfreq`` from the preprocessing or
        the model, ``window_s`` from the metadata (or ``n_times / sfreq``), the montage from the
        preprocessing, the channel names from a montage with a fixed channel list when their
        count matches, ``max_missing`` from the preprocessing's ``missing="drop"`` policy.
        """
        given = meta.get("input") if isinstance(meta.get("input"), dict) else {}
        if preprocess is None and meta.get("preprocess") is not None:
            preprocess = preprocess_config_of(meta)
        channels = given.get("channels")
        n_chans = given.get("n_chans")
        if n_chans is None:
            n_chans = len(channels) if channels is not None else meta.get("n_chans", 19)
        n_chans = int(n_chans)
        sfreq = given.get("sfreq") or (preprocess.sfreq if preprocess is not None else None)
        sfreq = float(sfreq or meta.get("sfreq") or 256.0)
        window_s = given.get("window_s") or meta.get("window_s")
        if window_s is None:
            n_times = meta.get("n_times")
            window_s = n_times / sfreq if n_times else getattr(preprocess, "window_s", 60.0)
        montage = given.get("montage") or (preprocess.montage if preprocess is not None else None)
        if channels is None:
            names = montage_channels(montage)
            channels = names if names is not None and len(names) == n_chans else None
        max_missing = 0
        if preprocess is not None and preprocess.missing == "drop":
            limit = preprocess.max_missing
            max_missing = n_chans - 1 if limit is None else min(int(limit), n_chans - 1)
        return cls(
            n_chans=n_chans,
            sfreq=sfreq,
            window_s=float(window_s),
            montage=montage,
            channels=tuple(channels) if channels is not None else None,
            max_missing=max(max_missing, 0),
        )

    def describe(self) -> str:
        """``18 channels at 256 Hz (montage double_banana; up to 4 may be missing; Fp1-F7,
        ...)``."""
        parts = [f"montage {self.montage}" if self.montage else "montage not recorded"]
        if self.max_missing:
            parts.append(f"up to {self.max_missing} may be missing")
        parts.append(_short(self.channels) if self.channels else "channel names not recorded")
        return f"{self.n_chans} channels at {self.sfreq:g} Hz ({'; '.join(parts)})"

    def check(
        self, ch_names: Sequence[str], sfreq: float, source: str, checkpoint: str = "checkpoint"
    ) -> list[int] | None:
        """Check preprocessed channels and rate against the spec.

        Args:
            ch_names: channel names after preprocessing (montage applied).
            sfreq: their rate in Hz.
            source: the recording, for the message.
            checkpoint: the checkpoint, for the message.

        Returns:
            None when the channels are in model order already, else indices into ``ch_names``
            that put them in model order (channels the checkpoint allows to be missing are
            simply absent from it).

        Raises:
            InputMismatchError: wrong rate, wrong count, or (named checkpoints) more missing
                channels than allowed, extra or duplicate channels; one line naming the
                recording, the checkpoint and both sides.
        """
        got = list(ch_names)
        given = f"{len(got)} channels at {sfreq:g} Hz ({_short(got)})"
        head = f"{source}: does not fit {checkpoint}: it takes {self.describe()}, the recording "
        if not math.isclose(float(sfreq), self.sfreq, rel_tol=1e-6):
            raise InputMismatchError(f"{head}gives {given} after preprocessing")
        if self.channels is None:
            if not self.n_chans - self.max_missing <= len(got) <= self.n_chans:
                raise InputMismatchError(
                    f"{head}gives {given}; use a checkpoint for {len(got)} channels, or pick "
                    "channels with --rename / a montage"
                )
            return None
        want = [c.lower() for c in self.channels]
        have = [c.lower() for c in got]
        if have == want:
            return None
        missing = [c for c, k in zip(self.channels, want) if k not in have]
        extra = [c for c, k in zip(got, have) if k not in want]
        duplicated = len(set(have)) != len(have)
        if extra or duplicated or len(missing) > self.max_missing:
            parts = []
            if missing:
                allowed = f" (at most {self.max_missing} may be)" if self.max_missing else ""
                parts.append(f"missing {', '.join(missing)}{allowed}")
            if extra:
                parts.append(f"not used by the checkpoint: {', '.join(extra)}")
            if duplicated:
                parts.append("duplicate channels")
            raise InputMismatchError(
                f"{head}gives {given}: {'; '.join(parts)}; rename channels with --rename OLD=NEW"
            )
        order = [have.index(k) for k in want if k in have]
        return None if order == list(range(len(have))) else order


def preprocess_config_of(meta: dict[str, Any]) -> PreprocessConfig:
    """The preprocessing of a checkpoint ``config.json``.

    Its ``"preprocess"`` section (a full ``config`` or a preset name); a checkpoint without one
    (a bare ``SeizureDetector.save_pretrained``) gets the ``seizure`` preset at the model's
    rate, with montage ``as_is`` when the preset's montage cannot give the model's channel
    count.
    """
    from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset

    pre = meta.get("preprocess")
    if pre is not None:
        if "config" in pre:
            return PreprocessConfig(**pre["config"])
        return get_preset(pre.get("preset", "seizure"))
    cfg = get_preset("seizure")
    changes: dict[str, Any] = {}
    if meta.get("sfreq"):
        changes["sfreq"] = float(meta["sfreq"])
    fixed = montage_channels(cfg.montage)
    n_chans = (meta.get("input") or {}).get("n_chans") or meta.get("n_chans")
    if n_chans is not None and fixed is not None and len(fixed) != int(n_chans):
        changes["montage"] = "as_is"
    return cfg.model_copy(update=changes) if changes else cfg


def montage_channels(montage: str | None) -> tuple[str, ...] | None:
    """Output channel names of a montage with a fixed channel list, else None."""
    if not montage:
        return None
    from eegssm.preprocessing.montages import get_montage

    try:
        mont = get_montage(montage)
    except ValueError:
        return None
    if mont.kind == "as_is":
        return None
    return tuple(mont.ch_names)


def _short(names: Sequence[str], limit: int = 6) -> str:
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... {len(names) - limit} more"
