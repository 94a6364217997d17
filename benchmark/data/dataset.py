"""The dataset model: participants with attributes, MRI sessions and photographs (layout: docs/design.md).

    <root>/participants.tsv                                    participant_id, age, sex, ...
    <root>/sub-<id>/ses-<s>/anat/sub-<id>_ses-<s>_T1w.nii.gz   one T1w volume a session
    <root>/sub-<id>/photo/*.png|jpg                            photographs (optional)
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.core.errors import BenchmarkError

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Session:
    participant_id: str
    session_id: str
    t1w: Path


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
        try:
            return float(self.attributes.get("age", ""))
        except ValueError:
            return None

    def session_list(self) -> list[Session]:
        return list(self.sessions.values())


@dataclass
class Dataset:
    root: Path
    participants: dict[str, Participant]

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
            expected = self.root / participant_id / session_id / "anat" / f"{participant_id}_{session_id}_T1w.nii.gz"
            have = ", ".join(part.sessions) or "none"
            raise BenchmarkError(f"missing session (this participant has: {have})", expected) from None


def natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def load_dataset(root: str | os.PathLike) -> Dataset:
    """Read the layout of a dataset folder (headers and pixels are not read here).

    Participants come from ``participants.tsv``; a subject folder not listed there, a listed
    participant without a folder, or a session folder without its T1w file is an error naming it.
    """
    root = Path(root)
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
        participants[pid] = Participant(pid, attributes=row, sessions=_sessions(folder, pid),
                                        photos=_photos(folder / "photo"))
    unlisted = sorted(p.name for p in root.glob("sub-*") if p.is_dir() and p.name not in participants)
    if unlisted:
        raise BenchmarkError(f"subject folders not listed in participants.tsv: {', '.join(unlisted[:5])}", tsv)
    return Dataset(root=root, participants=participants)


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


def _sessions(folder: Path, pid: str) -> dict[str, Session]:
    sessions = {}
    for ses_dir in sorted((p for p in folder.glob("ses-*") if p.is_dir()), key=lambda p: natural_key(p.name)):
        sid = ses_dir.name
        matches = sorted((ses_dir / "anat").glob(f"{pid}_{sid}*_T1w.nii*"))
        if not matches:
            raise BenchmarkError("session folder has no T1w volume", ses_dir / "anat" / f"{pid}_{sid}_T1w.nii.gz")
        sessions[sid] = Session(pid, sid, matches[0])
    if not sessions:  # BIDS without sessions: sub-<id>/anat/sub-<id>_T1w.nii.gz is one session, "ses-1"
        matches = sorted((folder / "anat").glob(f"{pid}*_T1w.nii*"))
        if matches:
            sessions["ses-1"] = Session(pid, "ses-1", matches[0])
    return sessions


def _photos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES), key=lambda p: natural_key(p.name))


@dataclass
class BidsDataset:
    """A dataset already on disk in the layout above (``dataset=bids dataset.root=PATH``)."""

    root: str = "???"

    def materialise(self) -> Path:
        root = Path(self.root).expanduser()
        if self.root in ("", "???") or not root.is_dir():
            raise BenchmarkError("dataset folder not found; give it with dataset.root=PATH", root)
        return root.resolve()
