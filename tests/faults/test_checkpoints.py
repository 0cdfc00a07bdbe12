"""Hostile checkpoint configs (case 7 of issue 20): ``node_layers: 1e6`` hung, ``d_node: 1e9``
asked for 128 GB, ``window_s: 1e9`` and negative sizes gave tracebacks. Each ``config.json`` value
is now checked (type, range, size) and the model is compared with the weights file on the meta
device before anything is allocated: every variant is a ``CheckpointError`` naming the file and
the field, under a 2 GB address-space limit and within seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eegssm.checkpoints import checkpoint_path
from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import write_edf

from _faults import run_limited

pytestmark = pytest.mark.timeout(600)

#: (name, dotted key, value, text expected in the error)
DETECTOR_CASES = [
    ("layers-1e6", "config.node_layers", 1_000_000, "node_layers"),
    ("d_node-1e9", "config.d_node", 1_000_000_000, "d_node"),
    ("d_node-negative", "config.d_node", -4, "d_node"),
    ("kernel-string", "config.tcn_kernel", "seven", "tcn_kernel"),
    ("stem-negative", "config.stem_channels", [16, -32], "stem_channels[1]"),
    ("decoder-1e6", "config.decoder_factors", [1_000_000, 4, 4], "decoder_factors[0]"),
    ("dropout-2", "config.dropout", 2.0, "dropout"),
    ("config-list", "config", [1, 2], "config must be an object"),
    ("n_chans-1e9", "n_chans", 1_000_000_000, "n_chans"),
    ("n_times-1e12", "n_times", 10**12, "n_times"),
    ("sfreq-string", "sfreq", "fast", "sfreq"),
    ("window-1e9", "window_s", 1e9, "window_s"),
    ("stride-negative", "stride_s", -1.0, "stride_s"),
    ("preprocess-window-1e9", "preprocess.config.window_s", 1e9, "preprocess"),
    ("postprocess-string", "postprocess.on_threshold", "high", "postprocess.on_threshold"),
    ("point-threshold-5", "operating_points.0.threshold", 5, "operating_points[0].threshold"),
    ("d_node-64-vs-weights", "config.d_node", 64, "does not describe the weights"),
]


def _set(meta: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    node = meta
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """A copy of the bundled detector per case, its config.json edited."""
    root = tmp_path_factory.mktemp("hostile")
    good = checkpoint_path()
    out = {}
    for name, key, value, _ in DETECTOR_CASES:
        folder = root / name
        shutil.copytree(good, folder)
        meta = json.loads((folder / "config.json").read_text())
        _set(meta, key, value)
        (folder / "config.json").write_text(json.dumps(meta))
        out[name] = folder
    return out


_LOAD_ALL = r"""
import json, signal, sys
from eegssm.models.detector import SeizureDetector
from eegssm.train.checkpoint import CheckpointError

def alarm(*_):
    raise TimeoutError("no answer within 20 s")

signal.signal(signal.SIGALRM, alarm)
results = {}
for name, folder in json.loads(sys.argv[1]).items():
    signal.alarm(20)
    try:
        SeizureDetector.from_pretrained(folder)
        results[name] = ["loaded", ""]
    except CheckpointError as err:
        results[name] = ["CheckpointError", str(err)]
    except BaseException as err:
        results[name] = [type(err).__name__, str(err)[:300]]
    finally:
        signal.alarm(0)
print(json.dumps(results))
"""


@pytest.mark.faults
def test_hostile_detector_configs_are_checkpoint_errors(hostile):
    folders = {name: str(path) for name, path in hostile.items()}
    code = f"import sys; sys.argv[1:] = [{json.dumps(folders)!r}]\n" + _LOAD_ALL
    run = run_limited(code=code, timeout=600)
    assert run.rc == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    for name, _, _, expected in DETECTOR_CASES:
        kind, message = results[name]
        assert kind == "CheckpointError", (name, kind, message)
        assert str(hostile[name] / "config.json") in message and expected in message, message
        assert "\n" not in message
    assert run.maxrss_mb < 1024


@pytest.mark.faults
def test_detect_with_a_hostile_checkpoint_is_one_error_line(hostile, tmp_path):
    """Through the command line: exit status 2 and one ``error:`` line, no traceback."""
    edf = write_edf(tmp_path / "rec.edf", make_recording(30, n_seizures=0, seed=1))
    folder = hostile["d_node-1e9"]
    run = run_limited(["detect", str(edf), "--checkpoint", str(folder), "-q"], timeout=300)
    assert run.rc == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    (line,) = run.error_lines
    assert "config.json" in line and "d_node" in line


@pytest.mark.faults
def test_config_that_is_not_a_regular_file(tmp_path):
    """A config.json that is a link to ``/dev/zero`` was read without bound."""
    folder = tmp_path / "ckpt"
    shutil.copytree(checkpoint_path(), folder)
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")
    code = f"""
from eegssm.models.detector import SeizureDetector
from eegssm.train.checkpoint import CheckpointError
try:
    SeizureDetector.from_pretrained({str(folder)!r})
except CheckpointError as err:
    print("CheckpointError", err)
"""
    run = run_limited(code=code, timeout=120)
    assert run.rc == 0 and run.stdout.startswith("CheckpointError"), run.stderr[-2000:]
    assert "not a regular file" in run.stdout
    assert run.maxrss_mb < 1024


EEGM2_CASES = [
    ("n_chans-1e9", "n_chans", 1_000_000_000, "n_chans"),
    ("n_chans-negative", "n_chans", -19, "n_chans"),
    ("preset-huge", "model.preset", "huge", "model"),
    ("sfreq-negative", "sfreq", -128.0, "sfreq"),
    ("kind-missing", "kind", None, "not an EEGM2"),
]


@pytest.mark.parametrize("name, key, value, expected", EEGM2_CASES, ids=[c[0] for c in EEGM2_CASES])
def test_hostile_eegm2_configs_are_checkpoint_errors(tmp_path, name, key, value, expected):
    from eegssm.config import EEGM2ModelConfig
    from eegssm.recipes.eegm2 import build_eegm2, load_pretrained
    from eegssm.train.checkpoint import CheckpointError, save_checkpoint

    model = EEGM2ModelConfig()
    meta = {"kind": "eegm2", "n_chans": 19, "sfreq": 128.0, "model": model.model_dump()}
    folder = save_checkpoint(tmp_path / "pt", build_eegm2(model, 19, 128.0), meta)
    _set(meta, key, value)
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=expected) as info:
        load_pretrained(folder)
    assert str(folder / "config.json") in str(info.value)


@pytest.mark.parametrize("error", [ZeroDivisionError, AssertionError, KeyError, OverflowError])
def test_a_config_whose_model_cannot_be_built_is_a_checkpoint_error(tmp_path, error):
    """Whatever a model constructor raises on a config that passed the value checks (an
    assertion, a division by zero in a size rule) is the checkpoint's fault: one
    ``CheckpointError`` naming the config, not a traceback."""
    from eegssm.models.checkpoint_meta import check_weights_fit
    from eegssm.train.checkpoint import CheckpointError

    def build():
        raise error("size rule")

    config = tmp_path / "config.json"
    with pytest.raises(CheckpointError, match="cannot be built") as info:
        check_weights_fit(build, tmp_path / "model.safetensors", config)
    assert str(config) in str(info.value) and error.__name__ in str(info.value)
