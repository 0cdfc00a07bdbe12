"""EEGM2 on real EEG: subject-wise CV on eegmat, Bonn, reconstruction ablations, efficiency.

Writes ``docs/results/eegm2.md`` (and ``eegm2_efficiency.png``). Long: every unit of work (one
fold x one method, one Bonn fold, one reconstruction variant, one efficiency point) is cached as
JSON under ``experiments/.cache/eegm2/`` and skipped when re-run, so an interrupted run resumes.
Pretraining checkpoints are cached there too.

Usage (from the repository root; run long parts niced, one thread)::

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python experiments/eegm2_results.py eegmat \
        --seeds 0 1 2 3 4     # ~42 min of one thread per seed; --folds splits the work
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python experiments/eegm2_results.py bonn recon eff
    .venv/bin/python experiments/eegm2_results.py report

Budget knobs are the constants below; the report prints what was run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from eegssm.config import (
    EEGM2DataConfig,
    EEGM2ModelConfig,
    EEGM2TrainingConfig,
    FinetuneConfig,
    MaskConfig,
    PretrainConfig,
    ReconstructionLossConfig,
)
from eegssm.data import ArrayWindows, WindowDataset
from eegssm.recipes import eegm2 as R

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "experiments" / ".cache" / "eegm2"
DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "results" / "eegm2.md"
PNG = ROOT / "docs" / "results" / "eegm2_efficiency.png"

# -- budget (single thread, shared 2-core machine) ---------------------------------------------
# Changing a budget: pretraining checkpoints are keyed by their step count
# (``ckpt/fold0_plain_s250``) and every result JSON records its steps, but eegmat/Bonn result
# files are not keyed: move the old ``eegmat/`` (and ``bonn/*scratch_fine*``) results away first.
N_FOLDS = 4
PRETRAIN = EEGM2TrainingConfig(
    max_steps=250, batch_size=16, lr=1e-3, schedule="onecycle", eval_every=0
)
FT = {  # window_s -> fine-tuning optimisation (Fine heads; Light/probe/EEGNet below)
    10.0: EEGM2TrainingConfig(
        max_steps=120, batch_size=16, lr=1e-3, schedule="onecycle", eval_every=0
    ),
    30.0: EEGM2TrainingConfig(
        max_steps=80, batch_size=8, lr=1e-3, schedule="onecycle", eval_every=0
    ),
}
FROZEN = EEGM2TrainingConfig(
    max_steps=100, batch_size=16, lr=1e-3, schedule="onecycle", eval_every=0
)
EEGNET = EEGM2TrainingConfig(
    max_steps=150, batch_size=16, lr=2e-3, schedule="onecycle", eval_every=0
)
MASK = MaskConfig(enabled=True, span_s=1.0, ratio=0.5, loss_on="hidden")
METHODS = ["scratch_fine", "pre_light", "pre_fine", "probe", "masked_fine", "eegnet"]
LABELS = {
    "scratch_fine": "(a) EEGM2-Fine from scratch",
    "pre_light": "(b) pretrained → Light",
    "pre_fine": "(c) pretrained → Fine",
    "probe": "(d) pretrained → linear probe",
    "masked_fine": "(e) masked pretraining → Fine",
    "eegnet": "(f) EEGNet-8,2",
    # Bonn rows of the previous run, kept for comparison: Fine head without standardisation,
    # 60 steps (their cache files were renamed to this method by hand).
    "scratch_fine_v0": "(a) EEGM2-Fine from scratch, previous run (unstandardised, 60 steps)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cached(path: Path, compute):
    """JSON result at ``path``, computed (and written atomically) on first use."""
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    out = compute()
    out["wall_seconds"] = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(path)
    return out


# -- eegmat ------------------------------------------------------------------------------------


def eegmat_windows(window_s: float) -> WindowDataset:
    """The 48 eegmat recordings' complete ``window_s`` windows, from the eegm2 cache (built once
    under ``experiments/.cache/eegm2/cache``: 19 channels, 128 Hz, p95 scaling per recording)."""
    data = EEGM2DataConfig(data_dir=str(DATA / "eegmat"), window_s=window_s)
    return R.prepare_windows(data, CACHE / "cache", progress=False)


def folds_for(windows: WindowDataset) -> list[list[str]]:
    return R.subject_folds(windows.subject.tolist(), N_FOLDS, seed=0)


def pretrained(
    fold: int, variant: str, train: WindowDataset, opt: EEGM2TrainingConfig = PRETRAIN
) -> torch.nn.Module:
    """Pretrain (or load) an EEGM2 variant on the training windows of ``fold`` for ``opt``
    (``opt.seed`` seeds the initialisation and batch order)."""
    model_cfg, loss_cfg, mask_cfg = EEGM2ModelConfig(), ReconstructionLossConfig(), MaskConfig()
    if variant == "masked":
        mask_cfg = MASK
    elif variant == "l1":
        loss_cfg = ReconstructionLossConfig(beta=0.0)
    elif variant == "nomb":
        model_cfg = EEGM2ModelConfig(multi_branch=False)
    elif variant == "attention":
        model_cfg = EEGM2ModelConfig(core="attention")
    elif variant != "plain":
        raise ValueError(variant)
    out = ckpt_dir(fold, variant, opt.max_steps, opt.seed)
    done = out / "done.json"
    if not done.is_file():
        cfg = PretrainConfig(model=model_cfg, loss=loss_cfg, mask=mask_cfg, train=opt)
        log(f"pretrain fold {fold} {variant}: {len(train)} windows, {opt.max_steps} steps")
        t0 = time.perf_counter()
        _, res = R.pretrain(cfg, train, resume=True, progress=False, output_dir=out)
        losses = [h["loss"] for h in res.history if "loss" in h]
        done.write_text(
            json.dumps(
                {
                    "seconds": time.perf_counter() - t0,
                    "steps": res.step,
                    "loss_first": losses[0],
                    "loss_last": losses[-1],
                }
            )
        )
    return R.load_pretrained(out / "last")


def ckpt_dir(fold: int, variant: str, steps: int, seed: int = 0) -> Path:
    prefix = f"seed{seed}_" if seed else ""
    return CACHE / "ckpt" / f"{prefix}fold{fold}_{variant}_s{steps}"


def train_eval(method, fold, window_s, train, test, encoders, seed: int = 0) -> dict:
    """Train one method on ``train`` windows and score it on ``test`` (per window, per subject);
    ``seed`` seeds the head's initialisation and the batch order."""
    head = {
        "scratch_fine": "fine",
        "pre_fine": "fine",
        "masked_fine": "fine",
        "pre_light": "light",
        "probe": "probe",
        "eegnet": "eegnet",
    }[method]
    opt = FT[window_s] if head == "fine" else (EEGNET if head == "eegnet" else FROZEN)
    if head in ("light", "probe"):
        opt = opt.model_copy(update={"batch_size": FT[window_s].batch_size})
    opt = opt.model_copy(update={"seed": seed})
    enc = None
    if method in ("pre_fine", "pre_light", "probe"):
        enc = encoders("plain")
    elif method == "masked_fine":
        enc = encoders("masked")
    cfg = FinetuneConfig(
        head=head, pretrained="(in memory)" if enc is not None else None, train=opt
    )
    log(f"fold {fold} {window_s:.0f}s {method}: {len(train)} train / {len(test)} test windows")
    model, res = R.finetune(
        cfg, train, None, progress=False, output_dir=None, encoder=enc, n_classes=2
    )
    proba = R.predict_proba(model, test)
    out = {
        "fold": fold,
        "seed": seed,
        "window_s": window_s,
        "method": method,
        "steps": res.step,
        "pretrain_steps": PRETRAIN.max_steps if enc is not None else 0,
        **R.classification_metrics(test.targets, proba),
        "per_subject": {},
    }
    for s in sorted(set(test.subject.tolist())):
        m = test.subject == s
        out["per_subject"][s] = R.classification_metrics(test.targets[m], proba[m])
    return out


def run_eegmat(only_folds: list[int] | None = None, seed: int = 0) -> None:
    """The CV for one seed (initialisation and batch order of every pretraining and head; the
    folds do not change). Seed 0's files have no prefix."""
    torch.set_num_threads(1)
    prefix = f"seed{seed}_" if seed else ""
    ws10 = eegmat_windows(10.0)
    folds = folds_for(ws10)
    for fold, test_subjects in enumerate(folds):
        if only_folds is not None and fold not in only_folds:
            continue
        train10 = ws10.of_subjects(test_subjects, exclude=True)
        enc_cache: dict[str, torch.nn.Module] = {}

        def encoders(variant, fold=fold, train10=train10, enc_cache=enc_cache):
            if variant not in enc_cache:
                opt = PRETRAIN.model_copy(update={"seed": seed})
                enc_cache[variant] = pretrained(fold, variant, train10, opt)
            # a fresh copy per use: fine-tuning changes the weights
            import copy

            return copy.deepcopy(enc_cache[variant])

        # masked pretraining (e) last: it needs a second pretraining per fold
        phases = [[m for m in METHODS if m != "masked_fine"], ["masked_fine"]]
        for methods, window_s in [(ms, w) for ms in phases for w in (10.0, 30.0)]:
            ws = ws10 if window_s == 10.0 else eegmat_windows(window_s)
            train = ws.of_subjects(test_subjects, exclude=True)
            test = ws.of_subjects(test_subjects)
            for method in methods:
                path = CACHE / "eegmat" / f"{prefix}fold{fold}_{window_s:.0f}s_{method}.json"
                cached(
                    path,
                    lambda m=method, w=window_s, tr=train, te=test, f=fold: train_eval(
                        m, f, w, tr, te, encoders, seed
                    ),
                )
    log(f"eegmat seed {seed} done")


# -- Bonn --------------------------------------------------------------------------------------

BONN_TASKS = {
    "Z_vs_S": [["Z"], ["S"]],
    "ZONF_vs_S": [["Z", "O", "N", "F"], ["S"]],
    "5class": [["Z"], ["O"], ["N"], ["F"], ["S"]],
}
BONN_FT = EEGM2TrainingConfig(
    max_steps=150, batch_size=16, lr=1e-3, schedule="onecycle", eval_every=0
)


def bonn_segments() -> dict[str, np.ndarray]:
    """Set letter → ``(100, 1, 3020)`` float32: resampled to 128 Hz, p95-scaled per segment."""
    from eegssm.preprocessing.filters import percentile_scale, resample

    npz = CACHE / "bonn_128hz.npz"
    if not npz.is_file():
        out = {}
        for letter in "ZONFS":
            with zipfile.ZipFile(DATA / "bonn" / f"{letter}.zip") as z:
                names = sorted(n for n in z.namelist() if n.lower().endswith(".txt"))
                segs = [np.loadtxt(z.open(n), dtype=np.float32) for n in names]
            x = np.stack(segs)[:, None, :]  # (100, 1, 4097) µV at 173.61 Hz
            x, _ = resample(x.reshape(len(x), -1), 173.61, 128.0)
            out[letter] = np.stack([percentile_scale(s[None]) for s in x]).astype(np.float32)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(npz, **out)
    z = np.load(npz)
    return {k: z[k] for k in "ZONFS"}


def bonn_windows(segs, task, idx_by_class) -> ArrayWindows:
    """10 s crops at 5 s stride (3 per segment); ``subject`` = segment id (for averaging)."""
    xs, ys, ids = [], [], []
    for k, letters in enumerate(BONN_TASKS[task]):
        for letter in letters:
            for i in idx_by_class[letter]:
                seg = segs[letter][i]  # (1, T)
                for start in range(0, seg.shape[1] - 1280 + 1, 640):
                    xs.append(seg[:, start : start + 1280])
                    ys.append(k)
                    ids.append(f"{letter}{i:03d}")
    return ArrayWindows(np.stack(xs), np.array(ys), np.array(ids, dtype=object), 128.0)


def run_bonn() -> None:
    from sklearn.model_selection import StratifiedKFold

    torch.set_num_threads(1)
    segs = bonn_segments()
    for task, groups in BONN_TASKS.items():
        seg_ids = [(letter, i) for letters in groups for letter in letters for i in range(100)]
        seg_y = [k for k, letters in enumerate(groups) for letter in letters for _ in range(100)]
        skf = StratifiedKFold(5, shuffle=True, random_state=0)
        for fold, (tr, te) in enumerate(skf.split(np.zeros(len(seg_y)), seg_y)):

            def pick(ix, seg_ids=seg_ids):
                d: dict[str, list[int]] = {}
                for j in ix:
                    d.setdefault(seg_ids[j][0], []).append(seg_ids[j][1])
                return d

            train = bonn_windows(segs, task, pick(tr))
            test = bonn_windows(segs, task, pick(te))
            for method, head, opt in (
                ("scratch_fine", "fine", BONN_FT),
                ("eegnet", "eegnet", EEGNET),
            ):
                path = CACHE / "bonn" / f"{task}_fold{fold}_{method}.json"

                def compute(
                    head=head,
                    opt=opt,
                    train=train,
                    test=test,
                    method=method,
                    task=task,
                    fold=fold,
                    groups=groups,
                ):
                    log(f"bonn {task} fold {fold} {method}")
                    cfg = FinetuneConfig(head=head, train=opt)
                    k = len(groups)
                    model, _ = R.finetune(
                        cfg, train, None, progress=False, output_dir=None, n_classes=k
                    )
                    p = R.predict_proba(model, test)
                    segs_te = sorted(set(test.subject.tolist()))
                    ps = np.stack([p[test.subject == s].mean(0) for s in segs_te])
                    ys = np.array([test.y[test.subject == s][0] for s in segs_te])
                    m = R.classification_metrics(ys, ps)
                    return {
                        "task": task,
                        "fold": fold,
                        "method": method,
                        "steps": opt.max_steps,
                        **m,
                        "n_test_segments": len(ys),
                    }

                cached(path, compute)
    log("bonn done")


# -- reconstruction ----------------------------------------------------------------------------

RECON_VARIANTS = ["plain", "l1", "nomb", "attention", "masked"]


def spectral_error_db(x: np.ndarray, x_hat: np.ndarray, sfreq: float) -> np.ndarray:
    """Per window: mean |10·log10(PSD(x̂)/PSD(x))| over channels and 1–40 Hz (Welch, 2 s)."""
    from scipy.signal import welch

    f, p = welch(x, fs=sfreq, nperseg=256, axis=-1)
    _, q = welch(x_hat, fs=sfreq, nperseg=256, axis=-1)
    band = (f >= 1) & (f <= 40)
    eps = 1e-12
    return np.abs(10 * np.log10((q[..., band] + eps) / (p[..., band] + eps))).mean(axis=(1, 2))


@torch.no_grad()
def recon_metrics(model, x: np.ndarray, sfreq: float) -> dict:
    """NMSE and spectral error per window, on full input and on 1-s spans hidden at 50 %."""
    from eegssm.models.masking import mask_spans

    model.eval()
    gen = torch.Generator().manual_seed(7)
    full, hidden, spec = [], [], []
    for i in range(0, len(x), 32):
        xb = torch.from_numpy(x[i : i + 32])
        xh = model(xb)
        err = (xh - xb).square().sum(dim=(1, 2)) / xb.square().sum(dim=(1, 2))
        full.append(err.numpy())
        spec.append(spectral_error_db(xb.numpy(), xh.numpy(), sfreq))
        xm, m = mask_spans(xb, int(sfreq), 0.5, gen)
        xh = model(xm)
        mm = m[:, None, :].float()
        num = ((xh - xb).square() * mm).sum(dim=(1, 2))
        den = (xb.square() * mm).sum(dim=(1, 2)).clamp_min(1e-12)
        hidden.append((num / den).numpy())
    full, hidden, spec = (np.concatenate(a) for a in (full, hidden, spec))
    return {
        "nmse": float(full.mean()),
        "nmse_std": float(full.std()),
        "nmse_hidden": float(hidden.mean()),
        "nmse_hidden_std": float(hidden.std()),
        "spectral_db": float(spec.mean()),
        "spectral_db_std": float(spec.std()),
        "n_windows": len(full),
    }


def run_recon(steps: int = PRETRAIN.max_steps, variants: list[str] | None = None) -> None:
    torch.set_num_threads(1)
    opt = PRETRAIN.model_copy(update={"max_steps": steps})
    ws = eegmat_windows(10.0)
    test_subjects = folds_for(ws)[0]
    train, test = ws.of_subjects(test_subjects, exclude=True), ws.of_subjects(test_subjects)
    for variant in variants or RECON_VARIANTS:

        def compute(variant=variant):
            model = pretrained(0, variant, train, opt)
            out = ckpt_dir(0, variant, steps)
            info = json.loads((out / "done.json").read_text())
            # a resumed pretraining's history starts at the resume point: take the losses from
            # the full log (first and last logged step)
            logged = [json.loads(line) for line in (out / "train_log.jsonl").open()]
            losses = [r for r in logged if "loss" in r]
            info["loss_first"] = min(losses, key=lambda r: r["step"])["loss"]
            info["loss_last"] = max(losses, key=lambda r: r["step"])["loss"]
            log(f"recon eval {variant}")
            return {
                "variant": variant,
                "params": sum(p.numel() for p in model.parameters()),
                "pretrain": info,
                **recon_metrics(model, ArrayWindows.from_dataset(test).x, ws.sfreq),
            }

        cached(CACHE / "recon" / f"{variant}_s{steps}.json", compute)
    log("recon done")


# -- efficiency --------------------------------------------------------------------------------

EFF_LENGTHS = [1024, 2048, 4096, 8192, 16384]
EFF_MAX_ATTN_GB = 9.0  # skip attention points whose full-resolution score matrix exceeds this


def measure_one(core: str, length: int) -> dict:
    """Forward (inference) time and peak RSS of the paper preset, in this process."""
    import resource

    from eegssm.models.eegm2 import EEGM2

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = EEGM2.from_preset("paper", n_chans=16, core=core).eval()
    x = torch.randn(8, 16, length)
    with open("/proc/self/statm") as f:
        before = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    times = []
    with torch.no_grad():
        for _ in range(2):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    return {
        "core": core,
        "length": length,
        "seconds": min(times),
        "peak_mib": peak,
        "repeats": len(times),
    }


def run_eff(lengths: list[int] | None = None, cores: list[str] | None = None) -> None:
    for length in lengths or EFF_LENGTHS:
        for core in cores or ["mamba2", "attention"]:
            path = CACHE / "eff" / f"{core}_{length}.json"
            gb = 8 * 1 * length**2 * 4 / 1e9  # batch x heads(64/64) x L^2 float32, stage 1
            if core == "attention" and gb > EFF_MAX_ATTN_GB:
                if not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(
                        json.dumps(
                            {
                                "core": core,
                                "length": length,
                                "skipped": f"score matrix alone {gb:.1f} GB",
                            }
                        )
                    )
                continue

            def compute(core=core, length=length):
                log(f"efficiency {core} {length}")
                code = (
                    f"import json,sys; sys.path.insert(0, {str(ROOT / 'experiments')!r}); "
                    f"import eegm2_results as e; "
                    f"print(json.dumps(e.measure_one({core!r}, {length})))"
                )
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=False
                )
                if out.returncode != 0:
                    return {"core": core, "length": length, "error": out.stderr[-500:]}
                return json.loads(out.stdout.strip().splitlines()[-1])

            cached(path, compute)
    log("efficiency done")


# -- report ------------------------------------------------------------------------------------


def _load_dir(sub: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((CACHE / sub).glob("*.json"))]


def _ms(values) -> str:
    v = np.array([x for x in values if not math.isnan(x)], dtype=float)
    if not len(v):
        return "–"
    return f"{v.mean():.3f} ± {v.std():.3f}"


def report() -> None:
    from eegssm.recipes.eegm2 import subject_folds  # noqa: F401 (documented in the report)

    lines = []
    every = _load_dir("eegmat")
    for r in every:
        r.setdefault("seed", 0)  # seed 0's files predate the field
    units: dict[int, set] = {}
    for r in every:
        units.setdefault(r["seed"], set()).add((r["fold"], r["window_s"], r["method"]))
    seeds = sorted(s for s, u in units.items() if len(u) == N_FOLDS * 2 * len(METHODS))
    partial = sorted(set(units) - set(seeds))
    res = [r for r in every if r["seed"] in seeds]  # complete seeds only: equal weight
    rows = {}
    for r in res:
        rows.setdefault((r["window_s"], r["method"]), []).append(r)
    lines.append(f"## eegmat: rest vs mental arithmetic, subject-wise {N_FOLDS}-fold CV\n")
    lines.append(
        f"Seeds with every fold, method and window length done: {len(seeds)} "
        f"({', '.join(map(str, seeds)) or 'none'})"
        + (f"; left out, incomplete: {', '.join(map(str, partial))}" if partial else "")
        + ". A seed sets the initialisation and batch order of every pretraining and head; the "
        "folds are the same for all seeds.\n"
    )
    lines.append(
        "| window | method | balanced acc. (mean ± std over folds × seeds) | 4-fold mean per "
        "seed | AUROC | per-subject bal. acc. (mean ± std over subjects) | steps (pretrain + "
        "head) |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for w in (10.0, 30.0):
        for m in METHODS:
            rs = rows.get((w, m), [])
            if not rs:
                continue
            per_subject: dict[str, list[float]] = {}
            for r in rs:
                for subj, v in r["per_subject"].items():
                    per_subject.setdefault(subj, []).append(v["balanced_accuracy"])
            subj = [float(np.mean(v)) for v in per_subject.values()]
            by_seed = [
                np.mean([r["balanced_accuracy"] for r in rs if r["seed"] == sd]) for sd in seeds
            ]
            steps = sorted({(r.get("pretrain_steps", 0), r["steps"]) for r in rs})
            st = ", ".join(f"{p} + {h}" if p else f"{h}" for p, h in steps)
            lines.append(
                f"| {w:.0f} s | {LABELS[m]} | {_ms([r['balanced_accuracy'] for r in rs])}"
                f" | {' / '.join(f'{x:.3f}' for x in by_seed)}"
                f" | {_ms([r['auroc'] for r in rs])} | {_ms(subj)} | {st} |"
            )
    lines.append("")
    lines.append(
        "Paired differences in balanced accuracy (same test fold and seed; mean over folds ×"
    )
    lines.append("seeds, and how many of them favour the method):\n")
    lines.append("| window | method | − (a) from scratch | − (f) EEGNet |")
    lines.append("|---|---|---|---|")
    by_unit = {
        (r["window_s"], r["method"], r["fold"], r["seed"]): r["balanced_accuracy"] for r in res
    }
    pairs = [(f, sd) for sd in seeds for f in range(N_FOLDS)]

    def paired(w, m, ref):
        d = [
            by_unit[(w, m, *u)] - by_unit[(w, ref, *u)]
            for u in pairs
            if (w, m, *u) in by_unit and (w, ref, *u) in by_unit
        ]
        if not d:
            return "–"
        return f"{np.mean(d):+.3f} ({sum(x > 0 for x in d)} of {len(d)})"

    for w in (10.0, 30.0):
        for m in METHODS:
            if m == "eegnet" or (w, m) not in rows:
                continue
            ref_a = "–" if m == "scratch_fine" else paired(w, m, "scratch_fine")
            lines.append(f"| {w:.0f} s | {LABELS[m]} | {ref_a} | {paired(w, m, 'eegnet')} |")
    lines.append("")
    lines.append(
        "Per-subject balanced accuracy, 10-s windows (each subject scored by the models of the"
    )
    lines.append("fold that held it out, mean over seeds; 18 rest + 6 task windows per subject):\n")
    lines.append("| subject | fold | " + " | ".join(m for m in METHODS) + " |")
    lines.append("|---|---|" + "---|" * len(METHODS))
    per: dict[str, dict] = {}
    for r in res:
        if r["window_s"] != 10.0:
            continue
        for subj, v in r["per_subject"].items():
            cell = per.setdefault(subj, {"fold": r["fold"]})
            cell.setdefault(r["method"], []).append(v["balanced_accuracy"])
    for subj in sorted(per):
        cells = [f"{np.mean(per[subj][m]):.2f}" if m in per[subj] else "–" for m in METHODS]
        lines.append(f"| {subj} | {per[subj]['fold']} | " + " | ".join(cells) + " |")
    lines.append("")
    bonn = _load_dir("bonn")
    lines.append("## Bonn, 5-fold stratified CV over segments\n")
    lines.append("| task | method | accuracy (mean ± std) | balanced acc. | AUROC | folds |")
    lines.append("|---|---|---|---|---|---|")
    brow = {}
    for r in bonn:
        brow.setdefault((r["task"], r["method"]), []).append(r)
    order = {t: i for i, t in enumerate(BONN_TASKS)}
    for (t, m), rs in sorted(brow.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        lines.append(
            f"| {t} | {LABELS.get(m, m)} | {_ms([r['accuracy'] for r in rs])} | "
            f"{_ms([r['balanced_accuracy'] for r in rs])} | "
            f"{_ms([r['auroc'] for r in rs])} | {len(rs)} |"
        )
    lines.append("")
    rec = _load_dir("recon")
    lines.append("## Reconstruction on held-out subjects (fold 0)\n")
    lines.append(
        "| variant | pretrain steps | params | NMSE (visible input) | NMSE on hidden 1-s spans | "
        "spectral error (dB, 1–40 Hz) | loss first → last |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for r in sorted(rec, key=lambda r: (-r["pretrain"]["steps"], r["variant"])):
        p = r["pretrain"]
        lines.append(
            f"| {r['variant']} | {p['steps']} | {r['params']:,}"
            f" | {r['nmse']:.4f} ± {r['nmse_std']:.4f}"
            f" | {r['nmse_hidden']:.3f} ± {r['nmse_hidden_std']:.3f} | "
            f"{r['spectral_db']:.2f} ± {r['spectral_db_std']:.2f} |"
            f" {p['loss_first']:.3g} → {p['loss_last']:.3g} |"
        )
    lines.append("")
    eff = _load_dir("eff")
    lines.append(
        "## Efficiency: paper preset, forward pass, batch 8, 16 channels, 1 thread, best of 2\n"
    )
    lines.append("| samples | EEGM2 (Mamba-2) s | peak MiB | attention s | peak MiB |")
    lines.append("|---|---|---|---|---|")
    by = {(r["core"], r["length"]): r for r in eff}

    def cell(r):
        if r is None:
            return "–", "–"
        if "skipped" in r:
            return "not run", r["skipped"]
        if "error" in r:
            return "failed", "–"
        return f"{r['seconds']:.2f}", f"{r['peak_mib']:.0f}"

    for length in EFF_LENGTHS:
        a, b = cell(by.get(("mamba2", length))), cell(by.get(("attention", length)))
        lines.append(f"| {length} | {a[0]} | {a[1]} | {b[0]} | {b[1]} |")
    lines.append("")
    _plot(by)
    body = "\n".join(lines)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    head = DOC.read_text().split("<!-- tables -->")[0] if DOC.is_file() else "# EEGM2 results\n\n"
    tail = ""
    if DOC.is_file() and "<!-- end tables -->" in DOC.read_text():
        tail = DOC.read_text().split("<!-- end tables -->")[1]
    DOC.write_text(head + "<!-- tables -->\n" + body + "\n<!-- end tables -->" + tail)
    print(body)


def _plot(by: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for core, style in (("mamba2", "o-"), ("attention", "s--")):
        pts = [
            (n, by[(core, n)])
            for n in EFF_LENGTHS
            if (core, n) in by and "seconds" in by[(core, n)]
        ]
        if not pts:
            continue
        xs = [n for n, _ in pts]
        axes[0].plot(xs, [r["seconds"] for _, r in pts], style, label=core)
        axes[1].plot(xs, [r["peak_mib"] for _, r in pts], style, label=core)
    for ax, yl in zip(axes, ("forward time (s)", "peak extra RSS (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("input length (samples)")
        ax.set_ylabel(yl)
        ax.legend()
    fig.suptitle("EEGM2 (paper preset) vs attention variant, batch 8 × 16 ch, CPU, 1 thread")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="+", choices=["eegmat", "bonn", "recon", "eff", "report"])
    ap.add_argument("--folds", type=int, nargs="+", help="eegmat: run only these folds")
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="eegmat: seeds to run (default 0)"
    )
    ap.add_argument("--lengths", type=int, nargs="+", help="eff: measure only these lengths")
    ap.add_argument("--cores", nargs="+", choices=["mamba2", "attention"], help="eff: only these")
    ap.add_argument(
        "--recon-steps", type=int, default=PRETRAIN.max_steps, help="recon: pretraining steps"
    )
    ap.add_argument("--variants", nargs="+", choices=RECON_VARIANTS, help="recon: only these")
    args = ap.parse_args()
    for part in args.parts:
        {
            "eegmat": lambda: [run_eegmat(args.folds, s) for s in args.seeds],
            "bonn": run_bonn,
            "recon": lambda: run_recon(args.recon_steps, args.variants),
            "eff": lambda: run_eff(args.lengths, args.cores),
            "report": report,
        }[part]()


if __name__ == "__main__":
    main()
