"""Safe unpacking of submission archives (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``).

Nothing is handed to ``extractall``: every member is checked first, then written by hand as a plain file
or folder inside the target. Refused, with a :class:`BenchmarkError` naming the archive and the member:

- a member whose path is absolute (``/x``, ``C:\\x``, ``\\\\host\\x``) or holds a ``..`` component;
- symbolic links, hard links, devices, FIFOs, or anything else that is not a file or a folder;
- more members than ``max_members``, or more bytes (uncompressed, counted while writing, not taken from
  what the archive declares) than ``max_bytes``;
- two members with the same path, a file where a folder is needed;
- an archive that is not one (bad magic, truncated gzip, bad CRC).

macOS Finder adds ``__MACOSX/`` and ``._*`` resource forks to the zips it makes; they are skipped and
reported back as notes, since they are not part of any submission.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from benchmark.core.errors import BenchmarkError

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_CHUNK = 1 << 20


@dataclass
class Unpacked:
    """Where an archive went: ``target`` (what was written) and ``root`` (the submission folder inside it)."""

    archive: Path
    target: Path
    root: Path
    n_files: int = 0
    n_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def is_archive(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def member_path(name: str, archive: Path) -> PurePosixPath | None:
    """The member's safe relative path, ``None`` for the archive's root, or a BenchmarkError."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise BenchmarkError(f"member {name!r} has an absolute path; archive members must be relative "
                             "to the submission folder", archive)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BenchmarkError(f"member {name!r} points outside the archive ('..' in its path); "
                             "pack the submission folder itself", archive)
    return PurePosixPath(*parts) if parts else None


def _is_macos_junk(rel: PurePosixPath) -> bool:
    return rel.parts[0] == "__MACOSX" or rel.name.startswith("._") or rel.name == ".DS_Store"


class _Writer:
    """Writes checked members under ``target``, counting files and bytes against the limits."""

    def __init__(self, archive: Path, target: Path, max_bytes: int, max_members: int):
        self.archive, self.target = archive, target
        self.max_bytes, self.max_members = max_bytes, max_members
        self.n_files = self.n_bytes = self.n_members = 0
        self.seen: set[PurePosixPath] = set()
        self.notes: list[str] = []

    def count(self, name: str) -> PurePosixPath | None:
        self.n_members += 1
        if self.n_members > self.max_members:
            raise BenchmarkError(f"more than {self.max_members:,} members (validation.max_members); "
                                 "a submission holds one file per id", self.archive)
        rel = member_path(name, self.archive)
        if rel is not None and _is_macos_junk(rel):
            if not self.notes:
                self.notes.append("skipped macOS metadata (__MACOSX/, ._* files)")
            return None
        return rel

    def _dest(self, rel: PurePosixPath) -> Path:
        dest = self.target.joinpath(*rel.parts)
        # belt and braces: the resolved path stays inside the target (member_path already refuses '..')
        if not str(dest.resolve()).startswith(str(self.target.resolve()) + os.sep):
            raise BenchmarkError(f"member {str(rel)!r} would be written outside the target folder", self.archive)
        return dest

    def folder(self, rel: PurePosixPath) -> None:
        dest = self._dest(rel)
        if dest.exists() and not dest.is_dir():
            raise BenchmarkError(f"member {str(rel)!r} is both a file and a folder", self.archive)
        dest.mkdir(parents=True, exist_ok=True)

    def file(self, rel: PurePosixPath, src) -> None:
        if rel in self.seen:
            raise BenchmarkError(f"member {str(rel)!r} appears twice", self.archive)
        self.seen.add(rel)
        dest = self._dest(rel)
        for parent in reversed(dest.relative_to(self.target).parents[:-1]):
            p = self.target / parent
            if p.exists() and not p.is_dir():
                raise BenchmarkError(f"member {str(rel)!r} needs {str(parent)!r} to be a folder, "
                                     "but it is a file", self.archive)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise BenchmarkError(f"member {str(rel)!r} is both a file and a folder", self.archive)
        # O_EXCL + O_NOFOLLOW: never write through anything that appeared at this path meanwhile
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as out:
            while block := src.read(_CHUNK):
                self.n_bytes += len(block)
                if self.n_bytes > self.max_bytes:
                    raise BenchmarkError(
                        f"unpacks to more than {self.max_bytes / 1e9:.3g} GB "
                        "(validation.max_unpacked_gb); is it a submission?", self.archive)
                out.write(block)
        self.n_files += 1


def _unpack_zip(archive: Path, w: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > w.max_members:
            raise BenchmarkError(f"{len(infos):,} members, more than {w.max_members:,} "
                                 "(validation.max_members); a submission holds one file per id", archive)
        if sum(i.file_size for i in infos) > w.max_bytes:  # early refusal; real bytes are counted too
            raise BenchmarkError(f"declares more than {w.max_bytes / 1e9:.3g} GB uncompressed "
                                 "(validation.max_unpacked_gb)", archive)
        for info in infos:
            rel = w.count(info.filename)
            if rel is None:
                continue
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise BenchmarkError(f"member {info.filename!r} is a symbolic link; links are not accepted, "
                                     "pack the files themselves", archive)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise BenchmarkError(f"member {info.filename!r} is not a plain file or folder", archive)
            if info.flag_bits & 0x1:
                raise BenchmarkError(f"member {info.filename!r} is encrypted; submit an unencrypted archive",
                                     archive)
            if info.is_dir() or kind == stat.S_IFDIR:
                w.folder(rel)
                continue
            with zf.open(info) as src:
                w.file(rel, src)


def _unpack_tar(archive: Path, w: _Writer) -> None:
    with tarfile.open(archive, mode="r:*") as tf:
        for member in tf:  # streams: a huge member list is cut off by the member count
            rel = w.count(member.name)
            if rel is None:
                continue
            if member.issym() or member.islnk():
                kind = "symbolic" if member.issym() else "hard"
                raise BenchmarkError(f"member {member.name!r} is a {kind} link (to {member.linkname!r}); "
                                     "links are not accepted, pack the files themselves", archive)
            if member.isdir():
                w.folder(rel)
                continue
            if not member.isreg():
                raise BenchmarkError(f"member {member.name!r} is a device, FIFO or other special file; "
                                     "only plain files and folders are accepted", archive)
            src = tf.extractfile(member)
            if src is None:  # pragma: no cover - isreg() members always have data
                raise BenchmarkError(f"member {member.name!r} has no data", archive)
            with src:
                w.file(rel, src)


def unpack_archive(archive: str | os.PathLike, target: str | os.PathLike, *, max_bytes: int = 60 * 10**9,
                   max_members: int = 100_000) -> Unpacked:
    """Unpack ``archive`` into ``target`` (created; must be absent or empty) and find the submission in it.

    The submission root is ``target`` when ``submission.yaml`` or ``volumes/`` sits at the top, or the
    single folder the archive holds (``team-system/submission.yaml``). On any error the partly written
    target is removed and a :class:`BenchmarkError` names the archive and the problem.
    """
    archive, target = Path(archive), Path(target)
    if archive.is_symlink():
        raise BenchmarkError("the archive is a symbolic link; give the file itself", archive)
    if not archive.is_file():
        raise BenchmarkError("archive not found", archive)
    if not is_archive(archive):
        raise BenchmarkError(f"not a supported archive; use one of {', '.join(ARCHIVE_SUFFIXES)}", archive)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BenchmarkError("the unpack folder exists and is not empty", target)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    w = _Writer(archive, target, max_bytes, max_members)
    try:
        if archive.name.lower().endswith(".zip"):
            _unpack_zip(archive, w)
        else:
            _unpack_tar(archive, w)
    except BenchmarkError:
        _clean(target, created)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error, OSError,
            ValueError, NotImplementedError, RuntimeError) as exc:
        _clean(target, created)
        kind = "zip" if archive.name.lower().endswith(".zip") else "tar"
        text = str(exc).strip().splitlines()
        detail = (text[0] if text else type(exc).__name__)[:200]
        raise BenchmarkError(f"cannot unpack this {kind} archive, it is truncated or corrupt ({detail})",
                             archive) from None
    return Unpacked(archive, target, find_root(target), w.n_files, w.n_bytes, w.notes)


def find_root(target: Path) -> Path:
    """``target`` itself, or its only sub-folder when the archive packed the submission folder."""
    if (target / "submission.yaml").exists() or (target / "volumes").exists():
        return target
    entries = list(target.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return target


def _clean(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
    else:
        for p in target.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_target(parent: str | os.PathLike, archive: str | os.PathLike) -> Iterator[Path]:
    """A fresh, absent ``target`` for :func:`unpack_archive` under ``<parent>/unpacked/``, removed on exit.

    For commands that need the unpacked files after validation (``score submission=team.zip``) when no
    ``validation.unpack_dir`` is given: each call gets its own folder (concurrent jobs never share one),
    beside the cache rather than in the system's temporary folder, since a submission may be large.
    """
    base = Path(parent) / "unpacked"
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{Path(archive).name}.", dir=base))
    try:
        yield folder / "submission"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
