"""Crash-safe checkpoints: safetensors weights, JSON config and state, torch tensors for the rest.

A checkpoint is a folder::

    model.safetensors      model weights (no pickle)
    config.json            how to rebuild the model (whatever the caller passes)
    state.json             step, epoch, metrics, sampler position (plain JSON)
    optimizer.pt           optimizer + scheduler state and RNG states, read with weights_only=True

Every file is written to a temporary name, flushed with ``fsync`` and moved into place with
``os.replace``; the folder itself is written as ``NAME.tmp-*`` and renamed last, so a crash at any
point leaves either the previous complete checkpoint or the new complete one, never a mix.
Loading never unpickles arbitrary objects, and a damaged file gives ``CheckpointError`` naming it.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from eegssm import atomic

# re-exported: defined without PyTorch, for eegssm.engine
from eegssm.models.checkpoint_meta import MAX_JSON_BYTES, CheckpointError, read_json  # noqa: F401

WEIGHTS, CONFIG, STATE, OPTIMIZER = "model.safetensors", "config.json", "state.json", "optimizer.pt"


def write_json_atomic(path: Path, obj: Any) -> None:
    """JSON (indented, sorted keys) through ``eegssm.atomic``."""
    atomic.write_json(path, obj, indent=2, sort_keys=True)


def save_weights(path: Path, model: nn.Module) -> None:
    """Model weights as safetensors (shared tensors stored once, all made contiguous)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    seen: dict[int, str] = {}
    for key in list(tensors):  # safetensors refuses aliased storage: keep one name per storage
        ptr = tensors[key].untyped_storage().data_ptr()
        if ptr in seen and tensors[key].numel():
            tensors[key] = tensors[key].clone()
        seen[ptr] = key
    # serialised in memory, then written with plain writes: a full disk is an OSError naming
    # the file (safetensors' own writer reports it as an opaque SafetensorError)
    atomic.write_bytes(path, safetensors_bytes(tensors))


def load_weights(path: Path, model: nn.Module, strict: bool = True) -> None:
    """Load safetensors weights into ``model``; clear errors for damaged or mismatched files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    try:
        model.load_state_dict(tensors, strict=strict)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the model ({err})") from err


def rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA), as plain data and tensors."""
    version, words, gauss_next = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
    state = {
        "python": {"version": version, "words": list(words), "gauss_next": gauss_next},
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``rng_state``."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["words"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (restoring the global state)
        (
            "MT19937",
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: Path,
    model: nn.Module,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> Path:
    """Write a complete checkpoint folder atomically (see the module docstring).

    Args:
        folder: destination; replaced if it exists.
        model: its ``state_dict`` goes to ``model.safetensors``.
        config: JSON-serialisable description needed to rebuild the model.
        state: JSON-serialisable training state (step, epoch, metrics, sampler position).
        optimizer, scheduler: saved with the RNG states in ``optimizer.pt`` when given.

    Returns:
        ``folder``.

    Raises:
        WriteError: an ``OSError`` naming the file that could not be written (disk full...);
            the partial folder is removed and the previous checkpoint is untouched.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
    try:
        save_weights(tmp / WEIGHTS, model)
        write_json_atomic(tmp / CONFIG, config)
        write_json_atomic(tmp / STATE, state or {})
        if optimizer is not None:
            extra = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "rng": rng_state(),
            }
            buffer = io.BytesIO()
            torch.save(extra, buffer)
            atomic.write_bytes(tmp / OPTIMIZER, buffer.getvalue())
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
        atomic.fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_training_state(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load weights (and optimizer, scheduler, RNG states when given) from a checkpoint folder.

    Returns:
        The ``state.json`` contents (step, epoch, ...).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    load_weights(folder / WEIGHTS, model)
    state = read_json(folder / STATE)
    if optimizer is not None:
        path = folder / OPTIMIZER
        try:
            extra = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as err:
            raise CheckpointError(f"{path}: optimizer state not found") from err
        except Exception as err:  # truncated zip, tampered pickle refused by weights_only
            raise CheckpointError(f"{path}: unreadable optimizer state ({err})") from err
        optimizer.load_state_dict(extra["optimizer"])
        if scheduler is not None and extra.get("scheduler") is not None:
            scheduler.load_state_dict(extra["scheduler"])
        if restore_rng:
            set_rng_state(extra["rng"])
    return state
