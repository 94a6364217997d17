"""Scores pooled and grouped by value, and the pool-adjacent-violators (PAV) blocks built on them.

Every two-class metric here starts from the same summary of the trials: the distinct score values in
ascending order and, for each, the (possibly weighted) number of mated (``t``) and non-mated (``n``)
trials at that value. Tied scores therefore always form one group: a tie is never split in favour
of the mated class (pyllr's convention, "label 1 inferior", which PAV then pools; BOSARIS's
``rocch.m`` puts targets before non-targets among equal scores for the same effect).

PAV (Ayer et al. 1955) of the ideal posterior over the groups gives the monotone score-to-posterior
map of maximal likelihood; its blocks are the vertices of the ROC convex hull (ROCCH; Provost and
Fawcett 2001; Brummer and du Preez 2006, BOSARIS ``rocch.m``, pyllr ``pav_rocch.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Groups:
    """Distinct scores ``values`` (ascending) with mated counts ``t`` and non-mated counts ``n`` (float)."""

    values: np.ndarray
    t: np.ndarray
    n: np.ndarray

    @property
    def n_mated(self) -> float:
        return float(self.t.sum())

    @property
    def n_nonmated(self) -> float:
        return float(self.n.sum())


def group_scores(mated: np.ndarray, nonmated: np.ndarray) -> Groups:
    """Pool, sort once and group equal scores (checked arrays, see ``_checks.as_pair``)."""
    # two sorted runs merged by a stable (run-aware) argsort: faster than one argsort of the pool
    pooled = np.concatenate([np.sort(mated), np.sort(nonmated)])
    order = np.argsort(pooled, kind="stable")
    s = pooled[order]
    is_mated = order < mated.size
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    t = is_mated.astype(np.float64)
    if starts.size == s.size:  # no ties
        return Groups(s, t, 1.0 - t)
    t = np.add.reduceat(t, starts)
    size = np.diff(np.append(starts, s.size)).astype(np.float64)
    return Groups(s[starts], t, size - t)


def pure_run_ids(t: np.ndarray, n: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Index of the run of each group: consecutive groups holding only mated (or only non-mated)
    scores share a run; a group holding both classes is a run of its own. ``rows`` (non-decreasing,
    one per group): groups of different rows never share a run."""
    kind = np.where(n == 0, 1, np.where(t == 0, 0, 2)).astype(np.int8)
    new = np.empty(kind.size, dtype=bool)
    new[:1] = True
    new[1:] = (kind[1:] != kind[:-1]) | (kind[1:] == 2)
    if rows is not None:
        new[1:] |= rows[1:] != rows[:-1]
    return np.cumsum(new) - 1


def merge_pure_runs(t: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the groups of each run (``pure_run_ids``).

    Exact for PAV: a run of equal ideal posteriors (all 0 or all 1) is constant in the isotonic fit
    (the cumulative-sum diagram is straight along it), so merging only makes PAV faster. Exact for
    AUC too: no score of the other class lies inside a run.
    """
    ids = pure_run_ids(t, n)
    r = int(ids[-1]) + 1
    if r == t.size:
        return t, n
    return np.bincount(ids, weights=t, minlength=r), np.bincount(ids, weights=n, minlength=r)


def pav_blocks(t: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PAV blocks of grouped counts: per block, the mated and non-mated totals (ascending score order).

    The isotonic regression of the ideal posterior ``t / (t + n)`` with weights ``t + n``; within a
    block the optimal posterior is ``T_b / (T_b + N_b)`` and the optimal log-likelihood ratio is
    ``log(T_b / T) - log(N_b / N)``. Every group must have ``t + n > 0``.
    """
    from scipy.optimize import isotonic_regression  # here: scipy.optimize is slow to import

    t, n = merge_pure_runs(t, n)
    w = t + n
    res = isotonic_regression(t / w, weights=w, increasing=True)
    starts = np.asarray(res.blocks[:-1])
    return np.add.reduceat(t, starts), np.add.reduceat(n, starts)


def pav_rows(t: np.ndarray, n: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pav_blocks`` of many rows of integer counts at once: row i is ``t[starts[i]:starts[i + 1]]``
    (and ``n``), groups with t + n = 0 are dropped first. Returns every row's blocks, row after row,
    and where each row's blocks start (``starts``-like). Counts are integers, so every merge and
    block total is exact; the PAV itself is ``pav_blocks``'s, one row at a time."""
    from scipy.optimize import isotonic_regression  # here: scipy.optimize is slow to import

    if starts.size < 2:
        return np.zeros(0), np.zeros(0), np.zeros(1, np.int64)
    rows = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    keep = (t + n) > 0
    t, n, rows = t[keep], n[keep], rows[keep]
    ids = pure_run_ids(t, n, rows)  # merged first, as pav_blocks does (exact for PAV)
    first = np.flatnonzero(np.diff(ids, prepend=-1))
    t, n, rows = np.add.reduceat(t, first), np.add.reduceat(n, first), rows[first]
    w = t + n
    x = t / w
    bounds = np.searchsorted(rows, np.arange(starts.size))
    heads = [np.asarray(isotonic_regression(x[a:b], weights=w[a:b], increasing=True).blocks[:-1]) + a
             for a, b in zip(bounds[:-1], bounds[1:])]
    sizes = np.array([h.size for h in heads])
    heads = np.concatenate(heads)
    return np.add.reduceat(t, heads), np.add.reduceat(n, heads), np.r_[0, np.cumsum(sizes)]


def rocch(tb: np.ndarray, nb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROCCH vertices ``(pmiss, pfa)`` from PAV blocks: from (0, 1) to (1, 0), as in BOSARIS."""
    pmiss = np.concatenate([[0.0], np.cumsum(tb)]) / tb.sum()
    n_total = nb.sum()
    pfa = (n_total - np.concatenate([[0.0], np.cumsum(nb)])) / n_total
    return pmiss, pfa


def block_llrs(tb: np.ndarray, nb: np.ndarray, n_mated: float, n_nonmated: float) -> np.ndarray:
    """Natural-log LLR of each PAV block: logit(T_b / (T_b + N_b)) - log(T / N), +-inf for pure blocks."""
    with np.errstate(divide="ignore"):
        return (np.log(tb) - np.log(nb)) - (np.log(n_mated) - np.log(n_nonmated))
