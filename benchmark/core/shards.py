"""Work split into shards run as separate jobs by submitit (SLURM on a cluster, local processes here).

``run_shards(sharding, fn, *args)`` submits ``fn(*args, i, n)`` for ``i`` in ``0..n-1`` as one
job array through :class:`submitit.AutoExecutor` and waits for all of them; a shard that fails raises
:class:`~benchmark.core.errors.BenchmarkError` naming it and where its logs are. Each shard takes the items
``i::n`` of a list every job computes alike (:func:`shard_of`), so the shards cover the work once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

import submitit
from omegaconf import DictConfig, OmegaConf

from benchmark.core.errors import BenchmarkError

T = TypeVar("T")


@dataclass
class ExecutorConfig:
    """``scoring.executor``: where shard jobs run (submitit's AutoExecutor and its parameters).

    ``cluster``: ``local`` (processes on this machine), ``slurm`` (sbatch job array), ``debug`` (in this
    process, one after another). The ``slurm_*`` keys are ignored by the other clusters.
    """

    cluster: str = "local"
    folder: Optional[str] = None  # submitit's logs and pickles; default <paths.outputs_dir>/submitit/%j
    timeout_min: int = 120
    cpus_per_task: int = 1
    mem_gb: float = 8.0
    slurm_partition: Optional[str] = None
    slurm_account: Optional[str] = None
    slurm_array_parallelism: int = 64
    slurm_setup: list[str] = field(default_factory=list)  # e.g. ["source /path/to/.venv/bin/activate"]


@dataclass(frozen=True)
class Sharding:
    """``n`` shard jobs run by ``executor``, submitit's logs and pickles under ``folder``."""

    n: int
    executor: ExecutorConfig
    folder: Path


def sharding(cfg: DictConfig) -> Sharding:
    """``scoring.shards`` and ``scoring.executor`` (folder by default ``<paths.outputs_dir>/submitit/%j``)."""
    ex = ExecutorConfig(**OmegaConf.to_container(cfg.scoring.executor, resolve=True))
    return Sharding(int(cfg.scoring.shards), ex, Path(ex.folder or Path(cfg.paths.outputs_dir) / "submitit" / "%j"))


def shard_of(items: Sequence[T], index: int, n: int) -> list[T]:
    """The items of shard ``index`` of ``n``: every n-th from ``index`` (shards together cover each once)."""
    if not 0 <= index < n:
        raise BenchmarkError(f"shard {index} of {n}: no such shard")
    return list(items[index::n])


def _last_error(message: str) -> str:
    """The exception line of submitit's failure message (its trace sits between two rules of dashes)."""
    parts = message.split("\n----------------------\n")
    lines = [line for line in (parts[1] if len(parts) > 2 else message).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


def run_shards(sharding: Sharding, fn: Callable[..., T], *args: Any) -> list[T]:
    """``[fn(*args, i, n) for i in range(n)]``, each call a submitit job; waits for all, raises if one failed."""
    n, executor, folder = sharding.n, sharding.executor, sharding.folder
    if executor.cluster not in ("local", "slurm", "debug"):
        raise BenchmarkError(f"config: 'scoring.executor.cluster': {executor.cluster!r}; choose local, slurm or debug")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=executor.cluster)
    params = {k: v for k, v in dataclasses.asdict(executor).items()
              if k not in ("cluster", "folder") and v is not None and v != []}
    ex.update_parameters(name="benchmark-shard", **params)
    jobs = ex.map_array(fn, *[[a] * n for a in args], list(range(n)), [n] * n)
    out = []
    for i, job in enumerate(jobs):
        try:
            out.append(job.result())
        except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as exc:
            raise BenchmarkError(f"shard {i} of {n} (job {job.job_id}) failed: {_last_error(str(exc))} "
                                 f"(log: {job.paths.stderr})") from None
    return out
