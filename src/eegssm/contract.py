"""What a detector checkpoint accepts: its input montage, channels, sampling rate and window.

A checkpoint's ``config.json`` records its input under ``"input"``::

    "input": {"montage": "ref19", "channels": ["Fp1", ...], "n_chans": 19,
              "sfreq": 256.0, "window_s": 60.0}

``montage`` and ``channels`` may be null: ``SeizureDetector.save_pretrained`` on a bare model
knows only the channel count. Checkpoints written before this section existed get it derived
from their preprocessing config (:meth:`InputSpec.from_meta`).

The check runs on what preprocessing produces (after the montage, whichever way it was chosen),
so it holds whatever montage handling runs before it: :meth:`InputSpec.check` takes the channel
names and rate coming out of preprocessing and raises :class:`InputMismatchError`, one line
naming both sides, when they do not fit. When the checkpoint names its channels and the
recording has the same ones in another order, :meth:`InputSpec.order` gives the reordering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


class InputMismatchError(ValueError):
    """A recording does not fit a checkpoint's input (channels or sampling rate)."""


@dataclass(frozen=True)
class InputSpec:
    """The input a checkpoint was trained for.

    Attributes:
        n_chans: channels the model takes.
        sfreq: sampling rate in Hz after preprocessing.
        window_s: window length in seconds.
        montage: the preprocessing montage (``"ref19"``, ``"chbmit18"``, ``"as_is"``...), or
            None when unknown.
        channels: channel names in model order (after the montage), or None when only the
            count is known.
    """

    n_chans: int
    sfreq: float
    window_s: float
    montage: str | None = None
    channels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.channels is not None and len(self.channels) != self.n_chans:
            raise ValueError(
                f"input spec names {len(self.channels)} channels but n_chans is {self.n_chans}"
            )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels) if self.channels is not None else None
        return d

    @classmethod
    def from_meta(cls, meta: dict[str, Any], montage: str | None = None) -> InputSpec:
        """The spec of a checkpoint ``config.json``.

        The fields of ``meta["input"]`` where present (a recipe may write only ``montage`` and
        ``channels``); the others derived: ``n_chans`` from the channel names or the model,
        ``sfreq`` from the preprocessing config or the model, ``window_s`` from the metadata (or
        ``n_times / sfreq``), the montage from the preprocessing config (``montage``, as
        resolved by the caller) and, for a montage with a fixed channel list, its channels when
        their count matches ``n_chans``.
        """
        given = meta.get("input") if isinstance(meta.get("input"), dict) else {}
        pre = (meta.get("preprocess") or {}).get("config") or {}
        channels = given.get("channels")
        n_chans = given.get("n_chans")
        if n_chans is None:
            n_chans = len(channels) if channels is not None else meta.get("n_chans", 19)
        sfreq = given.get("sfreq") or pre.get("sfreq") or meta.get("sfreq") or 256.0
        window_s = given.get("window_s") or meta.get("window_s")
        if window_s is None:
            n_times = meta.get("n_times")
            window_s = n_times / float(sfreq) if n_times else pre.get("window_s", 60.0)
        montage = given.get("montage") or montage or pre.get("montage")
        if channels is None and "channels" not in given:
            names = montage_channels(montage)
            channels = names if names is not None and len(names) == int(n_chans) else None
        return cls(
            n_chans=int(n_chans),
            sfreq=float(sfreq),
            window_s=float(window_s),
            montage=montage,
            channels=tuple(channels) if channels is not None else None,
        )

    def describe(self) -> str:
        """``23 channels at 256 Hz (montage as_is, names not recorded)``."""
        where = f"montage {self.montage}" if self.montage else "montage not recorded"
        names = _short(self.channels) if self.channels is not None else "channel names not recorded"
        return f"{self.n_chans} channels at {self.sfreq:g} Hz ({where}; {names})"

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
            that put them in model order.

        Raises:
            InputMismatchError: wrong rate, wrong count, or (named checkpoints) missing or extra
                channels; one line naming the recording, the checkpoint and both sides.
        """
        got = list(ch_names)
        given = f"{len(got)} channels at {sfreq:g} Hz ({_short(got)})"
        head = f"{source}: does not fit {checkpoint}: it takes {self.describe()}, the recording "
        if not math.isclose(float(sfreq), self.sfreq, rel_tol=1e-6):
            raise InputMismatchError(f"{head}gives {given} after preprocessing")
        if self.channels is None:
            if len(got) != self.n_chans:
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
        if missing or extra or len(have) != len(want):
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"not used by the checkpoint: {', '.join(extra)}")
            raise InputMismatchError(
                f"{head}gives {given}: {'; '.join(parts) or 'duplicate channels'}; rename "
                "channels with --rename OLD=NEW"
            )
        return [have.index(k) for k in want]


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
