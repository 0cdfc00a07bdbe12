"""EEGM2 checkpoints as models: find, rebuild and load them, and run a classifier on windows.

The library side of the EEGM2 recipes (``eegssm.recipes.eegm2`` trains and writes these
checkpoints; ``eegssm.classify`` runs them on new recordings). A checkpoint is a folder with
``model.safetensors`` and ``config.json``: ``kind: "eegm2"`` for a pretrained encoder
(reconstruction), ``kind: "classifier"`` for a fine-tuned classifier (``head``: ``light``,
``probe``, ``fine`` or a baseline such as ``eegnet`` / ``shallow``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from eegssm.config import BASELINE_HEADS, EEGM2ModelConfig
from eegssm.models.eegm2 import EEGM2, EEGM2Config


def build_eegm2(cfg: EEGM2ModelConfig, n_chans: int, sfreq: float | None = None) -> EEGM2:
    """EEGM2 of the configured preset and ablations."""
    return EEGM2.from_preset(
        cfg.preset, n_chans=n_chans, sfreq=sfreq, multi_branch=cfg.multi_branch, core=cfg.core
    )


def build_baseline(head: str, n_chans: int, n_classes: int, sfreq: float) -> nn.Module:
    """A baseline classifier: ``"eegnet"`` (EEGNet-8,2) or ``"shallow"`` (ShallowFBCSPNet)."""
    from eegssm.models.baselines_eeg import EEGNet, ShallowFBCSPNet

    if head == "eegnet":
        return EEGNet(n_chans, n_classes, sfreq=sfreq)
    if head == "shallow":
        return ShallowFBCSPNet(n_chans, n_classes, sfreq=sfreq)
    raise ValueError(f"unknown baseline {head!r}")


def attach_head(head: str, encoder: EEGM2, n_classes: int, band_power: bool = False) -> nn.Module:
    """``head`` (``light``, ``probe`` or ``fine``) for ``n_classes`` on ``encoder``;
    ``band_power``: the probe also reads the input's band powers."""
    from eegssm.models.eegm2_heads import EEGM2Light, LinearProbe

    if head == "light":
        return EEGM2Light(encoder, n_classes)
    if head == "probe":
        return LinearProbe(encoder, n_classes, band_power=band_power)
    if head == "fine":
        return encoder.add_classifier(n_classes)
    raise ValueError(f"unknown head {head!r}")


def checkpoint_folder(path: str | Path) -> Path:
    """Checkpoint folder: ``path`` if it holds weights, else ``path/best``, else ``path/last``."""
    path = Path(path)
    for cand in (path, path / "best", path / "last"):
        if (cand / "model.safetensors").is_file():
            return cand
    raise FileNotFoundError(f"{path}: no checkpoint (model.safetensors) here or in best/, last/")


def eegm2_from_meta(meta: dict[str, Any], n_outputs: int | None = None) -> EEGM2:
    """An (untrained) EEGM2 of the architecture a checkpoint's ``config.json`` records."""
    if "eegm2" in meta:  # the exact architecture (EEGM2Config fields)
        arch = dict(meta["eegm2"], widths=tuple(meta["eegm2"]["widths"]))
        return EEGM2(
            meta["n_chans"], n_outputs, sfreq=meta.get("sfreq"), config=EEGM2Config(**arch)
        )
    model = build_eegm2(EEGM2ModelConfig(**meta["model"]), meta["n_chans"], meta.get("sfreq"))
    return model.add_classifier(n_outputs) if n_outputs else model


def load_pretrained(path: str | Path) -> EEGM2:
    """Rebuild and load the EEGM2 of a pretraining checkpoint (its ``config.json``)."""
    from eegssm.models.checkpoint_meta import check_eegm2_meta, check_weights_fit
    from eegssm.train.checkpoint import load_weights, read_json

    folder = checkpoint_folder(path)
    meta = read_json(folder / "config.json")
    check_eegm2_meta(meta, folder / "config.json")  # types and ranges, before building

    def build() -> EEGM2:
        return eegm2_from_meta(meta)

    check_weights_fit(build, folder / "model.safetensors", folder / "config.json")
    model = build()
    load_weights(folder / "model.safetensors", model)
    return model


def load_classifier(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild and load a fine-tuned classifier; returns ``(model in eval mode, config.json)``.

    ``path``: a checkpoint folder, or a run folder holding ``best/`` or ``last/``.

    Raises:
        ValueError: the checkpoint has no classification head (e.g. a pretraining checkpoint),
            with what to do instead.
        CheckpointError: a config whose values are out of range or do not fit the weights.
    """
    from eegssm.models.checkpoint_meta import check_eegm2_classifier_meta, check_weights_fit
    from eegssm.train.checkpoint import load_weights, read_json

    folder = checkpoint_folder(path)
    meta = read_json(folder / "config.json")
    kind = meta.get("kind")
    if kind == "eegm2":
        raise ValueError(
            f"{folder}: a pretraining checkpoint (EEGM2 reconstruction) has no classification "
            "head; fine-tune it first: eegssm finetune CONFIG.yaml --pretrained "
            f"{folder} --out F, then use F/best"
        )
    if kind != "classifier":
        raise ValueError(f"{folder}: not an eegssm classifier checkpoint (kind={kind!r})")
    check_eegm2_classifier_meta(meta, folder / "config.json")  # before building anything
    k = int(meta["n_classes"])

    def build() -> nn.Module:
        if meta["head"] in BASELINE_HEADS:
            return build_baseline(meta["head"], meta["n_chans"], k, meta["sfreq"])
        if meta["head"] == "fine":
            return eegm2_from_meta(meta, n_outputs=k)
        return attach_head(
            meta["head"], eegm2_from_meta(meta), k, band_power=meta.get("band_power", False)
        )

    check_weights_fit(build, folder / "model.safetensors", folder / "config.json")
    model = build()
    load_weights(folder / "model.safetensors", model)
    return model.eval(), meta


def batches(windows: Dataset | np.ndarray, batch_size: int) -> Iterator[Tensor]:
    """The windows ``x (B, C, W)`` of a window dataset (items ``(x, ...)``, e.g.
    :class:`~eegssm.data.WindowDataset`) or of an ``(N, C, W)`` array, in order, ``batch_size``
    at a time."""
    if isinstance(windows, np.ndarray):
        for i in range(0, len(windows), batch_size):
            yield torch.from_numpy(windows[i : i + batch_size])
        return
    for batch in DataLoader(windows, batch_size=batch_size, shuffle=False):
        yield batch[0]


@torch.no_grad()
def predict_logits(model: nn.Module, windows: Any, batch_size: int = 32) -> np.ndarray:
    """Class logits ``(N, K)`` float64 for the windows of a dataset or an ``(N, C, W)`` array
    (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(xb.to(device)).double().cpu().numpy() for xb in batches(windows, batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 2))


def predict_proba(
    model: nn.Module, windows: Any, batch_size: int = 32, temperature: float = 1.0
) -> np.ndarray:
    """Class probabilities ``softmax(logits / temperature)`` ``(N, K)`` for the windows of a
    dataset or an ``(N, C, W)`` array."""
    from eegssm.calibration import calibrated_proba

    return calibrated_proba(predict_logits(model, windows, batch_size), temperature)
