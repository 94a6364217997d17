"""``anonymize baseline=<name>``: run a defacing baseline over the participant kit and write a
complete submission under ``submissions/baseline-<name>/`` (resumable: finished volumes are kept)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from .config import build
from .data.volume import load_volume, save_volume
from .errors import BenchmarkError
from .prepare import Prepared, prepare
from .progress import progress
from .submission import SubmissionInfo, volume_path, write_info


def anonymize_kit(prepared: Prepared, baseline, out: Path, name: str, max_voxels: int, show: bool = True,
                  workers: int = 1) -> Path:
    """Anonymise every kit volume with ``baseline``; volumes already written are skipped.

    ``workers`` > 1 runs volumes in parallel processes (joblib); each volume's result does not depend
    on the others, so the files are the same as a serial run's.
    """
    todo = [vid for vid in prepared.ids() if not volume_path(out, vid).is_file()]
    kit = prepared.kit / "volumes"
    if workers > 1 and len(todo) > 1:
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


def _anonymize_one(baseline, src: Path, dst: Path, max_voxels: int) -> None:
    save_volume(baseline.anonymize(load_volume(src, max_voxels, canonical=False)), dst)


def baseline_name(cfg: DictConfig) -> str:
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices["baseline"]
    except (ValueError, KeyError):
        return str(cfg.baseline._target_).rsplit(".", 1)[-1].lower()


def run(cfg: DictConfig) -> int:
    if cfg.get("baseline") is None:
        raise BenchmarkError("choose a defacing baseline: baseline=<name> (see conf/baseline/)")
    prepared = prepare(cfg, write_kit=True)
    name = baseline_name(cfg)
    out = Path(cfg.paths.submissions_dir) / f"baseline-{name}"
    anonymize_kit(prepared, build(cfg.baseline, "baseline"), out, name, cfg.limits.max_voxels, cfg.progress,
                  cfg.workers)
    print(out)
    return 0
