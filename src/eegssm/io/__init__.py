"""Reading recordings and annotations (see ``types`` for ``Recording`` and ``Event``)."""

from eegssm.io.errors import EEGReadError, EEGReadWarning
from eegssm.io.types import TERM, Event, Recording

__all__ = ["TERM", "EEGReadError", "EEGReadWarning", "Event", "Recording"]
