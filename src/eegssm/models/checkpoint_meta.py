"""Checks of a checkpoint's ``config.json`` before anything is built or allocated.

A checkpoint folder may come from anywhere, and its config decides how large a model is built and
how long the windows it runs on are: ``node_layers: 1e6`` would hang in construction, ``d_node:
1e9`` or ``window_s: 1e9`` would ask for terabytes. Every value read from the config is checked
for type and range here, and the model it describes is then built on PyTorch's ``meta`` device
(no memory) and compared with the tensor shapes listed in the weights file's safetensors header,
so that a config that does not fit its weights is refused before the real model is built.

Failures raise :class:`~eegssm.train.checkpoint.CheckpointError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any


class CheckpointError(RuntimeError, ValueError):
    """A checkpoint is missing, truncated, refused by validation or does not fit the model; the
    message names the file. Also a ``ValueError`` (a bad input), so the command line reports it
    as one ``error:`` line. (Defined here, without PyTorch, for the checks below and
    :mod:`eegssm.engine`; :mod:`eegssm.train.checkpoint` re-exports it.)"""


#: Largest integer accepted for any architecture size (widths, channels, kernels, chunks) ...
MAX_SIZE = 4096
#: ... for layer counts and tuple lengths ...
MAX_LAYERS = 64
#: ... for the channel count of the input, the window length in samples, and the rate (Hz).
MAX_CHANNELS = 1024
MAX_WINDOW_SAMPLES = 1 << 22
MAX_SFREQ = 100_000.0
#: Longest window or stride (s), and longest post-processing duration (s).
MAX_WINDOW_S = 3600.0
MAX_POSTPROCESS_S = 86_400.0
#: Largest safetensors header read (bytes).
MAX_HEADER_BYTES = 16 << 20

_LAYER_FIELDS = ("node_layers", "edge_layers", "graph_layers", "graph_K")
#: Integer fields for which 0 means "none" (the others are sizes, at least 1).
_ZERO_OK = (*_LAYER_FIELDS, "pe_k", "top_k")


#: Largest JSON file of a checkpoint read (bytes).
MAX_JSON_BYTES = 16 << 20


def read_json(path: Path) -> dict[str, Any]:
    """Read a checkpoint JSON file with a clear error."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a folder, a device such as /dev/zero
            raise CheckpointError(f"{path}: not a regular file")
        if not path.is_file():
            raise FileNotFoundError(path)
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB; not a config")
        return json.loads(path.read_bytes())
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: file not found") from err
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({type(err).__name__})") from err


def _fail(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}")


def _int(path: Path, name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"{name} must be an integer in [{low}, {high}], got {value!r:.40}")
    return value


def _float(path: Path, name: str, value: Any, low: float, high: float, open_low=False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (low < value if open_low else low <= value) or value > high:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise _fail(path, f"{name} must be a number in {interval}, got {value!r:.40}")
    return float(value)


def _dict(path: Path, name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, f"{name} must be an object, got {type(value).__name__}")
    return value


def check_detector_meta(meta: Any, path: str | Path) -> None:
    """Validate the ``config.json`` of a SeizureDetector checkpoint (``path`` names it).

    Checks ``n_chans``, ``n_times`` (may be null), ``sfreq``, every :class:`~eegssm.models.detector.
    DetectorConfig` field (type of its default, sizes within :data:`MAX_SIZE`, layer counts and
    tuple lengths within :data:`MAX_LAYERS`, names from the allowed sets), ``window_s`` /
    ``stride_s``, the preprocessing config, the post-processing settings and the operating
    points.

    Raises:
        CheckpointError: the first value that is missing, of the wrong type or out of range.
    """
    from eegssm.models.detector_config import DetectorConfig

    path = Path(path)
    meta = _dict(path, "the config", meta)
    _int(path, "n_chans", meta.get("n_chans"), 1, MAX_CHANNELS)
    if meta.get("n_times") is not None:  # informational; None: any length
        _int(path, "n_times", meta["n_times"], 1, MAX_WINDOW_SAMPLES)
    _float(path, "sfreq", meta.get("sfreq"), 0.0, MAX_SFREQ, open_low=True)
    config = _dict(path, "config", meta.get("config"))
    defaults = {f.name: f.default for f in fields(DetectorConfig)}
    for key, value in config.items():
        if key not in defaults:
            continue  # from_pretrained ignores unknown keys (newer versions may add fields)
        default, name = defaults[key], f"config.{key}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise _fail(path, f"{name} must be true or false, got {value!r:.40}")
        elif isinstance(default, int):
            high = MAX_LAYERS if key in _LAYER_FIELDS else MAX_SIZE
            _int(path, name, value, 0 if key in _ZERO_OK else 1, high)
        elif isinstance(default, float):
            _float(path, name, value, 0.0, 1.0)
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or len(value) > MAX_LAYERS:
                raise _fail(path, f"{name} must be a list of at most {MAX_LAYERS} integers")
            for i, item in enumerate(value):
                _int(path, f"{name}[{i}]", item, 1, MAX_SIZE)
        elif isinstance(default, str) and not isinstance(value, str):
            raise _fail(path, f"{name} must be a string, got {value!r:.40}")
    try:  # the allowed names and the stride/upsampling agreement (DetectorConfig checks them)
        DetectorConfig(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in config.items() if k in defaults})  # fmt: skip
    except (TypeError, ValueError) as err:
        raise _fail(path, f"config: {err}") from None
    window = _float(path, "window_s", meta.get("window_s", 60.0), 0.0, MAX_WINDOW_S, True)
    _float(path, "stride_s", meta.get("stride_s", window / 2), 0.0, window, True)
    _check_preprocess(path, meta.get("preprocess", {}))
    _check_postprocess(path, "postprocess", meta.get("postprocess", {}))
    points = meta.get("operating_points") or []
    if not isinstance(points, list) or len(points) > 10_000:
        raise _fail(path, "operating_points must be a list of at most 10000 points")
    for i, point in enumerate(points):
        point = _dict(path, f"operating_points[{i}]", point)
        _float(path, f"operating_points[{i}].target_fa_per_24h",
               point.get("target_fa_per_24h"), 0.0, 1e9)  # fmt: skip
        for key in ("threshold", "off_threshold"):
            _float(path, f"operating_points[{i}].{key}", point.get(key), 0.0, 1.0)


def _check_preprocess(path: Path, pre: Any) -> None:
    from pydantic import ValidationError

    from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset

    pre = _dict(path, "preprocess", pre)
    try:
        cfg = (
            PreprocessConfig(**_dict(path, "preprocess.config", pre["config"]))
            if "config" in pre
            else get_preset(pre.get("preset", "seizure"))
        )
    except (ValidationError, TypeError, ValueError, KeyError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _fail(path, f"preprocess: {first}") from None
    _float(path, "preprocess.config.window_s", cfg.window_s, 0.0, MAX_WINDOW_S, True)
    if cfg.stride_s is not None:
        _float(path, "preprocess.config.stride_s", cfg.stride_s, 0.0, MAX_WINDOW_S, True)
    if cfg.sfreq is not None:
        _float(path, "preprocess.config.sfreq", cfg.sfreq, 0.0, MAX_SFREQ, True)


def _check_postprocess(path: Path, name: str, post: Any) -> None:
    from eegssm.postprocess import PostprocessConfig

    post = _dict(path, name, post)
    defaults = {f.name: f.default for f in fields(PostprocessConfig)}
    for key, value in post.items():
        if key not in defaults:
            raise _fail(path, f"{name}.{key}: unknown setting")
        if isinstance(defaults[key], str):
            if not isinstance(value, str) or len(value) > 64:
                raise _fail(path, f"{name}.{key} must be a short string")
        elif key.endswith("threshold"):
            _float(path, f"{name}.{key}", value, 0.0, 1.0)
        else:
            _float(path, f"{name}.{key}", value, 0.0, MAX_POSTPROCESS_S)
    try:
        PostprocessConfig(**post)
    except (TypeError, ValueError) as err:
        raise _fail(path, f"{name}: {err}") from None


def check_eegm2_meta(meta: Any, path: str | Path) -> None:
    """Validate the ``config.json`` of an EEGM2 pretraining checkpoint (``kind``, ``model``
    settings, ``n_chans``, ``sfreq``).

    Raises:
        CheckpointError: a value that is missing, of the wrong type or out of range.
    """
    from pydantic import ValidationError

    from eegssm.config import EEGM2ModelConfig

    path = Path(path)
    meta = _dict(path, "the config", meta)
    if meta.get("kind") != "eegm2":
        raise _fail(path, f"not an EEGM2 pretraining checkpoint (kind={meta.get('kind')!r:.40})")
    try:
        EEGM2ModelConfig(**_dict(path, "model", meta.get("model")))
    except (ValidationError, TypeError) as err:
        raise _fail(path, f"model: {str(err).splitlines()[0]}") from None
    _int(path, "n_chans", meta.get("n_chans"), 1, MAX_CHANNELS)
    if meta.get("sfreq") is not None:
        _float(path, "sfreq", meta["sfreq"], 0.0, MAX_SFREQ, open_low=True)
    if "eegm2" in meta:
        _check_eegm2_arch(path, meta["eegm2"])


def _check_eegm2_arch(path: Path, arch: Any) -> None:
    """The exact EEGM2 architecture a checkpoint records (``eegm2``: ``EEGM2Config`` fields):
    known fields only, sizes within :data:`MAX_SIZE`, three widths, rates in [0, 1)."""
    from eegssm.models.eegm2 import EEGM2Config

    arch = _dict(path, "eegm2", arch)
    defaults = {f.name: f.default for f in fields(EEGM2Config)}
    unknown = sorted(set(arch) - set(defaults))
    if unknown:
        raise _fail(path, f"eegm2: unknown fields {unknown[:5]}")
    for key, value in arch.items():
        default, name = defaults[key], f"eegm2.{key}"
        if key == "widths":
            if not isinstance(value, list) or len(value) != 3:
                raise _fail(path, f"{name} must be a list of 3 integers, got {value!r:.40}")
            for i, w in enumerate(value):
                _int(path, f"{name}[{i}]", w, 1, MAX_SIZE)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise _fail(path, f"{name} must be true or false, got {value!r:.40}")
        elif isinstance(default, int):
            _int(path, name, value, 1, MAX_SIZE)
        elif isinstance(default, float):
            _float(path, name, value, 0.0, 0.999)
        elif isinstance(default, str) and not isinstance(value, str):
            raise _fail(path, f"{name} must be a string, got {value!r:.40}")


def check_eegm2_classifier_meta(meta: Any, path: str | Path) -> None:
    """Validate the ``config.json`` of a fine-tuned EEGM2-recipe classifier (``kind:
    classifier``): ``head``, ``n_classes``, ``n_chans``, ``sfreq``, ``window_s``, the ``model``
    settings and, when present, the exact ``eegm2`` architecture.

    Raises:
        CheckpointError: a value that is missing, of the wrong type or out of range.
    """
    from pydantic import ValidationError

    from eegssm.config import BASELINE_HEADS, EEGM2ModelConfig

    path = Path(path)
    meta = _dict(path, "the config", meta)
    heads = ("light", "probe", "fine", *BASELINE_HEADS)
    if meta.get("head") not in heads:
        raise _fail(path, f"head must be one of {heads}, got {meta.get('head')!r:.40}")
    _int(path, "n_classes", meta.get("n_classes"), 1, MAX_CHANNELS)
    _int(path, "n_chans", meta.get("n_chans"), 1, MAX_CHANNELS)
    _float(path, "sfreq", meta.get("sfreq"), 0.0, MAX_SFREQ, open_low=True)
    _float(path, "window_s", meta.get("window_s"), 0.0, MAX_WINDOW_S, open_low=True)
    if meta.get("head") not in BASELINE_HEADS:
        try:
            EEGM2ModelConfig(**_dict(path, "model", meta.get("model")))
        except (ValidationError, TypeError) as err:
            raise _fail(path, f"model: {str(err).splitlines()[0]}") from None
    if not isinstance(meta.get("band_power", False), bool):
        raise _fail(path, f"band_power must be true or false, got {meta['band_power']!r:.40}")
    if "eegm2" in meta:
        _check_eegm2_arch(path, meta["eegm2"])


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors file's header (no tensor data is read).

    Raises:
        CheckpointError: a missing file, or a header that is not a size-bounded JSON object of
            tensors lying within the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            (n,) = struct.unpack("<Q", head) if len(head) == 8 else (-1,)
            if not 0 < n <= min(MAX_HEADER_BYTES, size - 8):
                raise _fail(path, "not a safetensors file (bad header length)")
            header = json.loads(fh.read(n))
    except FileNotFoundError:
        raise _fail(path, "weights file not found") from None
    except (OSError, ValueError) as err:  # JSON and decoding errors are ValueErrors
        raise _fail(path, f"not a readable safetensors file ({type(err).__name__})") from None
    if not isinstance(header, dict):
        raise _fail(path, "not a safetensors file (header is not an object)")
    shapes = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        valid = isinstance(shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d for d in shape
        )
        if not valid or not (isinstance(offsets, list) and len(offsets) == 2):
            raise _fail(path, f"tensor {name!r:.60}: bad shape or offsets in the header")
        if not all(isinstance(o, int) and 0 <= o <= size for o in offsets):
            raise _fail(path, f"tensor {name!r:.60}: data lies beyond the end of the file")
        shapes[name] = tuple(shape)
    return shapes


def check_weights_fit(build: Callable[[], Any], weights: str | Path, config: str | Path) -> None:
    """Build the model described by a config on the ``meta`` device and compare its tensors
    with the weights file, before the real model is allocated.

    Raises:
        CheckpointError: names or shapes differ (the message gives the first differences).
    """
    import torch

    try:
        with torch.device("meta"):
            model = build()
    except Exception as err:  # noqa: BLE001 - any failure means the config is not buildable
        raise CheckpointError(
            f"{config}: the model it describes cannot be built ({type(err).__name__}: {err})"
        ) from None
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_shapes(want, safetensors_shapes(weights), weights, config)


def check_shapes(
    want: dict[str, tuple[int, ...]],
    have: dict[str, tuple[int, ...]],
    weights: str | Path,
    config: str | Path,
) -> None:
    """The tensors a config describes (``want``) against the weights file's (``have``).

    Raises:
        CheckpointError: names or shapes differ (the message gives the first differences).
    """
    if want == have:
        return
    missing = sorted(set(want) - set(have))[:3]
    extra = sorted(set(have) - set(want))[:3]
    wrong = [f"{k} {have[k]} vs {want[k]}" for k in want if k in have and have[k] != want[k]][:3]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
            f"shapes {', '.join(wrong)}" if wrong else "",
        )
        if part
    )
    raise CheckpointError(f"{config}: does not describe the weights in {weights} ({detail})")
