"""Metrics of many bootstrap resamples at once, each resample given by integer weights of sorted scores.

Row i of ``wm`` (``wn``) holds how often each mated (non-mated) score, in ascending order, is drawn
in resample i. Every function returns per row, bit for bit, what its metric returns on the scores
repeated by that row's weights (``tests/metrics/test_metrics_resampled.py`` checks it against the
earlier one-resample-at-a-time code): counts, run and block totals are integers, hence exact floats summed in any order;
every other sum keeps the metric's own order (running sums by ``np.bincount``, or numpy's pairwise
sum of one row of a C-contiguous 2-D array, which is that of the same 1-D array).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.metrics._groups import Groups, group_scores, pav_rows, pure_run_ids
from benchmark.metrics._kde import pools_dsys
from benchmark.metrics.auc import auc_from_groups
from benchmark.metrics.cllr import min_cllr_rows
from benchmark.metrics.eer import eer_rows

_EXACT = 2.0**52  # below this, sums of multiples of 1/2 are exact in any order


@dataclass(frozen=True)
class Runs:
    """The runs of pure tie groups (``_groups.pure_run_ids``) of sorted mated scores ``sm`` and non-mated
    ``sn``: a class's trials of one run are a contiguous slice (``run_m[i]`` is the run of the slice
    starting at ``start_m[i]``). PAV and AUC need only each run's weights (see ``_groups``)."""

    n_runs: int
    run_m: np.ndarray
    start_m: np.ndarray
    run_n: np.ndarray
    start_n: np.ndarray

    @classmethod
    def of(cls, sm: np.ndarray, sn: np.ndarray) -> "Runs":
        g = group_scores(sm, sn)
        run_of_group = pure_run_ids(g.t, g.n)
        run_m, start_m = _slices(run_of_group[np.searchsorted(g.values, sm)])
        run_n, start_n = _slices(run_of_group[np.searchsorted(g.values, sn)])
        return cls(int(run_of_group[-1]) + 1, run_m, start_m, run_n, start_n)

    def counts(self, wm: np.ndarray, wn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mated, non-mated) weight of each run, one row per resample."""
        t, n = np.zeros((wm.shape[0], self.n_runs)), np.zeros((wm.shape[0], self.n_runs))
        t[:, self.run_m] = np.add.reduceat(wm, self.start_m, axis=1)
        n[:, self.run_n] = np.add.reduceat(wn, self.start_n, axis=1)
        return t, n


def _slices(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For non-decreasing ``ids``: the distinct ids and where each one's slice starts."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return ids[starts], starts


def auc_rows(runs: Runs, wm: np.ndarray, wn: np.ndarray) -> np.ndarray:
    """``auc_from_groups`` per row: sum_j t_j (sum_{i<j} n_i + n_j / 2) / (T N) over the runs.

    Every term and partial sum is a multiple of 1/2 below T N, so the sum is exact in any order
    while T N < 2^52 (else each row is summed as ``auc_from_groups`` does)."""
    t, n = runs.counts(wm, wn)
    if (t.sum(axis=1) * n.sum(axis=1)).max() >= _EXACT:
        keep = (t + n) > 0
        return np.array([auc_from_groups(Groups(np.flatnonzero(k), ti[k], ni[k])) for ti, ni, k in zip(t, n, keep)])
    below = np.cumsum(n, axis=1) - n
    return (t * (below + 0.5 * n)).sum(axis=1) / (t.sum(axis=1) * n.sum(axis=1))


def pav_rows_metric(runs: Runs, wm: np.ndarray, wn: np.ndarray, metric: str) -> np.ndarray:
    """``eer_from_groups`` (``metric="eer"``) or ``min_cllr_from_groups`` per row, from the runs' weights."""
    t, n = runs.counts(wm, wn)
    tb, nb, starts = pav_rows(t.ravel(), n.ravel(), np.arange(t.shape[0] + 1) * runs.n_runs)
    return (eer_rows if metric == "eer" else min_cllr_rows)(tb, nb, starts)


def cllr_rows(cm: np.ndarray, cn: np.ndarray, wm: np.ndarray, wn: np.ndarray) -> np.ndarray:
    """Cllr per row from the per-trial costs ``cm`` = log(1 + e^-s), ``cn`` = log(1 + e^s) (in nats):
    (sum w_m c_m / T + sum w_n c_n / N) / (2 ln 2)."""
    return ((wm * cm).sum(axis=1) / wm.sum(axis=1) + (wn * cn).sum(axis=1) / wn.sum(axis=1)) / (2 * np.log(2.0))


def smooth_dsys_rows(sm: np.ndarray, sn: np.ndarray, wm: np.ndarray, wn: np.ndarray, omega: float) -> np.ndarray:
    """``smooth_linkability`` per row: each row's pool is its repeated mated scores, then its non-mated
    ones, as ``smooth_linkability`` concatenates them (at least two mated per row)."""
    scores = np.concatenate([sm, sn])
    w = np.concatenate([wm, wn], axis=1).astype(np.int64).ravel()
    pooled = np.repeat(np.tile(scores, wm.shape[0]), w)
    mated = np.repeat(np.tile(np.arange(scores.size) < sm.size, wm.shape[0]), w)
    rows = np.repeat(np.arange(wm.shape[0]), np.add.reduceat(w, np.arange(0, w.size, scores.size)))
    return pools_dsys(pooled, rows, mated, wm.shape[0], omega)
