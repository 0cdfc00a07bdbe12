"""Bundled seizure-detector checkpoints (see ``README.md`` in this folder for what they are).

Each checkpoint is a folder with ``model.safetensors`` and ``config.json`` (architecture, preset
names, preprocessing, window / stride, post-processing, dev-chosen operating points, what it was
trained on); load it with ``SeizureDetector.from_pretrained(checkpoint_path())``.
"""

from __future__ import annotations

from pathlib import Path

#: Name of the checkpoint used when none is given.
DEFAULT = "default"


def available() -> list[str]:
    """Names of the bundled checkpoints (folders holding a ``config.json``)."""
    here = Path(__file__).parent
    return sorted(p.name for p in here.iterdir() if (p / "config.json").is_file())


def checkpoint_path(name: str = DEFAULT) -> Path:
    """Folder of a bundled checkpoint.

    Raises:
        FileNotFoundError: no bundled checkpoint of that name (lists those available).
    """
    path = Path(__file__).parent / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no bundled checkpoint {name!r}; available: {available() or 'none'}"
        )
    return path
