"""Scores of every enrollment sample against every trial sample, the input of the identification metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_labels
from benchmark.metrics.bootstrap import Trials


@dataclass(frozen=True)
class ScoreMatrix:
    """``scores[i, j]`` compares enrollment sample i (person ``enroll_ids[i]``) with trial sample j
    (person ``trial_ids[j]``), higher = more similar; -inf marks a pair that was not scored, NaN is
    refused. A person may have several rows and several columns; identity labels are compared as strings.
    """

    scores: np.ndarray
    enroll_ids: np.ndarray
    trial_ids: np.ndarray

    def __post_init__(self):
        try:
            s = np.asarray(self.scores, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BenchmarkError(f"scores must be numbers: {exc}") from None
        if s.ndim != 2 or s.size == 0:
            raise BenchmarkError(f"scores must be a non-empty 2-D (n_enroll, n_trial) array, got shape {s.shape}")
        if np.isnan(s).any():
            raise BenchmarkError(
                f"scores holds {int(np.isnan(s).sum())} NaN value(s); use -inf for enrollment/trial pairs not scored"
            )
        e = as_labels(self.enroll_ids, "enroll_ids").astype(str)
        t = as_labels(self.trial_ids, "trial_ids").astype(str)
        if s.shape != (e.size, t.size):
            raise BenchmarkError(
                f"scores has shape {s.shape} but enroll_ids has {e.size} and trial_ids {t.size} entries; "
                "scores must be (n_enroll, n_trial)"
            )
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "enroll_ids", e)
        object.__setattr__(self, "trial_ids", t)

    def trials(self) -> Trials:
        """The scored pairs (finite scores) as two-class trials: mated where the persons agree."""
        i, j = np.nonzero(np.isfinite(self.scores))
        if i.size == 0:
            raise BenchmarkError("the score matrix holds no finite score: no trial was scored")
        e, t = self.enroll_ids[i], self.trial_ids[j]
        return Trials(self.scores[i, j], e == t, e, t)
