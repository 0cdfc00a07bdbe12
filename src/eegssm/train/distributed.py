"""Data-parallel training under ``torchrun`` (PyTorch DistributedDataParallel).

One process per device. ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``; :func:`init_distributed` reads them, picks the backend (NCCL when CUDA is
available, gloo on CPU) and pins the process to ``cuda:LOCAL_RANK``. Without those variables (a
plain ``python`` run) everything here is a no-op and training is single-process.

The :class:`~eegssm.train.trainer.Trainer` does the rest when a process group is initialised:
it wraps the model in DDP (:func:`wrap_model`), decides NaN-guard skips collectively (one
all-reduce of the loss per step, so every rank skips the same steps and the logged loss is the
mean over the global batch), logs, shows progress and writes checkpoints on rank 0 only with a
barrier after each write, and evaluates on rank 0 and broadcasts the metrics (so every rank takes
the same early-stopping decision).

Gradients are averaged over ranks by DDP, so a loss that is a *mean over the local batch* gives
exactly the gradient of the mean over the global batch when every rank holds the same number of
items; :class:`~eegssm.data.sampling.BalancedSampler` pads its draw so that every rank has the same
length (:func:`sampler_kwargs` gives it ``num_replicas`` / ``rank``).

Recipes whose batch size is the *global* batch (EEGM2 ``pretrain`` / ``finetune``) instead give each
rank an interleaved shard of every global batch (:class:`ShardedBatchSampler`, rows
:func:`shard_rows`) and scale their loss by :func:`global_mean_weight`, which keeps the update equal
to a single process on the global batch also for unequal shards and for ratio losses (a weighted
cross-entropy, a mean over masked samples).

Typical script (see ``docs/distributed.md``)::

    env = init_distributed()
    sampler = BalancedSampler(dataset.classes, seed=0, **sampler_kwargs(env))
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)
    trainer = Trainer(model, loss_fn, TrainConfig(device=env.device, ...))
    trainer.fit(loader)
    cleanup()
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, Sampler

#: Environment variables ``torchrun`` sets for every process.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in the job.

    Attributes:
        rank: global rank (0 .. world_size-1); 0 is the process that logs and checkpoints.
        world_size: number of processes.
        local_rank: rank on this node (the CUDA device index).
        backend: ``"nccl"``, ``"gloo"`` or None (not distributed).
        device: device string for ``TrainConfig.device`` (``"cuda:LOCAL_RANK"`` or ``"cpu"``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def init_distributed(
    backend: str | None = None, device: str | None = None, timeout_s: float = 1800.0
) -> DistEnv:
    """Join the process group described by the ``torchrun`` environment variables.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default NCCL when CUDA is available, gloo otherwise.
        device: ``"cuda"`` or ``"cpu"``; default CUDA when available. With CUDA the process is
            pinned to ``cuda:LOCAL_RANK``.
        timeout_s: collective timeout (a rank that dies makes the others fail after this).

    Returns:
        A :class:`DistEnv`. Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) no process group is
        created and the single-process environment is returned.

    Raises:
        ValueError: inconsistent environment (rank outside the world, missing ``MASTER_ADDR``).
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if world <= 1:
        return DistEnv(device=f"cuda:{local_rank}" if use_cuda else "cpu")
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world}")
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise ValueError(
            f"distributed run (WORLD_SIZE={world}) without {', '.join(missing)}: start it with "
            "torchrun (see docs/distributed.md)"
        )
    backend = backend or ("nccl" if use_cuda else "gloo")
    dev = "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = f"cuda:{local_rank}"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {}
        if backend == "nccl":
            kwargs["device_id"] = torch.device(dev)
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world,
            timeout=dt.timedelta(seconds=timeout_s),
            **kwargs,
        )
    return DistEnv(rank, world, local_rank, backend, dev)


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0, or a single-process run: the process that logs, shows progress, checkpoints."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (``destroy_process_group``); safe to call when not distributed."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def sampler_kwargs(env: DistEnv | None = None) -> dict[str, int]:
    """``num_replicas`` and ``rank`` for :class:`~eegssm.data.sampling.BalancedSampler`.

    Every rank then draws the same balanced epoch (same seed and epoch) and takes its own
    interleaved share, so the class balance holds over the global batch.
    """
    if env is not None:
        return {"num_replicas": env.world_size, "rank": env.rank}
    return {"num_replicas": get_world_size(), "rank": get_rank()}


def wrap_model(model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed.

    The model must already be on its device. Returns ``model`` itself when not distributed or
    when it is already wrapped.
    """
    if not is_distributed() or isinstance(model, nn.parallel.DistributedDataParallel):
        return model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ids = None
    if device.type == "cuda":
        ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return nn.parallel.DistributedDataParallel(
        model,
        device_ids=ids,
        find_unused_parameters=find_unused_parameters,
    )


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (checkpoint keys without the ``module.`` prefix)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (a detached copy; the input itself when not distributed).

    A non-finite value on any rank makes the result non-finite on every rank, which is how the
    trainer's NaN guard reaches the same decision everywhere.
    """
    if not is_distributed():
        return value
    out = value.detach().clone().float()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (pickled; for small things like metric dicts)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(value: float) -> float:
    """Sum of a number over ranks (float64; the number itself when not distributed)."""
    if not is_distributed():
        return float(value)
    out = torch.tensor(float(value), dtype=torch.float64, device=_collective_device())
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return float(out)


def _collective_device() -> torch.device:
    """Where tensors for collectives live: the current CUDA device under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shard_rows(n: int, num_replicas: int | None = None, rank: int | None = None) -> slice:
    """This rank's rows of a global batch of ``n`` items: ``rank, rank + world, ...``.

    The convention of :class:`ShardedBatchSampler`; a loss that draws random numbers per item
    (masks) draws them for the ``n`` rows of the global batch and keeps these rows, so that the
    draws are those of a single process on the whole batch.
    """
    world = get_world_size() if num_replicas is None else num_replicas
    r = get_rank() if rank is None else rank
    return slice(r, n, world)


def global_mean_weight(local_count: float, global_count: float | None = None) -> float:
    """Factor that turns this rank's mean into its share of the mean over the global batch.

    DDP averages gradients over the ``world`` ranks. A loss that is a mean over ``local_count``
    things on this rank (items, or weights / masked samples in a ratio loss), multiplied by
    ``world · local_count / global_count``, then has the gradient of the mean over the global
    batch, whatever the split; the trainer's logged loss (the mean over ranks) is the global mean.

    Args:
        local_count: this rank's denominator (e.g. ``len(batch)``, ``weight[y].sum()``).
        global_count: the sum over ranks when already known (e.g. a mask drawn for the whole global
            batch); otherwise it is all-reduced (every rank must call this at the same point).

    Returns:
        ``1.0`` when not distributed (or when the global count is 0).
    """
    world = get_world_size()
    if world == 1:
        return 1.0
    total = all_reduce_sum(local_count) if global_count is None else float(global_count)
    return world * float(local_count) / total if total > 0 else 1.0


class ShardedBatchSampler(Sampler[list[int]]):
    """Global batches of ``sampler``'s order, of which this rank takes its interleaved shard.

    The global batch is ``batch_size`` consecutive indices of ``sampler`` (as ``BatchSampler``
    gives a single process); rank ``r`` of ``num_replicas`` yields its rows :func:`shard_rows`
    (``r, r + num_replicas, ...``). Shards of one global batch are disjoint and cover it; every rank
    yields the same number of batches (the trainer's steps stay in lock-step). With
    ``num_replicas=1`` it is ``BatchSampler(sampler, batch_size, drop_last)``.

    ``set_epoch`` is passed on to ``sampler``, whose order must be the same on every rank (e.g. it
    depends on a seed and the epoch only).

    Raises:
        ValueError: a global batch would have fewer items than ranks (a rank without data).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Iterable[int],
        batch_size: int,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank {rank} of {num_replicas}")
        if batch_size < num_replicas:
            raise ValueError(
                f"global batch size {batch_size} is smaller than the {num_replicas} ranks: "
                "raise the batch size or use fewer processes"
            )
        self.sampler = sampler
        self.batches = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.num_replicas, self.rank = num_replicas, rank
        if isinstance(sampler, Sized):
            tail = len(sampler) % batch_size
            if tail and not drop_last and tail < num_replicas:
                raise ValueError(
                    f"{len(sampler)} items in batches of {batch_size}: a batch of fewer items "
                    f"than the {num_replicas} ranks would leave a rank without data"
                )

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield batch[shard_rows(len(batch), self.num_replicas, self.rank)]

    def __len__(self) -> int:
        return len(self.batches)
