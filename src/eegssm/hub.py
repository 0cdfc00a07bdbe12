"""Hub-style checkpoints: a folder or a Hugging Face Hub repository id, and its model card.

A checkpoint is a folder holding ``config.json``, ``model.safetensors`` and a model card
``README.md`` (what the model is, its input, its operating points, its limits), the layout
``huggingface_hub`` expects, so a folder can be uploaded as is (``huggingface-cli upload``)
and loaded back by repository id. ``huggingface_hub`` is optional: it is imported only when a
repository id has to be downloaded.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Any

#: ``owner/name`` as the Hub spells repository ids.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
#: Files a detector checkpoint needs (downloaded from a repository; nothing else is fetched).
CHECKPOINT_FILES = ("config.json", "model.safetensors", "README.md")
CARD_NAME = "README.md"


def looks_like_repo_id(text: str) -> bool:
    """True for ``owner/name`` (one slash, Hub characters, no leading ``.`` or ``/``)."""
    return bool(_REPO_ID.match(text)) and ".." not in text


def resolve_checkpoint(path_or_repo_id: str | PathLike, revision: str | None = None) -> Path:
    """The local folder of a checkpoint: ``path_or_repo_id`` itself when it exists, else the
    Hub repository of that id downloaded into the ``huggingface_hub`` cache.

    Raises:
        FileNotFoundError: neither a folder nor a repository id.
        ImportError: a repository id while ``huggingface_hub`` is not installed (the message
            says what to install).
        OSError: the download failed (no network, no such repository); the message names it.
    """
    text = str(path_or_repo_id)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if not looks_like_repo_id(text):
        raise FileNotFoundError(f"{text}: no such checkpoint folder")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ImportError(
            f"{text}: no such folder; to load it as a Hugging Face Hub repository install "
            "huggingface_hub (pip install huggingface_hub)"
        ) from None
    try:
        local = snapshot_download(
            repo_id=text, revision=revision, allow_patterns=list(CHECKPOINT_FILES)
        )
    except Exception as err:  # network, missing repository, gated repository
        raise OSError(
            f"{text}: no such folder, and the Hub download failed: {type(err).__name__}: {err}"
        ) from err
    return Path(local)


def model_card(meta: dict[str, Any]) -> str:
    """A model card (``README.md`` with Hub metadata) for a detector ``config.json``."""
    from eegssm import __version__
    from eegssm.contract import InputSpec

    spec = InputSpec.from_meta(meta)
    model = meta.get("model", "SeizureDetector")
    preset = meta.get("preset") or ""
    title = f"{model} {preset}".strip()
    description = meta.get("description") or "A seizure detector for scalp EEG built with eegssm."
    channels = ", ".join(spec.channels) if spec.channels is not None else "not recorded"
    lines = [
        card_front_matter(),
        f"# {title}",
        "",
        description,
        "",
        "## Input",
        "",
        "| | |",
        "|---|---|",
        f"| montage | {spec.montage or 'not recorded'} |",
        f"| channels | {spec.n_chans}: {channels} |",
        f"| channels that may be missing | {spec.max_missing} |",
        f"| sampling rate | {spec.sfreq:g} Hz (after preprocessing) |",
        f"| window | {spec.window_s:g} s |",
        "",
        "A recording that does not give these channels at this rate after preprocessing is "
        "refused with an error naming both sides.",
        "",
    ]
    points = meta.get("operating_points") or []
    if points:
        lines += [
            "## Operating points",
            "",
            "| target FA/24h | threshold | chosen on | sensitivity there | FA/24h there |",
            "|---|---|---|---|---|",
        ]
        for p in points:
            lines.append(
                f"| {float(p['target_fa_per_24h']):g} | {float(p['threshold']):.3f} | "
                f"{p.get('chosen_on') or p.get('split', '?')} | {_num(p.get('sensitivity'))} | "
                f"{_num(p.get('fa_per_24h'))} |"
            )
        if meta.get("operating_points_note"):
            lines += ["", str(meta["operating_points_note"])]
        lines.append("")
    lines += [
        "## Use",
        "",
        "```python",
        "from eegssm.detection import Detector",
        "",
        'detector = Detector.from_checkpoint("PATH_OR_REPO_ID")',
        'result = detector.run_file("recording.edf")',
        "annotations = result.to_annotations()  # mne.Annotations",
        "```",
        "",
        "or `eegssm detect recording.edf --checkpoint PATH_OR_REPO_ID`.",
        "",
        "## Limits",
        "",
        "Not a medical device. Validate on your own recordings before relying on it; see the "
        "training details in `config.json`.",
        "",
        f"Written by eegssm {meta.get('eegssm_version', __version__)}.",
        "",
    ]
    return "\n".join(lines)


def card_front_matter() -> str:
    """The Hub metadata block that opens a model card (``library_name``, ``tags``), then a
    blank line."""
    tags = ("eeg", "seizure-detection", "state-space-model")
    return "\n".join(["---", "library_name: eegssm", "tags:", *(f"- {t}" for t in tags), "---", ""])


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3g}"


def write_model_card(folder: str | PathLike, meta: dict[str, Any]) -> Path:
    """Write ``folder/README.md`` (atomically) from the checkpoint's metadata."""
    from eegssm import atomic

    path = Path(folder) / CARD_NAME
    atomic.write_text(path, model_card(meta))
    return path
