"""``anonymize baseline=<name>``: run a defacing baseline over the participant kit and write a
complete submission under ``submissions/baseline-<name>/`` (resumable: finished volumes are kept)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import shutil
from pathlib import Path

from omegaconf import DictConfig

from benchmark.data.volume import load_volume, save_volume
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_json
from benchmark.data.prepare import Prepared
from benchmark.core.progress import progress
from benchmark.core.provenance import code_hash
from benchmark.core.shards import Sharding, run_shards, shard_of
from benchmark.submission.format import SubmissionInfo, volume_path, write_info


def anonymize_kit(prepared: Prepared, baseline, out: Path, name: str, max_voxels: int, show: bool = True,
                  workers: int = 1, shards: Sharding | None = None) -> Path:
    """Anonymise every kit volume with ``baseline``; volumes already written are skipped.

    ``workers`` > 1 runs volumes in parallel processes (joblib); ``shards`` with ``n`` > 1 runs them as
    ``n`` submitit jobs (:mod:`benchmark.core.shards`), each writing volumes ``i::n``. Each volume's result
    does not depend on the others, so the files are the same as a serial run's. ``submission.yaml``, which
    marks the folder finished, is written only once every volume is there.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:  # concurrent jobs: one writes, the rest find it done
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _anonymize_kit(prepared, baseline, out, name, max_voxels, show, workers, shards)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _anonymize_kit(prepared: Prepared, baseline, out: Path, name: str, max_voxels: int, show: bool,
                   workers: int, shards: Sharding | None) -> Path:
    _start_or_resume(out, baseline_stamp(prepared, baseline))
    todo = [vid for vid in prepared.ids() if not volume_path(out, vid).is_file()]
    kit = prepared.kit / "volumes"
    if shards is not None and shards.n > 1 and len(todo) > 1:
        run_shards(shards, _anonymize_shard, baseline, kit.resolve(), out.resolve(), todo, max_voxels)
        missing = [vid for vid in todo if not volume_path(out, vid).is_file()]
        if missing:
            raise BenchmarkError(f"{out}: {len(missing)} volume(s) not written by the shard jobs, e.g. {missing[0]}")
        print(f"anonymise ({name}): {len(todo)} volumes in {shards.n} shards ({shards.executor.cluster})", flush=True)
    elif workers > 1 and len(todo) > 1:
        from joblib import Parallel, delayed

        jobs = (delayed(_anonymize_one)(baseline, kit / f"{vid}.nii.gz", volume_path(out, vid), max_voxels)
                for vid in todo)
        for _ in progress(Parallel(n_jobs=workers, return_as="generator")(jobs), f"anonymise ({name})", show,
                          total=len(todo)):
            pass
    else:
        for vid in progress(todo, f"anonymise ({name})", show):
            _anonymize_one(baseline, kit / f"{vid}.nii.gz", volume_path(out, vid), max_voxels)
    write_info(out, SubmissionInfo(team="baseline", system=name,
                                   description=f"reference defacing baseline '{name}' of the benchmark"))
    return out


def baseline_dir(submissions_dir: str | Path, name: str) -> Path:
    """Where a reference baseline's submission lives: ``<submissions_dir>/baseline-<name>``."""
    return Path(submissions_dir) / f"baseline-{name}"


def baseline_stamp(prepared: Prepared, baseline) -> dict:
    """What a baseline submission was made from: the prepared cohort, the baseline's class, parameters
    and code (its module and the project modules it imports: :func:`benchmark.core.provenance.code_hash`).
    Finished volumes are reused only while the stamp is unchanged."""
    cls = type(baseline)
    params = {f.name: repr(getattr(baseline, f.name)) for f in dataclasses.fields(baseline)
              if isinstance(getattr(baseline, f.name), (bool, int, float, str, list, tuple, dict, type(None)))
              } if dataclasses.is_dataclass(baseline) else {}
    return {"prepared": prepared.fingerprint, "class": f"{cls.__module__}.{cls.__qualname__}", "params": params,
            "source": code_hash(cls.__module__)}


def _start_or_resume(out: Path, stamp: dict) -> None:
    """Keep ``out``'s finished volumes if they were made from the same stamp; otherwise start afresh.

    The stamp lives beside the folder (``.<folder>.json``), since a submission holds nothing else.
    """
    path = out.parent / f".{out.name}.json"
    try:
        same = json.loads(path.read_text(encoding="utf-8")) == stamp
    except (OSError, ValueError):
        same = False
    if not same:
        if out.exists():
            shutil.rmtree(out)
        write_json(path, stamp)


def _anonymize_shard(baseline, kit: Path, out: Path, todo: list[str], max_voxels: int, index: int, n: int) -> int:
    """One shard job: anonymise volumes ``todo[index::n]``; how many."""
    mine = shard_of(todo, index, n)
    for vid in mine:
        _anonymize_one(baseline, kit / f"{vid}.nii.gz", volume_path(out, vid), max_voxels)
    return len(mine)


def _anonymize_one(baseline, src: Path, dst: Path, max_voxels: int) -> None:
    save_volume(baseline.anonymize(load_volume(src, max_voxels, canonical=False)), dst)


def baseline_name(cfg: DictConfig) -> str:
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices["baseline"]
    except (ValueError, KeyError):
        return str(cfg.baseline._target_).rsplit(".", 1)[-1].lower()
