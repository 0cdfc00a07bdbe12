"""Reading recordings and annotations (see ``types`` for ``Recording`` and ``Event``)."""

from eegssm.io.types import TERM, Event, Recording

__all__ = ["TERM", "Event", "Recording"]
