"""``anonymize baseline=<name>``: run a defacing baseline over the participant kit and write a
complete submission under ``submissions/baseline-<name>/`` (resumable: finished volumes are kept).

A volume the baseline cannot anonymise (BenchmarkError) is never skipped: every such volume is listed
and the command exits non-zero, or, with ``baseline.on_failure=copy``, it is submitted unchanged and
listed under ``copied`` in submission.yaml, which scoring reports as a failure. The baseline's own
per-volume figures (a template baseline's registration quality) go to submission.yaml's ``quality``."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from benchmark.data.volume import load_volume, save_volume
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_path, file_lock, write_json
from benchmark.core.memory import freeze_heap
from benchmark.data.prepared import Prepared
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
    with file_lock(out.parent / f".{out.name}.lock"):  # concurrent jobs: one writes, the rest find it done
        return _anonymize_kit(prepared, baseline, out, name, max_voxels, show, workers, shards)


def _anonymize_kit(prepared: Prepared, baseline, out: Path, name: str, max_voxels: int, show: bool,
                   workers: int, shards: Sharding | None) -> Path:
    _start_or_resume(out, baseline_stamp(prepared, baseline))
    records = _read_records(out)
    todo = [vid for vid in prepared.ids() if not volume_path(out, vid).is_file()]
    kit = prepared.kit / "volumes"
    on_failure = getattr(baseline, "on_failure", "error")
    if shards is not None and shards.n > 1 and len(todo) > 1:
        for part in run_shards(shards, _anonymize_shard, baseline, kit.resolve(), out.resolve(), todo, max_voxels,
                               on_failure):
            records.update(part)
        print(f"anonymise ({name}): {len(todo)} volumes in {shards.n} shards ({shards.executor.cluster})", flush=True)
    else:
        records.update(_anonymize_here(baseline, kit, out, todo, max_voxels, on_failure, workers,
                                       f"anonymise ({name})", show))
    unrecorded = [vid for vid in todo if vid not in records]
    if unrecorded:
        raise BenchmarkError(f"{len(unrecorded)} volume(s) got no record from the anonymisation, e.g. {unrecorded[0]}",
                             out)
    records = {vid: records[vid] for vid in prepared.ids() if vid in records}
    write_json(_records_path(out), records)
    failed = {vid: r["error"] for vid, r in records.items() if "error" in r}
    if failed:
        for vid, reason in sorted(failed.items()):
            print(f"error: {vid}: {reason}", file=sys.stderr)
        raise BenchmarkError(f"{name}: {len(failed)} of {len(prepared.ids())} volumes could not be anonymised "
                             "(listed above); baseline.on_failure=copy submits them unchanged, marked as copies",
                             out)
    write_info(out, SubmissionInfo(
        team="baseline", system=name, description=f"reference defacing baseline '{name}' of the benchmark",
        copied={vid: r["copied"] for vid, r in records.items() if "copied" in r},
        quality={vid: r["quality"] for vid, r in records.items() if r.get("quality")}))
    return out


def _anonymize_one(baseline, src: Path, dst: Path, max_voxels: int, on_failure: str = "error") -> dict:
    """Anonymise one kit volume; its record: ``quality`` (the method's figures), and ``error`` (nothing
    written) or ``copied`` (the input written unchanged) with the reason when the method refused it."""
    freeze_heap()  # a worker's collection after the task walks only what the task made (benchmark.core.memory)
    img = load_volume(src, max_voxels, canonical=False, order="C")  # the same outputs as "K", faster
    try:
        out = baseline.anonymize(img)
    except BenchmarkError as exc:
        reason = str(exc)
        if on_failure != "copy":
            return {"error": reason}
        _copy(src, dst)
        return {"copied": reason}
    if _unchanged(img, out):  # every voxel kept (none): the kit file's own bytes, not a float32 re-encoding
        _copy(src, dst)
    else:
        save_volume(out, dst)
    return {"quality": baseline.quality(img)}


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _unchanged(img, out) -> bool:
    """Whether ``out`` holds ``img``'s voxel values on ``img``'s grid (its file can then stand for it)."""
    return (np.array_equal(np.asanyarray(out.dataobj), np.asanyarray(img.dataobj))
            and np.array_equal(out.affine, img.affine))


def _records_path(out: Path) -> Path:
    """Per-volume records (quality, copies, errors) beside the folder, kept while the stamp is unchanged."""
    return out.parent / f".{out.name}.volumes.json"


def _read_records(out: Path) -> dict[str, dict]:
    try:
        records = json.loads(_records_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # a volume that failed has no file and is tried again; one that was copied stays a copy
    return {vid: r for vid, r in records.items() if isinstance(r, dict) and "error" not in r} \
        if isinstance(records, dict) else {}


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
        _records_path(out).unlink(missing_ok=True)
        write_json(path, stamp)


def _anonymize_here(baseline, kit: Path, out: Path, todo: list[str], max_voxels: int, on_failure: str,
                    workers: int, label: str, show: bool) -> dict[str, dict]:
    """Anonymise ``todo`` in this process (or ``workers`` processes); their records."""
    jobs = [(kit / f"{vid}.nii.gz", volume_path(out, vid)) for vid in todo]
    if workers > 1 and len(todo) > 1:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_anonymize_one)(baseline, src, dst, max_voxels, on_failure) for src, dst in jobs)
    else:
        done = (_anonymize_one(baseline, src, dst, max_voxels, on_failure) for src, dst in jobs)
    return dict(zip(todo, progress(done, label, show, total=len(jobs))))


def _anonymize_shard(baseline, kit: Path, out: Path, todo: list[str], max_voxels: int, on_failure: str,
                     index: int, n: int) -> dict[str, dict]:
    """One shard job: anonymise volumes ``todo[index::n]``; their records."""
    return {vid: _anonymize_one(baseline, kit / f"{vid}.nii.gz", volume_path(out, vid), max_voxels, on_failure)
            for vid in shard_of(todo, index, n)}


def baseline_name(cfg: DictConfig) -> str:
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices["baseline"]
    except (ValueError, KeyError):
        return str(cfg.baseline._target_).rsplit(".", 1)[-1].lower()
