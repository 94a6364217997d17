"""Fixed splits and trial lists (the VoicePrivacy format), derived deterministically from a dataset.

Persons are divided into disjoint ``dev``, ``test`` and ``train`` sets (``train`` is the attacker's
training pool for the semi-informed attacker), stratified by sex. Every volume that a participant
anonymises gets its own random pseudonym; the key from pseudonym to person stays with the organisers.

Conditions (every pair of an enrollment and a trial of the split is a trial, mated or not):
- ``mri2mri``: enrollment = the first session of each person with two or more sessions, trials =
  every other session of every person; a person with a single session contributes that session as
  an impostor-only trial. With ``dataset.trial_contrasts`` (e.g. ``[T2w]``) the enrollment is the
  person's first scan of another contrast and the trials are their scans of those contrasts (enroll
  T1w, trial T2w).
- ``photo2mri``: enrollment = the photographs of each person who has them (one template from all of
  them), trials = every session of every person (the mri2mri enrollment volumes included).

Distractors: persons with photographs and no MRI session (the synthetic cohort's ``distractors``, or
such persons in a BIDS cohort) stay out of the stratified assignment and join the ``test`` photo2mri
enrollment gallery, where they only add non-mated trials (open-set identification, as the study's 500
LFW persons); :func:`distractors` lists them.

Several trials of one person are dependent: the metrics' intervals resample persons, not trials.

A trial line is ``<enroll_id> <trial_id> target|nontarget``; lists are all pairs and same-sex pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmark.core.config import SplitFractions
from benchmark.core.keys import ALL_SPLITS, DEV, MRI2MRI, PHOTO2MRI, SPLITS, TEST, TRAIN
from benchmark.data.dataset import Dataset, Session




@dataclass(frozen=True)
class VolumeEntry:
    """One volume that participants anonymise, under its pseudonym."""

    pseudonym: str
    participant_id: str
    session_id: str
    split: str  # dev | test | train
    role: str  # enroll | trial | train


@dataclass(frozen=True)
class Trial:
    enroll_id: str
    trial_id: str
    target: bool

    def line(self) -> str:
        return f"{self.enroll_id} {self.trial_id} {'target' if self.target else 'nontarget'}"


@dataclass
class TrialList:
    split: str
    condition: str
    trials: list[Trial]
    same_sex: list[Trial]
    enroll: dict[str, str]  # enroll_id -> participant_id (organiser-only)


@dataclass
class Splits:
    persons: dict[str, list[str]]  # split -> participant ids
    volumes: list[VolumeEntry]
    enrollments: dict[str, str]  # photo enrollment id -> participant id
    trial_lists: list[TrialList] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def volume_key(self) -> dict[str, VolumeEntry]:
        return {v.pseudonym: v for v in self.volumes}


def assign_persons(dataset: Dataset, fr: SplitFractions) -> dict[str, list[str]]:
    """Disjoint dev/test/train sets of person ids, stratified by sex, deterministic for ``fr.seed``;
    distractors (photographs, no session) all go to test."""
    extra = distractors(dataset)
    ids = sorted(p for p in dataset.participants if p not in extra)
    if len(ids) < fr.min_persons:
        return {DEV: [], TEST: sorted(ids + extra), TRAIN: []}
    rng = np.random.default_rng(fr.seed)
    total = fr.dev + fr.test + fr.train
    out: dict[str, list[str]] = {s: [] for s in ALL_SPLITS}
    strata: dict[str, list[str]] = {}
    for pid in ids:
        strata.setdefault(dataset.participants[pid].sex or "?", []).append(pid)
    carry = {s: 0.0 for s in ALL_SPLITS}
    for key in sorted(strata):
        members = list(rng.permutation(strata[key]))
        n = len(members)
        # largest-remainder rounding, carried across strata so totals match the fractions
        want = {s: n * getattr(fr, s) / total + carry[s] for s in out}
        counts = {s: int(np.floor(want[s])) for s in out}
        for s in sorted(out, key=lambda s: want[s] - counts[s], reverse=True)[: n - sum(counts.values())]:
            counts[s] += 1
        for s in out:
            carry[s] = want[s] - counts[s]
        start = 0
        for s in (TEST, DEV, TRAIN):
            out[s].extend(members[start:start + counts[s]])
            start += counts[s]
    out[TEST].extend(extra)
    return {s: sorted(v) for s, v in out.items()}


def distractors(dataset: Dataset) -> list[str]:
    """Persons with photographs and no MRI session, sorted."""
    return sorted(p for p, part in dataset.participants.items() if part.photos and not part.sessions)


def make_splits(dataset: Dataset, fr: SplitFractions = SplitFractions()) -> Splits:
    persons = assign_persons(dataset, fr)
    rng = np.random.default_rng([fr.seed, 1])
    used: set[str] = set()

    def pseudonym(prefix: str = "v") -> str:
        while True:
            token = prefix + "".join(rng.choice(list("0123456789abcdef"), size=10))
            if token not in used:
                used.add(token)
                return token

    volumes: list[VolumeEntry] = []
    enroll_vol: dict[str, str] = {}  # participant -> mri2mri enrollment volume pseudonym
    photo_enroll: dict[str, str] = {}
    for split in ALL_SPLITS:
        for pid in persons[split]:
            sessions = dataset.participants[pid].session_list()
            if split == TRAIN:
                for ses in sessions:
                    volumes.append(VolumeEntry(pseudonym(), pid, ses.session_id, split, TRAIN))
                continue
            enroll_ses, trial_ses = enroll_and_trial(sessions, dataset.trial_contrasts)
            if enroll_ses is not None:
                enroll_vol[pid] = pseudonym()
                volumes.append(VolumeEntry(enroll_vol[pid], pid, enroll_ses.session_id, split, "enroll"))
            for ses in trial_ses:
                volumes.append(VolumeEntry(pseudonym(), pid, ses.session_id, split, "trial"))
            if dataset.participants[pid].photos:
                photo_enroll[pid] = pseudonym("p")
    volumes.sort(key=lambda v: v.pseudonym)
    splits = Splits(persons=persons, volumes=volumes, enrollments={v: k for k, v in photo_enroll.items()})
    if distractors(dataset):
        splits.messages.append(f"{TEST}/{PHOTO2MRI}: {len(distractors(dataset))} distractor(s) (photographs only) "
                               "in the enrollment gallery")
    for split in SPLITS:
        members = persons[split]
        if not members:
            continue
        in_split = [v for v in volumes if v.split == split]  # in pseudonym order
        for condition, enrolled, roles in ((MRI2MRI, enroll_vol, ("trial",)),
                                           (PHOTO2MRI, photo_enroll, ("enroll", "trial"))):
            enroll = {enrolled[pid]: pid for pid in members if pid in enrolled}
            trials = [v for v in in_split if v.role in roles]
            problem = _too_small(condition, enroll, {v.participant_id for v in trials})
            if problem:
                splits.messages.append(f"{split}/{condition}: skipped, {problem}")
                continue
            splits.trial_lists.append(_trial_list(dataset, split, condition, enroll, trials))
    return splits


def enroll_and_trial(sessions: list[Session], trial_contrasts: tuple[str, ...] = ()
                     ) -> tuple[Session | None, list[Session]]:
    """A person's (enrollment, trials): the first scan and every other one (a single scan is a trial
    only); with ``trial_contrasts``, the first scan of another contrast and every scan of those."""
    if not trial_contrasts:
        return (sessions[0], sessions[1:]) if len(sessions) >= 2 else (None, list(sessions))
    enroll = [s for s in sessions if s.contrast not in trial_contrasts]
    return (enroll[0] if enroll else None), [s for s in sessions if s.contrast in trial_contrasts]


def _trial_list(dataset: Dataset, split: str, condition: str, enroll: dict[str, str],
                trials: list[VolumeEntry]) -> TrialList:
    """Every enrollment against every trial volume; same-sex pairs are those with both sexes known and equal."""
    all_pairs, same_sex = [], []
    for eid, epid in sorted(enroll.items()):
        for tv in trials:
            t = Trial(eid, tv.pseudonym, epid == tv.participant_id)
            all_pairs.append(t)
            se, st = dataset.participants[epid].sex, dataset.participants[tv.participant_id].sex
            if se is not None and se == st:
                same_sex.append(t)
    return TrialList(split, condition, all_pairs, same_sex, enroll)


def _too_small(condition: str, enroll: dict[str, str], trials: set[str]) -> str | None:
    """Why a condition has no trial list (``trials``: the persons with a trial volume), or None."""
    need = "two or more MRI sessions" if condition == MRI2MRI else "photographs and an MRI session"
    if not enroll:
        return f"no person has {need}"
    if not any(pid in trials for pid in enroll.values()):
        return "no enrolled person has a trial volume"
    if len(trials) < 2:
        return "needs at least two persons with a trial volume (one for target, one for nontarget trials)"
    return None
