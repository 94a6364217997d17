"""The dev kit: what a participant needs to score their own dev submission, without the organiser's files.

``prepare`` writes it beside the participant kit; organisers may hand it out::

    kit-dev/
        README.md
        ids.txt                       the volumes a dev evaluation reads (dev split and attacker's pool)
        volumes/<id>.nii.gz           their originals, as in kit/ (clean headers, the same pseudonyms)
        participants.tsv              pseudonymous person id, age, sex (age and sex of dev persons only)
        key.tsv                       pseudonym -> person id, split, role
        enrollments.tsv               photo enrollment id -> person id
        photos/<person id>/<n>.<ext>  the photographs (photo2mri enrollment, the attacker's pool)
        trials/dev/<condition>/trials, trials_same_sex
        splits.json                   the notes of the dev split

Only the dev split and the semi-informed attacker's training pool (persons disjoint from test, the
attacker's own data, as VoicePrivacy hands out its attacker training data) are written: nothing of
test. Person pseudonyms keep the order of the real ids, so the person-level bootstrap, permutations
and folds (which sort persons) draw the same samples as the organiser's scoring: a dev submission
scored from the kit alone (:func:`load_dev_kit`) gets the organiser's figures.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_json, write_text
from benchmark.core.keys import ALL_SPLITS, CONDITIONS, DEV, TRAIN
from benchmark.data.dataset import Dataset, Participant, Session
from benchmark.data.prepared import Prepared
from benchmark.data.splits import Splits, Trial, TrialList, VolumeEntry

DEV_KIT = "kit-dev"
README = """# Dev kit

Score your own system on the dev split, on your machine:

    python -m benchmark score submission=<your submission folder> split=dev kit=<this folder>

Your submission is the folder you would send (submission.yaml, volumes/<id>.nii.gz for the ids of
kit/ids.txt); only the volumes listed in `ids.txt` here are read (the dev split and the attacker's
training pool), the others are ignored. `volumes/` holds the originals of those volumes, under the
pseudonyms of kit/; `key.tsv`, `enrollments.tsv`, `participants.tsv` and `trials/` say which trials
are mated. The test split is not in this kit.
"""


def dev_kit_dir(prepared: Prepared) -> Path:
    return prepared.root / DEV_KIT


def write_dev_kit(prepared: Prepared) -> Path | None:
    """The dev kit of a prepared cohort whose participant kit is written; None when there is no dev split."""
    splits = prepared.splits
    if not splits.persons[DEV]:
        return None
    out = dev_kit_dir(prepared)
    volumes = [v for v in splits.volumes if v.split in (DEV, TRAIN)]
    persons = sorted({v.participant_id for v in volumes})
    alias = {pid: f"person{i + 1:0{max(3, len(str(len(persons))))}d}" for i, pid in enumerate(persons)}
    _copy_volumes(prepared.kit / "volumes", out / "volumes", [v.pseudonym for v in volumes])
    write_text(out / "ids.txt", "".join(f"{v.pseudonym}\n" for v in volumes))
    write_text(out / "key.tsv", "pseudonym\tperson_id\tsplit\trole\n" + "".join(
        f"{v.pseudonym}\t{alias[v.participant_id]}\t{v.split}\t{v.role}\n" for v in volumes))
    write_text(out / "enrollments.tsv", "enroll_id\tperson_id\n" + "".join(
        f"{e}\t{alias[p]}\n" for e, p in sorted(splits.enrollments.items()) if p in alias))
    rows = []
    for pid in persons:
        part = prepared.dataset.participant(pid)
        dev = pid in splits.persons[DEV]
        rows.append(f"{alias[pid]}\t{_text(part.age) if dev else ''}\t{(part.sex or '') if dev else ''}\n")
        _copy_photos(part.photos, out / "photos" / alias[pid])
    write_text(out / "participants.tsv", "participant_id\tage\tsex\n" + "".join(rows))
    for tl in (t for t in splits.trial_lists if t.split == DEV):
        folder = out / "trials" / tl.split / tl.condition
        write_text(folder / "trials", "".join(t.line() + "\n" for t in tl.trials))
        write_text(folder / "trials_same_sex", "".join(t.line() + "\n" for t in tl.same_sex))
    write_json(out / "splits.json", {"messages": [m for m in splits.messages if m.startswith(f"{DEV}/")]})
    write_text(out / "README.md", README)
    return out


def summary_line(prepared: Prepared) -> str:
    """The line of ``prepare``'s summary about the dev kit."""
    folder = dev_kit_dir(prepared)
    if not (folder / "key.tsv").is_file():
        return "  dev kit: none (no dev split, or prepare.write_dev_kit=false)"
    return f"  dev kit: {folder} (score a dev submission from it alone: score submission=<dir> split=dev kit={folder})"


def _text(age: float | None) -> str:
    return "" if age is None else f"{age:g}"


def _copy_volumes(src: Path, dst: Path, ids: list[str]) -> None:
    """Copy the kit's volumes ``ids`` (a file already there with the same size and time is kept), remove others."""
    dst.mkdir(parents=True, exist_ok=True)
    for vid in ids:
        a, b = src / f"{vid}.nii.gz", dst / f"{vid}.nii.gz"
        if not a.is_file():
            raise BenchmarkError("the participant kit lacks this volume; write the kit first", a)
        if not (b.is_file() and (sa := a.stat()).st_size == (sb := b.stat()).st_size and sa.st_mtime_ns == sb.st_mtime_ns):
            shutil.copy2(a, b)
    keep = {f"{vid}.nii.gz" for vid in ids}
    for stale in dst.iterdir():
        if stale.name not in keep:
            stale.unlink()


def _copy_photos(photos: list[Path], dst: Path) -> None:
    """The photographs under their rank (``01.png``...), in the order scoring reads them."""
    if dst.is_dir():
        shutil.rmtree(dst)
    for i, p in enumerate(photos):
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst / f"{i + 1:02d}{p.suffix.lower()}")


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise BenchmarkError("missing from the dev kit", path)
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _trials(path: Path) -> list[Trial]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if len(parts) != 3 or parts[2] not in ("target", "nontarget"):
            raise BenchmarkError(f"line {n}: expected '<enroll_id> <trial_id> target|nontarget'", path)
        out.append(Trial(parts[0], parts[1], parts[2] == "target"))
    return out


def load_dev_kit(folder: str | Path) -> Prepared:
    """The :class:`Prepared` cohort scoring consumes, from a dev kit alone (originals, key, trial lists)."""
    folder = Path(folder)
    if not (folder / "key.tsv").is_file():
        raise BenchmarkError("not a dev kit (no key.tsv); give the kit-dev folder that prepare writes", folder)
    key = _rows(folder / "key.tsv")
    volumes = sorted((VolumeEntry(r["pseudonym"], r["person_id"], r["pseudonym"], r["split"], r["role"])
                      for r in key), key=lambda v: v.pseudonym)
    participants = {r["participant_id"]: Participant(r["participant_id"], attributes={k: v for k, v in r.items()
                                                                                       if k != "participant_id"})
                    for r in _rows(folder / "participants.tsv")}
    for v in volumes:
        path = folder / "volumes" / f"{v.pseudonym}.nii.gz"
        if v.participant_id not in participants or not path.is_file():
            raise BenchmarkError(f"{v.pseudonym}: its volume or person is missing from the dev kit", path)
        participants[v.participant_id].sessions[v.session_id] = Session(v.participant_id, v.session_id, path)
    for pid, part in participants.items():
        photos = folder / "photos" / pid
        part.photos = sorted(photos.iterdir()) if photos.is_dir() else []
    enrollments = {r["enroll_id"]: r["person_id"] for r in _rows(folder / "enrollments.tsv")}
    person_of = {**{v.pseudonym: v.participant_id for v in volumes}, **enrollments}
    persons = {s: sorted({v.participant_id for v in volumes if v.split == s}) for s in ALL_SPLITS}
    splits = Splits(persons, volumes, enrollments,
                    messages=json.loads((folder / "splits.json").read_text())["messages"])
    for condition in CONDITIONS:
        path = folder / "trials" / DEV / condition / "trials"
        if path.is_file():
            trials = _trials(path)
            enroll = {t.enroll_id: person_of[t.enroll_id] for t in trials}
            splits.trial_lists.append(TrialList(DEV, condition, trials, _trials(path.with_name("trials_same_sex")),
                                                enroll))
    return Prepared(folder, Dataset(folder, participants), splits, kit_dir=folder)
