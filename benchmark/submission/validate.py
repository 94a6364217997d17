"""``validate``: check a submission folder or archive against the published list of ids.

A valid submission (see ``submissions/README.md``) is a folder, or a ``.zip`` / ``.tar.gz`` / ``.tgz`` of
one, holding ``submission.yaml`` (team, system, description) and ``volumes/<id>.nii.gz`` for every id of
the kit's ``ids.txt`` and nothing else. Each volume is a readable 3D NIfTI on the grid (shape and affine,
to ``affine_atol`` mm) of the volume the participant received, with finite values, not all zero, within
the size limits. No symbolic link, special file or path leaving the folder is accepted anywhere.

:func:`validate_submission` never raises for a problem of the submission: it returns a
:class:`ValidationReport` with one entry per file (and global errors), so that one bad file does not
hide the others. The kit's own problems (missing ``ids.txt``) raise :class:`BenchmarkError`.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml
from omegaconf import DictConfig

from benchmark.core.config import ValidationConfig, typed
from benchmark.data.volume import check_data, read_header
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_path, sha256_file, write_json
from benchmark.submission.format import read_info
from benchmark.submission.unpack import is_archive, unpack_archive

MB = 10**6
GB = 10**9
REPORT_NAME = "validation.json"
INFO_NAME = "submission.yaml"
VOLUME_SUFFIX = ".nii.gz"
VALIDATED_STAGE = "validated"  # the cache folder of volumes whose voxel data passed the check
DATA_CHECK_VERSION = 1  # part of that cache's key: bump when the data check changes
#: team and system names end up in paths, MLflow tags and the leaderboard
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")




@dataclass
class FileEntry:
    """One line of the report: a volume id (or a path, for files that are not volumes)."""

    id: str
    path: str  # relative to the submission folder
    status: str  # "ok", or the problem: missing, extra, stray, link, too_large, unreadable, grid, data, invalid
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ValidationReport:
    submission: str  # what was given (folder or archive)
    root: str  # the folder that was checked (inside the unpack folder for an archive)
    ok: bool = False
    team: Optional[str] = None
    system: Optional[str] = None
    n_expected: int = 0
    n_ok: int = 0
    total_bytes: int = 0
    files: list[FileEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # global: not tied to one file
    warnings: list[str] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def file_errors(self) -> list[FileEntry]:
        return [f for f in self.files if not f.ok]

    @property
    def n_errors(self) -> int:
        return len(self.errors) + len(self.file_errors)

    def reason(self, max_items: int = 3) -> str:
        """One line saying why the submission failed ("" when it is valid), for tags and the leaderboard."""
        items = list(self.errors) + [f"{f.path}: {f.message}" for f in self.file_errors]
        if not items:
            return ""
        head = "; ".join(items[:max_items])
        more = f" (+{len(items) - max_items} more)" if len(items) > max_items else ""
        return f"{len(items)} error(s): {head}{more}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n_errors"] = self.n_errors
        d["reason"] = self.reason()
        return d

    def lines(self) -> list[str]:
        """The per-file report: one line per file (id, OK or the problem), then global errors and a summary."""
        width = max([len(f.id) for f in self.files] + [8])
        out = [f"{f.id:<{width}}  {'OK' if f.ok else 'ERROR ' + f.message}" for f in self.files]
        out += [f"{'(global)':<{width}}  ERROR {e}" for e in self.errors]
        out += [f"{'(global)':<{width}}  warning: {w}" for w in self.warnings]
        who = f"{self.team}/{self.system}" if self.team and self.system else self.submission
        verdict = "VALID" if self.ok else f"INVALID, {self.n_errors} error(s)"
        out.append(f"{who}: {verdict}; {self.n_ok} of {self.n_expected} volumes OK, "
                   f"{_size(self.total_bytes)}")
        return out


def read_ids(kit_dir: str | os.PathLike) -> list[str]:
    path = Path(kit_dir) / "ids.txt"
    if not path.is_file():
        raise BenchmarkError("the kit's list of ids is missing; run `python -m benchmark prepare` first", path)
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise BenchmarkError("the kit's list of ids is empty", path)
    return ids


def _size(n: float) -> str:
    for unit, scale in (("GB", GB), ("MB", MB), ("kB", 1000)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _strip_path(exc: BenchmarkError) -> str:
    text = str(exc)
    return text[len(exc.path) + 2:] if exc.path and text.startswith(exc.path + ": ") else text


def validate_submission(submission: str | os.PathLike, kit_dir: str | os.PathLike,
                        limits: ValidationConfig | None = None,
                        cache_dir: str | os.PathLike | None = None) -> ValidationReport:
    """Check a submission folder or archive against the kit (``ids.txt`` and the received volumes).

    An archive is unpacked into ``limits.unpack_dir`` (kept, e.g. for scoring) or a temporary folder
    (removed before returning). Returns the report; ``report.ok`` is True only when nothing is wrong.
    ``cache_dir``: where a volume whose voxel data passed the check is remembered by content (its and
    the kit volume's SHA-256, the data limits): a rerun reads its header and grid again, not every voxel.
    """
    limits = limits or ValidationConfig()
    kit_dir = Path(kit_dir)
    ids = read_ids(kit_dir)
    submission = Path(submission)
    report = ValidationReport(submission=str(submission), root=str(submission), n_expected=len(ids),
                              limits=asdict(limits))
    if submission.is_symlink():
        report.errors.append(f"{submission} is a symbolic link; give the folder or archive itself")
        return report
    if not submission.exists():
        report.errors.append(f"{submission} not found")
        return report
    if submission.is_dir():
        _check_folder(submission, ids, kit_dir, limits, report, cache_dir)
        return report
    if not is_archive(submission):
        report.errors.append(f"{submission.name} is neither a folder nor an archive (.zip, .tar.gz, .tgz, .tar)")
        return report
    tmp = None
    if limits.unpack_dir:
        target = Path(limits.unpack_dir)
    else:
        tmp = tempfile.mkdtemp(prefix="submission-")
        target = Path(tmp) / "unpacked"
    try:
        try:
            unpacked = unpack_archive(submission, target, max_bytes=int(limits.max_unpacked_gb * GB),
                                      max_members=limits.max_members)
        except BenchmarkError as exc:
            where = submission.name if exc.path == str(submission) else exc.path
            report.errors.append(f"{where}: {_strip_path(exc)}")
            return report
        report.warnings += unpacked.notes
        report.root = str(unpacked.root)
        _check_folder(unpacked.root, ids, kit_dir, limits, report, cache_dir)
        if unpacked.root != unpacked.target:
            for p in unpacked.target.iterdir():
                if p != unpacked.root:
                    report.files.append(FileEntry(p.name, f"../{p.name}", "stray",
                                                  "unexpected entry beside the submission folder"))
            report.ok = report.ok and report.n_errors == 0
        return report
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_folder(root: Path, ids: list[str], kit_dir: Path, limits: ValidationConfig,
                  report: ValidationReport, cache_dir: str | os.PathLike | None = None) -> None:
    found = _walk(root, set(ids), report)
    extra = [f for f in report.files if f.status == "extra"]
    if extra and limits.ignore_extra:  # scoring from a dev kit: the volumes it does not list are not read
        report.files = [f for f in report.files if f.status != "extra"]
        report.warnings.append(f"{len(extra)} volume(s) not in {kit_dir / 'ids.txt'} ignored (not read)")
    info_ok = _check_info(root, report)
    if report.total_bytes > limits.max_total_gb * GB:
        report.errors.append(f"the submission holds {_size(report.total_bytes)}, over the limit of "
                             f"{_size(limits.max_total_gb * GB)} (validation.max_total_gb={limits.max_total_gb:g})")
    entries = _check_ids(ids, found, kit_dir, limits, cache_dir)
    report.n_ok = sum(e.ok for e in entries)
    report.files = entries + ([FileEntry(INFO_NAME, INFO_NAME, "ok")] if info_ok else []) + report.files
    report.ok = report.n_errors == 0


def _walk(root: Path, wanted: set[str], report: ValidationReport) -> dict[str, tuple[Path, int]]:
    """Walk without following links: every entry must be a plain file or folder inside the root. Returns
    the volumes of the ``wanted`` ids (id -> (path, size)); every other entry is reported; sizes are summed."""
    real_root = os.path.realpath(root)
    found: dict[str, tuple[Path, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            problem = _not_plain(p, rel, st, real_root)
            if problem is None and stat.S_ISREG(st.st_mode):
                if rel != REPORT_NAME:  # the report an earlier validation wrote is not the participant's
                    report.total_bytes += st.st_size
                problem = _not_expected(rel, name, wanted)
                if problem is None and rel not in (INFO_NAME, REPORT_NAME):
                    found[name[: -len(VOLUME_SUFFIX)]] = (p, st.st_size)
            if problem is not None:
                report.files.append(problem)
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
    return found


def _not_plain(p: Path, rel: str, st: os.stat_result, real_root: str) -> Optional[FileEntry]:
    """The problem of an entry that is a link, leads outside the root, or is neither a file nor the volumes folder."""
    if stat.S_ISLNK(st.st_mode):
        return FileEntry(rel, rel, "link", f"is a symbolic link (to {os.readlink(p)!r}); "
                         "links are not accepted, copy the file itself")
    if not os.path.realpath(p).startswith(real_root + os.sep):
        return FileEntry(rel, rel, "outside", "resolves outside the submission folder")
    if stat.S_ISDIR(st.st_mode):
        return None if rel == "volumes" else FileEntry(rel, rel, "stray", "unexpected folder; a submission holds "
                                                        "only submission.yaml and volumes/<id>.nii.gz")
    if not stat.S_ISREG(st.st_mode):
        return FileEntry(rel, rel, "stray", "is a device, FIFO or socket, not a file")
    return None


def _not_expected(rel: str, name: str, wanted: set[str]) -> Optional[FileEntry]:
    """The problem of a file that is neither submission.yaml, the report, nor a volume of a wanted id."""
    if rel in (INFO_NAME, REPORT_NAME):
        return None
    if rel.startswith("volumes/") and rel.count("/") == 1:
        if name.endswith(VOLUME_SUFFIX):
            vid = name[: -len(VOLUME_SUFFIX)]
            return None if vid in wanted else FileEntry(vid, rel, "extra", "extra id, not in the published list "
                                                        "(kit/ids.txt); remove it")
        if name.endswith(".nii"):
            return FileEntry(name, rel, "stray", f"uncompressed NIfTI; submit it gzipped as volumes/{name}.gz")
    return FileEntry(rel, rel, "stray", "unexpected file; a submission holds only "
                     "submission.yaml and volumes/<id>.nii.gz")


def _check_info(root: Path, report: ValidationReport) -> bool:
    """Check submission.yaml; set the report's team and system; whether it is valid."""
    info_path = root / INFO_NAME
    if info_path.is_symlink():
        return False  # already reported as a link
    if info_path.is_file() and info_path.stat().st_size > MB:
        report.files.append(FileEntry(INFO_NAME, INFO_NAME, "invalid", "over 1 MB; it holds three short fields"))
        return False
    try:
        info = read_info(root)
        bad = [f"{k} {v!r}" for k, v in (("team", info.team), ("system", info.system)) if not NAME_RE.match(v)]
        if bad:
            raise BenchmarkError(f"{' and '.join(bad)}: use letters, digits, '.', '_' or '-' "
                                 "(at most 64, starting with a letter or digit)", info_path)
        report.team, report.system = info.team, info.system
        extra = sorted(set(yaml.safe_load(info_path.read_text(encoding="utf-8"))) -
                       {"team", "system", "description", "copied", "quality"})
        if extra:
            report.warnings.append(f"{INFO_NAME}: fields ignored: {', '.join(map(str, extra))}")
        return True
    except BenchmarkError as exc:
        report.files.append(FileEntry(INFO_NAME, INFO_NAME, "invalid", _strip_path(exc)))
        return False


def _check_ids(ids: list[str], found: dict[str, tuple[Path, int]], kit_dir: Path,
               limits: ValidationConfig, cache_dir: str | os.PathLike | None = None) -> list[FileEntry]:
    """Every id of the kit: present, within the size limit, then header, grid and data (in threads)."""
    max_file = limits.max_file_mb * MB

    def check(vid: str) -> FileEntry:
        rel = f"volumes/{vid}{VOLUME_SUFFIX}"
        if vid not in found:
            return FileEntry(vid, rel, "missing", f"missing: {rel} (every id of kit/ids.txt is required)")
        path, size = found[vid]
        if size > max_file:
            return FileEntry(vid, rel, "too_large", f"{_size(size)}, over the limit of "
                             f"{_size(max_file)} per file (validation.max_file_mb={limits.max_file_mb:g})")
        return _check_volume(vid, rel, path, kit_dir, limits, cache_dir)

    workers = max(1, int(limits.workers))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(check, ids))
    return [check(v) for v in ids]


def _data_checked(path: Path, ref_path: Path, limits: ValidationConfig, cache_dir) -> Path | None:
    """The marker of a volume whose voxel data passed the check (None without a cache): keyed by its and the
    kit volume's content and by the limits the check applies."""
    if cache_dir is None:
        return None
    key = f"{sha256_file(path)[:32]}-{sha256_file(ref_path)[:16]}-{DATA_CHECK_VERSION}-{limits.max_voxels}"
    return Path(cache_dir) / VALIDATED_STAGE / f"{key}.ok"


def _check_volume(vid: str, rel: str, path: Path, kit_dir: Path, limits: ValidationConfig,
                  cache_dir: str | os.PathLike | None = None) -> FileEntry:
    try:
        img = read_header(path, limits.max_voxels)
    except BenchmarkError as exc:
        return FileEntry(vid, rel, "unreadable", _strip_path(exc))
    ref_path = kit_dir / "volumes" / f"{vid}{VOLUME_SUFFIX}"
    try:
        ref = read_header(ref_path)
    except BenchmarkError as exc:  # the organisers' side: say so plainly
        return FileEntry(vid, rel, "invalid", f"cannot read the kit's volume to compare with: {exc}")
    shape, ref_shape = tuple(img.shape[:3]), tuple(ref.shape[:3])
    if shape != ref_shape:
        return FileEntry(vid, rel, "grid", f"shape {shape} differs from the received volume's {ref_shape}; "
                         "keep the grid of the volume you received")
    diff = float(np.max(np.abs(img.affine - ref.affine)))
    if not diff <= limits.affine_atol:
        return FileEntry(vid, rel, "grid", f"affine differs from the received volume's by up to {diff:.4g} mm "
                         f"(tolerance validation.affine_atol={limits.affine_atol:g}); keep the received "
                         "affine (do not reorient or resample)")
    marker = _data_checked(path, ref_path, limits, cache_dir) if limits.check_data else None
    if limits.check_data and not (marker is not None and marker.is_file()):
        try:
            data = np.asanyarray(img.dataobj)
        except (OSError, EOFError, zlib.error, ValueError, TypeError, MemoryError) as exc:
            text = str(exc).strip().splitlines()
            detail = (text[0] if text else type(exc).__name__)[:200]
            return FileEntry(vid, rel, "unreadable", f"cannot read the voxel data, the file is truncated or "
                             f"corrupt ({detail})")
        if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
            return FileEntry(vid, rel, "data", f"voxel type {data.dtype} is not a real number type")
        try:
            check_data(data)
        except BenchmarkError as exc:
            return FileEntry(vid, rel, "data", _strip_path(exc))
        if marker is not None:
            with atomic_path(marker) as tmp:
                tmp.write_bytes(b"")
    return FileEntry(vid, rel, "ok")


def report_path(submission: str | os.PathLike, limits: ValidationConfig) -> Path:
    """``validation.report``, else ``<folder>/validation.json``, else ``<archive>.validation.json`` beside it."""
    if limits.report:
        return Path(limits.report)
    sub = Path(submission)
    if sub.is_dir() and not sub.is_symlink():
        return sub / REPORT_NAME
    return sub.parent / f"{sub.name}.{REPORT_NAME}"


def write_report(report: ValidationReport, path: str | os.PathLike) -> Path:
    try:
        return write_json(path, report.to_dict())
    except OSError as exc:
        raise BenchmarkError(f"cannot write the report ({exc.strerror}); set validation.report=PATH", path) from None


def validation_config(cfg: DictConfig | dict | None) -> ValidationConfig:
    """``cfg.validation`` (defaults when absent), with ``limits.max_voxels`` from the config and, unless
    ``validation.workers`` is set (> 0), the top-level ``workers`` as its number of threads."""
    out = typed(ValidationConfig, cfg.get("validation") if cfg is not None else None, "validation")
    limits = cfg.get("limits") if cfg is not None else None
    if limits is not None and limits.get("max_voxels") is not None:
        out.max_voxels = int(limits.get("max_voxels"))
    if out.workers <= 0:
        out.workers = max(1, int(cfg.get("workers") or 1)) if cfg is not None else 1
    return out
