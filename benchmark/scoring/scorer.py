"""Scoring a trial list: the samples of a prepared dataset and a submission embedded by an attack.

A volume or photograph that fails to embed with an expected failure (:data:`EXPECTED_FAILURES`) is recorded
in :attr:`Scorer.failures` per attacker (shown in results.json) and its trials are left out, while the rest
is scored; any other exception stops the run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import nibabel as nib
import numpy as np
import onnxruntime.capi.onnxruntime_pybind11_state as ort_state

import benchmark.metrics as M
from benchmark.attacks import Attack, Embedding
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import LAZY_INFORMED, PHOTO2MRI, MetricKey
from benchmark.core.progress import progress
from benchmark.data.prepared import Prepared
from benchmark.data.splits import TrialList
from benchmark.submission.format import volume_path


@dataclass
class TrialScores:
    """The scores of one trial list under one attacker."""

    split: str
    condition: str
    attack: str
    knowledge: str
    lines: list[tuple[str, str, bool, float]]  # enroll_id, trial_id, target, score
    enroll_person: dict[str, str]
    trial_person: dict[str, str]
    detected: dict[str, bool]  # trial id -> face detected in its render

    @property
    def attacker(self) -> MetricKey:
        """``<condition>/<attack>/<knowledge>``, the prefix of this list's metric keys."""
        return MetricKey(self.condition, self.attack, self.knowledge)

    @property
    def key(self) -> str:
        return str(self.attacker)

    def arrays(self) -> M.Trials:
        return M.Trials(scores=np.array([s for *_, s in self.lines], float),
                        mated=np.array([t for _, _, t, _ in self.lines], bool),
                        enroll_subject=np.array([self.enroll_person[e] for e, *_ in self.lines]),
                        trial_subject=np.array([self.trial_person[t] for _, t, *_ in self.lines]))

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores (n_enroll, n_trial), enroll identities, trial identities) for rank-k."""
        enrolls = sorted({e for e, *_ in self.lines})
        trials = sorted({t for _, t, *_ in self.lines})
        ei = {e: i for i, e in enumerate(enrolls)}
        ti = {t: i for i, t in enumerate(trials)}
        mat = np.full((len(enrolls), len(trials)), -np.inf)
        for e, t, _, s in self.lines:
            mat[ei[e], ti[t]] = s
        return (mat, np.array([self.enroll_person[e] for e in enrolls]),
                np.array([self.trial_person[t] for t in trials]))


#: The failures a volume or photograph may cause while it is read, rendered, registered or embedded; any
#: other exception is a programming error and stops the run. nibabel, zlib and EOFError: a corrupt file;
#: OpenCV and ONNX Runtime: an image or tensor the detector or recogniser cannot take.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    BenchmarkError, nib.filebasedimages.ImageFileError, EOFError, zlib.error, cv2.error,
    ort_state.Fail, ort_state.InvalidArgument, ort_state.RuntimeException)


class Scorer:
    """Embeds the samples of a prepared dataset and a submission, with one failure not stopping the rest.

    ``failures``: (sample id, attacker, what) -> reason, one entry per sample and attacker (``<attack>/<knowledge>``)
    that met it; only :data:`EXPECTED_FAILURES` are caught.
    """

    def __init__(self, prepared: Prepared, submission: Path, show: bool = True):
        self.prepared = prepared
        self.submission = submission
        self.show = show
        self.key = prepared.splits.volume_key()
        self.failures: dict[tuple[str, str, str], str] = {}
        self._failed: dict[tuple[str, str, int], str] = {}  # (what, sample, attack object) -> reason: tried once

    def safe(self, sample_id: str, what: str, attack: Attack, where: str | None,
             fn: Callable[[], Embedding]) -> Embedding | None:
        memo = (what, sample_id, id(attack))
        reason = self._failed.get(memo)
        if reason is None:
            try:
                return fn()
            except EXPECTED_FAILURES as exc:
                reason = str(exc) if isinstance(exc, BenchmarkError) else \
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                self._failed[memo] = reason
        self.failures[(sample_id, where or attack.name, what)] = reason
        return None

    def original_volume(self, attack: Attack, vid: str, where: str | None = None) -> Embedding | None:
        v = self.key[vid]
        path = self.prepared.dataset.session(v.participant_id, v.session_id).path
        return self.safe(vid, "original", attack, where, lambda: attack.embed_volume_file(path))

    def submitted_volume(self, attack: Attack, vid: str, where: str | None = None) -> Embedding | None:
        return self.safe(vid, "anonymised", attack, where,
                          lambda: attack.embed_volume_file(volume_path(self.submission, vid)))

    def photos(self, attack: Attack, enroll_id: str, where: str | None = None) -> Embedding | None:
        pid = self.prepared.splits.enrollments[enroll_id]
        paths = self.prepared.dataset.participant(pid).photos
        return self.safe(enroll_id, "photos", attack, where, lambda: attack.embed_photo_files(paths))

    def failure_list(self) -> list[dict[str, str]]:
        """results.json's ``failures``: one entry per (sample, attacker, what), sorted."""
        return [{"id": i, "attacker": where, "sample": what, "split": self.split_of(i), "error": reason}
                for (i, where, what), reason in sorted(self.failures.items())]

    def split_of(self, sample_id: str) -> str:
        """The split of a volume or photo enrollment id."""
        if sample_id in self.key:
            return self.key[sample_id].split
        pid = self.prepared.splits.enrollments.get(sample_id)
        return next((s for s, members in self.prepared.splits.persons.items() if pid in members), "")

    def score(self, tl: TrialList, attack: Attack, attack_name: str, knowledge: str,
              trial_attack: Attack | None = None) -> TrialScores:
        """Score a trial list; ``trial_attack`` embeds the trials when it differs (``fill``)."""
        trial_attack = trial_attack or attack
        where = f"{attack_name}/{knowledge}"
        enroll_ids = sorted(tl.enroll)
        trial_ids = sorted({t.trial_id for t in tl.trials})
        if tl.condition == PHOTO2MRI:
            enroll = {e: self.photos(attack, e, where) for e in progress(enroll_ids, "enroll photos", self.show)}
        elif knowledge == LAZY_INFORMED:
            enroll = {e: self.submitted_volume(attack, e, where)
                      for e in progress(enroll_ids, "enroll (anonymised)", self.show)}
        else:
            enroll = {e: self.original_volume(attack, e, where) for e in progress(enroll_ids, "enroll volumes", self.show)}
        fitted = [e for e in enroll.values() if e is not None]
        if len(fitted) >= 2:
            attack.fit(fitted)  # scikit-learn habit: statistics from enrollment only (geo's z-scoring)
        trials = {t: self.submitted_volume(trial_attack, t, where)
                  for t in progress(trial_ids, f"{tl.split}/{tl.condition}/{attack_name}/{knowledge}", self.show)}
        lines = [(t.enroll_id, t.trial_id, t.target, attack.similarity(enroll[t.enroll_id], trials[t.trial_id]))
                 for t in tl.trials if enroll.get(t.enroll_id) is not None and trials.get(t.trial_id) is not None]
        return TrialScores(tl.split, tl.condition, attack_name, knowledge, lines, dict(tl.enroll),
                           {t: self.key[t].participant_id for t in trial_ids},
                           {t: e.detected for t, e in trials.items() if e is not None})
