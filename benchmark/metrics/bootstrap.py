"""Percentile bootstrap confidence intervals that resample persons, not trials.

Trials of the same person are dependent (one face, one scan), so resampling trials independently
gives intervals that are too narrow for small cohorts. Here the persons are the unit:

1. Draw P persons with replacement from the P persons in the trials (enrollment and trial
   subjects together); person p is drawn m_p times (m_p = 0, 1, 2, ...).
2. Keep every trial whose persons were drawn, with multiplicity: a mated trial of person p counts
   m_p times; a non-mated trial between persons p and q counts m_p * m_q times (each drawn copy of p
   against each drawn copy of q; copies of the same person are never paired as non-mated).
3. Recompute the metric on the weighted trials.

A resample that keeps no mated or no non-mated trial (or fewer mated trials than the metric's
``min_mated`` attribute asks, e.g. 2 for the smoothed linkability) is redrawn (not skipped), so every
one of the ``n`` statistics is defined; this conditions on both classes being present, which matters only
for cohorts of a handful of persons. The interval is the percentile interval
[q((1 - level) / 2), q((1 + level) / 2)] of the ``n`` statistics (Efron and Tibshirani 1993,
ch. 13); the person-level scheme is the "subsets bootstrap" of Bolle, Ratha and Pankanti
(Computer Vision and Image Understanding 93(1), 2004), extended to pairs for the non-mated trials.

``unit="trial"`` resamples trials independently instead (for comparison only).

The metrics of this package (``eer``, ``min_cllr``, ``auc``, ``cllr``, ``linkability``, or their
names) are recomputed from integer weights on scores sorted once; any other callable
``metric(mated, nonmated) -> float`` is called on the scores repeated by their weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_labels, as_scores, same_length
from benchmark.metrics._groups import Groups, group_scores, pure_run_ids
from benchmark.metrics.auc import auc, auc_from_groups
from benchmark.metrics.cllr import cllr, min_cllr, min_cllr_from_groups
from benchmark.metrics.eer import eer, eer_from_groups
from benchmark.metrics.linkability import binned_linkability, linkability

_MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Trials:
    """Scored trials: ``scores`` (float), ``mated`` (bool), ``enroll_subject`` and ``trial_subject`` (str).

    All four are 1-D arrays of the same length; a mated trial must have the same enrollment and
    trial subject, a non-mated trial two different ones.
    """

    scores: np.ndarray
    mated: np.ndarray
    enroll_subject: np.ndarray
    trial_subject: np.ndarray

    def __post_init__(self):
        scores = as_scores(self.scores, "Trials.scores")
        mated = np.asarray(self.mated)
        if mated.ndim != 1 or mated.dtype != bool:
            raise BenchmarkError(f"Trials.mated must be a 1-D bool array, got dtype {mated.dtype} shape {mated.shape}")
        enroll = as_labels(self.enroll_subject, "Trials.enroll_subject").astype(str)
        trial = as_labels(self.trial_subject, "Trials.trial_subject").astype(str)
        same_length(scores=scores, mated=mated, enroll_subject=enroll, trial_subject=trial)
        same = enroll == trial
        if (mated & ~same).any():
            i = int(np.flatnonzero(mated & ~same)[0])
            raise BenchmarkError(
                f"trial {i} is marked mated but its subjects differ ({enroll[i]!r} vs {trial[i]!r}); "
                "enroll_subject and trial_subject must be person ids"
            )
        if (~mated & same).any():
            i = int(np.flatnonzero(~mated & same)[0])
            raise BenchmarkError(f"trial {i} is marked non-mated but both subjects are {enroll[i]!r}")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "mated", mated)
        object.__setattr__(self, "enroll_subject", enroll)
        object.__setattr__(self, "trial_subject", trial)

    @property
    def mated_scores(self) -> np.ndarray:
        return self.scores[self.mated]

    @property
    def nonmated_scores(self) -> np.ndarray:
        return self.scores[~self.mated]


def bootstrap_ci(
    metric: Callable | str,
    trials: Trials,
    unit: str = "subject",
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of ``metric`` over persons (see the module docstring)."""
    if not isinstance(trials, Trials):
        raise BenchmarkError(f"trials must be a Trials, got {type(trials).__name__}")
    if unit not in ("subject", "trial"):
        raise BenchmarkError(f"unit must be 'subject' or 'trial', got {unit!r}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise BenchmarkError(f"n (number of resamples) must be a positive integer, got {n!r}")
    if not 0 < level < 1:
        raise BenchmarkError(f"level must be in (0, 1), got {level!r}")
    if trials.mated.all() or not trials.mated.any():
        raise BenchmarkError("the trials hold a single class: a bootstrap interval needs mated and non-mated trials")
    srt = _Sorted.of(trials)
    stat = _statistic(metric, srt)
    draw = _drawer(srt, unit, np.random.default_rng(seed), int(getattr(metric, "min_mated", 1)))
    values = np.empty(int(n))
    for i in range(int(n)):
        values[i] = stat(*draw())
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class _Sorted:
    """Each class's scores in ascending order, with integer person codes of both subjects."""

    sm: np.ndarray  # mated scores, sorted
    sn: np.ndarray  # non-mated scores, sorted
    pm: np.ndarray  # person of each mated trial
    en: np.ndarray  # enrollment person of each non-mated trial
    tn: np.ndarray  # trial person of each non-mated trial
    n_persons: int

    @classmethod
    def of(cls, trials: Trials) -> "_Sorted":
        persons, inv = np.unique(np.concatenate([trials.enroll_subject, trials.trial_subject]), return_inverse=True)
        size = trials.scores.size
        e, t = inv[:size], inv[size:]
        om = np.flatnonzero(trials.mated)
        on = np.flatnonzero(~trials.mated)
        om = om[np.argsort(trials.scores[om], kind="stable")]
        on = on[np.argsort(trials.scores[on], kind="stable")]
        return cls(trials.scores[om], trials.scores[on], e[om], e[on], t[on], persons.size)


def person_multiplicities(rng: np.random.Generator, n_persons: int) -> np.ndarray:
    """Step 1: how often each of ``n_persons`` persons is drawn when as many are drawn with replacement."""
    return np.bincount(rng.integers(0, n_persons, n_persons), minlength=n_persons).astype(np.float64)


def _drawer(srt: _Sorted, unit: str, rng: np.random.Generator, min_mated: int = 1):
    """A function returning integer weights (w_mated, w_nonmated) of one valid resample (at least
    ``min_mated`` mated and one non-mated trial, counted with their weights)."""
    if unit == "trial":
        k, size = srt.sm.size, srt.sm.size + srt.sn.size

        def raw():
            w = np.bincount(rng.integers(0, size, size), minlength=size).astype(np.float64)
            return w[:k], w[k:]

    else:
        p, pm, en, tn = srt.n_persons, srt.pm, srt.en, srt.tn

        def raw():
            m = person_multiplicities(rng, p)
            wn = np.take(m, en)
            np.multiply(wn, np.take(m, tn), out=wn)
            return np.take(m, pm), wn

    def draw():
        for _ in range(_MAX_REDRAWS):
            wm, wn = raw()
            if wm.sum() >= min_mated and wn.any():
                return wm, wn
        raise BenchmarkError(
            f"{_MAX_REDRAWS} resamples in a row lost the mated or the non-mated class; "
            "the cohort is too small for a bootstrap interval"
        )

    return draw


def _statistic(metric, srt: _Sorted):
    """A function (w_mated, w_nonmated) -> metric value, fast for this package's metrics."""
    names = {"eer": eer, "min_cllr": min_cllr, "auc": auc, "cllr": cllr, "linkability": linkability}
    if isinstance(metric, str):
        if metric not in names:
            raise BenchmarkError(f"unknown metric {metric!r}; known: {', '.join(sorted(names))}, or pass a callable")
        metric = names[metric]
    if not callable(metric):
        raise BenchmarkError(f"metric must be a callable or a metric name, got {metric!r}")
    sm, sn = srt.sm, srt.sn
    if metric is cllr:
        cm, cn = np.logaddexp(0.0, -sm), np.logaddexp(0.0, sn)
        return lambda wm, wn: float((np.sum(wm * cm) / wm.sum() + np.sum(wn * cn) / wn.sum()) / (2 * np.log(2.0)))
    if metric in (eer, min_cllr, auc, linkability):
        if metric is linkability:
            as_scores(np.r_[sm, sn], "Trials.scores", finite=True)
        return _grouped_statistic(metric, sm, sn)

    def generic(wm, wn):
        return float(metric(np.repeat(sm, wm.astype(np.int64)), np.repeat(sn, wn.astype(np.int64))))

    return generic


def _grouped_statistic(metric, sm: np.ndarray, sn: np.ndarray):
    """Per resample only sum the weights over PAV-exact runs (or accumulate them, for linkability).

    ``sm`` and ``sn`` are each sorted by score (``_Sorted``), so every run is a contiguous slice."""
    if metric is linkability:
        return lambda wm, wn: binned_linkability(sm, np.cumsum(wm), sn, np.cumsum(wn)).dsys
    g = group_scores(sm, sn)
    # runs of groups holding only one class: exact for PAV-based metrics and for AUC (see _groups)
    run_of_group = pure_run_ids(g.t, g.n)
    R = int(run_of_group[-1]) + 1
    run_m, start_m = _slices(run_of_group[np.searchsorted(g.values, sm)])
    run_n, start_n = _slices(run_of_group[np.searchsorted(g.values, sn)])
    from_groups = {eer: eer_from_groups, min_cllr: min_cllr_from_groups, auc: auc_from_groups}[metric]
    idx = np.arange(R, dtype=np.float64)

    def runs(wm, wn):
        t, n = np.zeros(R), np.zeros(R)
        t[run_m] = np.add.reduceat(wm, start_m)
        n[run_n] = np.add.reduceat(wn, start_n)
        keep = (t + n) > 0
        return from_groups(Groups(idx[keep], t[keep], n[keep]))

    return runs


def _slices(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For non-decreasing ``ids``: the distinct ids and where each one's slice starts."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return ids[starts], starts
