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


def anonymize_kit(prepared: Prepared, baseline, out: Path, name: str, max_voxels: int, show: bool = True) -> Path:
    """Anonymise every kit volume with ``baseline``; volumes already written are skipped."""
    ids = prepared.ids()
    for vid in progress(ids, f"anonymise ({name})", show):
        dst = volume_path(out, vid)
        if dst.is_file():
            continue
        src = prepared.kit / "volumes" / f"{vid}.nii.gz"
        img = load_volume(src, max_voxels, canonical=False)
        save_volume(baseline.anonymize(img), dst)
    write_info(out, SubmissionInfo(team="baseline", system=name,
                                   description=f"reference defacing baseline '{name}' of the benchmark"))
    return out


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
    anonymize_kit(prepared, build(cfg.baseline, "baseline"), out, name, cfg.limits.max_voxels, cfg.progress)
    print(out)
    return 0
