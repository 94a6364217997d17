"""The submission format: ``<dir>/submission.yaml`` (team, system, description; optional copied, quality) and
``<dir>/volumes/<id>.nii.gz`` for every id of the published list, each on the grid of the volume it replaces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_text

REQUIRED_FIELDS = ("team", "system", "description")


@dataclass
class SubmissionInfo:
    """submission.yaml. ``copied`` (written by ``anonymize`` with ``baseline.on_failure=copy``): id -> why the
    method could not anonymise that volume, submitted unchanged; ``quality``: id -> the method's own figures
    for that volume (a template baseline's registration, :mod:`benchmark.anatomy.placement`)."""

    team: str
    system: str
    description: str
    copied: dict[str, str] = field(default_factory=dict)
    quality: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.team}/{self.system}"


def read_info(folder: str | Path) -> SubmissionInfo:
    path = Path(folder) / "submission.yaml"
    if not path.is_file():
        raise BenchmarkError("submission.yaml is missing (fields: team, system, description)", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    if not isinstance(data, dict):
        raise BenchmarkError("must be a mapping with fields team, system, description", path)
    missing = [k for k in REQUIRED_FIELDS if not isinstance(data.get(k), str) or not data[k].strip()]
    if missing:
        raise BenchmarkError(f"missing or empty field(s): {', '.join(missing)}", path)
    copied = data.get("copied") or {}
    if not isinstance(copied, dict) or not all(isinstance(v, str) for v in copied.values()):
        raise BenchmarkError("field copied must map volume ids to reasons", path)
    quality = data.get("quality") or {}
    return SubmissionInfo(*(data[k].strip() for k in REQUIRED_FIELDS), copied={str(k): v for k, v in copied.items()},
                          quality=quality if isinstance(quality, dict) else {})


def write_info(folder: str | Path, info: SubmissionInfo) -> Path:
    """Write ``submission.yaml``: the fields in their declared order, ``copied`` and ``quality`` sorted, so
    equal information gives the same bytes (the file is part of the scored results' cache key)."""
    data = {k: v for k, v in asdict(info).items() if v or k in REQUIRED_FIELDS}
    for k in ("copied", "quality"):
        if k in data:
            data[k] = {vid: dict(sorted(v.items())) if isinstance(v, dict) else v for vid, v in sorted(data[k].items())}
    return write_text(Path(folder) / "submission.yaml", yaml.safe_dump(data, sort_keys=False))


def volume_path(folder: str | Path, volume_id: str) -> Path:
    return Path(folder) / "volumes" / f"{volume_id}.nii.gz"
