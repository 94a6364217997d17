"""The dataset model: participants with attributes, MRI scans and photographs (layout: docs/design.md).

    <root>/participants.tsv                                        participant_id, age, sex, ... (n/a: unknown)
    <root>/sub-<id>/ses-<s>/anat/sub-<id>_ses-<s>[_...]_<suffix>.nii.gz   anatomical scans
    <root>/sub-<id>/photo/*.png|jpg                                photographs (optional)

``<suffix>`` is a BIDS anatomical contrast (``T1w``, ``T2w``, ``FLAIR``, ``PDw``, ``T2starw``, ...); the
contrasts read are chosen (``dataset.contrasts``, default ``[T1w]``). Each scan is one :class:`Session`
entry: a session folder holding one chosen contrast keeps its label (``ses-1``), one holding several
gives one entry per contrast (``ses-1_T1w``, ``ses-1_T2w``), in the order of ``contrasts``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from benchmark.core.errors import BenchmarkError

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_CONTRASTS = ("T1w",)


@dataclass(frozen=True)
class Session:
    """One scan: its participant, its entry label (see the module docstring), file and contrast."""

    participant_id: str
    session_id: str
    path: Path
    contrast: str = "T1w"


@dataclass
class Participant:
    participant_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)  # in natural order of the session labels
    photos: list[Path] = field(default_factory=list)

    @property
    def sex(self) -> str | None:
        value = self.attributes.get("sex", "").strip().upper()
        return value[:1] if value[:1] in ("M", "F") else None

    @property
    def age(self) -> float | None:
        """The age in years, or None when unknown (``n/a``, empty, not a finite number)."""
        try:
            age = float(self.attributes.get("age", ""))
        except ValueError:
            return None
        return age if math.isfinite(age) else None

    @property
    def ancestry(self) -> str | None:
        """The ``ancestry`` column of participants.tsv (the synthetic cohort's appearance cluster), if any."""
        value = self.attributes.get("ancestry", "").strip()
        return value or None

    def session_list(self) -> list[Session]:
        return list(self.sessions.values())


@dataclass
class Dataset:
    root: Path
    participants: dict[str, Participant]
    contrasts: tuple[str, ...] = DEFAULT_CONTRASTS  # the BIDS suffixes read
    trial_contrasts: tuple[str, ...] = ()  # trials drawn from these contrasts, enrollments from the others

    def __len__(self) -> int:
        return len(self.participants)

    def participant(self, participant_id: str) -> Participant:
        try:
            return self.participants[participant_id]
        except KeyError:
            raise BenchmarkError(f"participant {participant_id!r} is not in participants.tsv",
                                 self.root / "participants.tsv") from None

    def session(self, participant_id: str, session_id: str) -> Session:
        part = self.participant(participant_id)
        try:
            return part.sessions[session_id]
        except KeyError:
            expected = self.root / participant_id / session_id / "anat" / f"{participant_id}_{session_id}_{self.contrasts[0]}.nii.gz"
            have = ", ".join(part.sessions) or "none"
            raise BenchmarkError(f"missing session (this participant has: {have})", expected) from None


def natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def load_dataset(root: str | os.PathLike, contrasts: Sequence[str] = DEFAULT_CONTRASTS,
                 trial_contrasts: Sequence[str] = ()) -> Dataset:
    """Read the layout of a dataset folder (headers and pixels are not read here).

    Participants come from ``participants.tsv``; a subject folder not listed there, a listed
    participant without a folder, or a session folder without a scan of any chosen contrast is an
    error naming it. ``trial_contrasts`` (a subset of ``contrasts``, or empty) pairs contrasts in the
    trial lists (:func:`benchmark.data.splits.make_splits`).
    """
    root = Path(root)
    contrasts, trial_contrasts = _contrasts(contrasts, trial_contrasts)
    if not root.is_dir():
        raise BenchmarkError("dataset folder not found (set dataset.root=PATH)", root)
    tsv = root / "participants.tsv"
    if not tsv.is_file():
        raise BenchmarkError("participants.tsv is missing; a dataset needs one (participant_id, age, sex, ...)",
                             tsv)
    rows = _read_tsv(tsv)
    participants: dict[str, Participant] = {}
    for row in rows:
        pid = row.pop("participant_id")
        folder = root / pid
        if not folder.is_dir():
            raise BenchmarkError(f"participant {pid} is listed in participants.tsv but has no folder", folder)
        participants[pid] = Participant(pid, attributes=row, sessions=_sessions(folder, pid, contrasts),
                                        photos=_photos(folder / "photo"))
    unlisted = sorted(p.name for p in root.glob("sub-*") if p.is_dir() and p.name not in participants)
    if unlisted:
        raise BenchmarkError(f"subject folders not listed in participants.tsv: {', '.join(unlisted[:5])}", tsv)
    return Dataset(root=root, participants=participants, contrasts=contrasts, trial_contrasts=trial_contrasts)


def _contrasts(contrasts: Sequence[str], trial_contrasts: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Checked contrast lists: BIDS suffixes (letters and digits), trial contrasts among the chosen ones."""
    contrasts, trial_contrasts = tuple(contrasts), tuple(trial_contrasts or ())
    bad = [c for c in (*contrasts, *trial_contrasts) if not re.fullmatch(r"[A-Za-z0-9]+", str(c))]
    if not contrasts or bad:
        raise BenchmarkError(f"config: 'dataset.contrasts': give BIDS suffixes such as [T1w, T2w], got {list(contrasts)}"
                             + (f" (not a suffix: {bad})" if bad else ""))
    stray = [c for c in trial_contrasts if c not in contrasts]
    if stray:
        raise BenchmarkError(f"config: 'dataset.trial_contrasts': {stray} not in dataset.contrasts {list(contrasts)}")
    return contrasts, trial_contrasts


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not reader.fieldnames or "participant_id" not in reader.fieldnames:
            raise BenchmarkError("first line must be a tab-separated header with a participant_id column", path)
        rows = []
        for i, row in enumerate(reader, start=2):
            pid = (row.get("participant_id") or "").strip()
            if not re.fullmatch(r"sub-[A-Za-z0-9]+", pid):
                raise BenchmarkError(f"line {i}: participant_id {pid!r} is not of the form sub-<label>", path)
            rows.append({k: (v or "").strip() for k, v in row.items() if k is not None})
    ids = [r["participant_id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise BenchmarkError(f"participant_id listed twice: {', '.join(dup)}", path)
    if not rows:
        raise BenchmarkError("no participants listed", path)
    return rows


def _sessions(folder: Path, pid: str, contrasts: tuple[str, ...]) -> dict[str, Session]:
    sessions: dict[str, Session] = {}
    for ses_dir in sorted((p for p in folder.glob("ses-*") if p.is_dir()), key=lambda p: natural_key(p.name)):
        sid = ses_dir.name
        scans = _scans(ses_dir / "anat", f"{pid}_{sid}", contrasts)
        if not scans:
            raise BenchmarkError(f"session folder has no {' or '.join(contrasts)} volume (dataset.contrasts)",
                                 ses_dir / "anat" / f"{pid}_{sid}_{contrasts[0]}.nii.gz")
        sessions.update(_entries(pid, sid, scans))
    if not sessions:  # BIDS without sessions: sub-<id>/anat/sub-<id>_T1w.nii.gz is one session, "ses-1"
        sessions.update(_entries(pid, "ses-1", _scans(folder / "anat", pid, contrasts)))
    return sessions


def _scans(anat: Path, prefix: str, contrasts: tuple[str, ...]) -> dict[str, Path]:
    """contrast -> the first scan of that contrast (natural order of the file names) in ``anat``."""
    found = {}
    for contrast in contrasts:
        matches = sorted(anat.glob(f"{prefix}*_{contrast}.nii*"), key=lambda p: natural_key(p.name))
        matches = [m for m in matches if m.name.endswith((".nii", ".nii.gz"))]
        if matches:
            found[contrast] = matches[0]
    return found


def _entries(pid: str, sid: str, scans: dict[str, Path]) -> dict[str, Session]:
    if len(scans) == 1:
        (contrast, path), = scans.items()
        return {sid: Session(pid, sid, path, contrast)}
    return {f"{sid}_{c}": Session(pid, f"{sid}_{c}", path, c) for c, path in scans.items()}


def _photos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES), key=lambda p: natural_key(p.name))


@dataclass
class BidsDataset:
    """A dataset already on disk in the layout above (``dataset=bids dataset.root=PATH``).

    contrasts: the BIDS suffixes read (several allowed); trial_contrasts: when given, trial volumes are
    scans of these contrasts and enrollments scans of the others (enroll T1w, trial T2w).
    """

    root: str = "???"
    contrasts: list[str] = field(default_factory=lambda: list(DEFAULT_CONTRASTS))
    trial_contrasts: list[str] = field(default_factory=list)

    def load(self, progress: bool = True) -> Dataset:
        """The dataset's layout, read from :meth:`materialise`'s folder with these contrasts (``progress``:
        for the datasets that build themselves)."""
        return load_dataset(self.materialise(), self.contrasts, self.trial_contrasts)

    def materialise(self) -> Path:
        root = Path(self.root).expanduser()
        if self.root in ("", "???") or not root.is_dir():
            raise BenchmarkError("dataset folder not found; give it with dataset.root=PATH", root)
        return root.resolve()
