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
names; ``smooth_linkability``; ``functools.partial(linkability, n_bins=..., omega=...)``) are
recomputed from integer weights on scores sorted once, a batch of resamples at a time
(``_resampled``: the same floats as on the repeated scores); any other callable
``metric(mated, nonmated) -> float`` is called on the scores repeated by their weights. Resamples
are drawn a batch at a time from the same random stream, so they are those drawn one at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_labels, as_scores, same_length
from benchmark.metrics._resampled import Runs, auc_rows, cllr_rows, pav_rows_metric, smooth_dsys_rows
from benchmark.metrics.auc import auc
from benchmark.metrics.cllr import cllr, min_cllr
from benchmark.metrics.eer import eer
from benchmark.metrics.linkability import binned_dsys_rows, linkability
from benchmark.metrics.smooth_linkability import smooth_linkability

_MAX_REDRAWS = 1000
_BATCH = 128  # resamples computed together


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
    draws = _resamples(srt, unit, np.random.default_rng(seed), int(getattr(metric, "min_mated", 1)), int(n))
    values = np.concatenate([stat(wm, wn) for wm, wn in draws])
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


def multiplicity_rows(rng: np.random.Generator, size: int, n_rows: int) -> np.ndarray:
    """Step 1, ``n_rows`` times: row i holds how often each of ``size`` persons (or trials) is drawn when as
    many are drawn with replacement. The same numbers as ``n_rows`` successive draws of one row each
    (``np.bincount(rng.integers(0, size, size))``), since bounded integers take their 32-bit draws from the
    generator's own stream whatever the call's size."""
    draws = rng.integers(0, size, (n_rows, size)) + size * np.arange(n_rows)[:, None]
    return np.bincount(draws.ravel(), minlength=n_rows * size).reshape(n_rows, size).astype(np.float64)


def _raw_weights(srt: _Sorted, unit: str, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights (w_mated, w_nonmated) of the next ``k`` resamples, valid or not, one per row."""
    if unit == "trial":
        w = multiplicity_rows(rng, srt.sm.size + srt.sn.size, k)
        return w[:, :srt.sm.size], w[:, srt.sm.size:]
    m = multiplicity_rows(rng, srt.n_persons, k)
    return m[:, srt.pm], m[:, srt.en] * m[:, srt.tn]


def _resamples(srt: _Sorted, unit: str, rng: np.random.Generator, min_mated: int, n: int, batch: int = _BATCH):
    """Yield the weights of ``n`` valid resamples (at least ``min_mated`` mated and one non-mated trial,
    counted with their weights), a batch of rows at a time: raw resamples are drawn in order and an
    invalid one is redrawn, so the valid ones are those a draw-and-redraw loop returns, in its order.
    ``_MAX_REDRAWS`` invalid resamples in a row raise (after the valid ones before them are yielded)."""
    invalid_run = 0
    while n > 0:
        wm, wn = _raw_weights(srt, unit, rng, min(batch, n + n // 4 + 8))
        ok = (wm.sum(axis=1) >= min_mated) & wn.any(axis=1)
        take, invalid_run, failed = _accept(ok, invalid_run, n)
        if take.size:
            yield wm[take], wn[take]
            n -= take.size
        if failed:
            raise BenchmarkError(
                f"{_MAX_REDRAWS} resamples in a row lost the mated or the non-mated class; "
                "the cohort is too small for a bootstrap interval"
            )


def _accept(ok: np.ndarray, invalid_run: int, need: int) -> tuple[np.ndarray, int, bool]:
    """Of raw resamples with validity ``ok``, after ``invalid_run`` invalid ones: the rows taken (at most
    ``need``, in order), the invalid run at the end, and whether a run reached ``_MAX_REDRAWS`` first."""
    pos = np.flatnonzero(ok)[:need]
    before = np.diff(np.r_[-1 - invalid_run, pos]) - 1  # invalid resamples right before each valid one
    over = np.flatnonzero(before >= _MAX_REDRAWS)
    if over.size:
        return pos[:over[0]], 0, True
    if pos.size == need:
        return pos, 0, False
    run = ok.size - 1 - pos[-1] if pos.size else invalid_run + ok.size
    return pos, int(run), run >= _MAX_REDRAWS


def _statistic(metric, srt: _Sorted):
    """A function (w_mated, w_nonmated) -> metric value of each row (resample); fast for this package's metrics."""
    names = {"eer": eer, "min_cllr": min_cllr, "auc": auc, "cllr": cllr, "linkability": linkability}
    if isinstance(metric, str):
        if metric not in names:
            raise BenchmarkError(f"unknown metric {metric!r}; known: {', '.join(sorted(names))}, or pass a callable")
        metric = names[metric]
    if not callable(metric):
        raise BenchmarkError(f"metric must be a callable or a metric name, got {metric!r}")
    sm, sn = srt.sm, srt.sn
    finite = bool(np.isfinite(sm).all() and np.isfinite(sn).all())
    if metric is cllr:
        cm, cn = np.logaddexp(0.0, -sm), np.logaddexp(0.0, sn)
        return lambda wm, wn: cllr_rows(cm, cn, wm, wn)
    if metric is linkability:
        as_scores(np.r_[sm, sn], "Trials.scores", finite=True)
        return lambda wm, wn: binned_dsys_rows(sm, wm, sn, wn)
    if metric in (eer, min_cllr):
        runs = Runs.of(sm, sn)
        name = "eer" if metric is eer else "min_cllr"
        return lambda wm, wn: pav_rows_metric(runs, wm, wn, name)
    if metric is auc:
        runs = Runs.of(sm, sn)
        return lambda wm, wn: auc_rows(runs, wm, wn)
    if metric is smooth_linkability and finite:
        return lambda wm, wn: smooth_dsys_rows(sm, sn, wm, wn, 1.0)
    binned = _binned_keywords(metric)
    if binned is not None and finite:
        return lambda wm, wn: binned_dsys_rows(sm, wm, sn, wn, **binned)

    def generic(wm, wn):
        return np.array([float(metric(np.repeat(sm, m.astype(np.int64)), np.repeat(sn, w.astype(np.int64))))
                         for m, w in zip(wm, wn)])

    return generic


def _binned_keywords(metric) -> dict | None:
    """The keywords of ``functools.partial(linkability, omega=..., n_bins=...)``, else None."""
    if isinstance(metric, functools.partial) and metric.func is linkability and not metric.args:
        if set(metric.keywords) <= {"omega", "n_bins"}:
            return dict(metric.keywords)
    return None
