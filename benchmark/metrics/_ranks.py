"""Rank tables of a score matrix by identity: what every identification metric is read from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics.score_matrix import ScoreMatrix


@dataclass(frozen=True)
class Ranked:
    """``by_id[i, j]``: the best score of identity ``identities[i]`` (max over its rows) for trial j;
    ``greater[i, j]`` / ``ties[i, j]``: how many other identities score strictly higher / equal for
    trial j; ``true_row[j]``: the row of trial j's identity, -1 where it is not enrolled (open set)."""

    identities: np.ndarray
    by_id: np.ndarray
    greater: np.ndarray
    ties: np.ndarray
    true_row: np.ndarray

    def closed(self) -> np.ndarray:
        """Columns of the closed-set trials (identity enrolled); raises when there is none."""
        cols = np.flatnonzero(self.true_row >= 0)
        if cols.size == 0:
            raise BenchmarkError(
                "no trial identity appears among the enrollment identities: a closed-set rate needs at least one "
                "trial whose person is enrolled (check that enroll_ids and trial_ids use the same labels)"
            )
        return cols


def ranked(sm: ScoreMatrix) -> Ranked:
    ident, inv = np.unique(sm.enroll_ids, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
    by_id = np.maximum.reduceat(sm.scores[order], starts, axis=0)  # (n_identities, n_trial)
    pos = np.searchsorted(ident, sm.trial_ids)
    pos[pos == ident.size] = 0
    true_row = np.where(ident[pos] == sm.trial_ids, pos, -1)
    greater, ties = column_ranks(by_id)
    return Ranked(ident, by_id, greater, ties, true_row)


def column_ranks(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entry: the number of entries of its column strictly greater, and equal to it (itself excluded)."""
    n = b.shape[0]
    order = np.argsort(b, axis=0, kind="stable")
    sv = np.take_along_axis(b, order, axis=0)
    idx = np.arange(n)[:, None]
    new = np.ones(b.shape, bool)
    new[1:] = sv[1:] != sv[:-1]
    first = np.maximum.accumulate(np.where(new, idx, 0), axis=0)
    last = np.ones(b.shape, bool)
    last[:-1] = new[1:]
    end = np.minimum.accumulate(np.where(last, idx, n - 1)[::-1], axis=0)[::-1] + 1
    greater, ties = np.empty(b.shape, np.int64), np.empty(b.shape, np.int64)
    np.put_along_axis(greater, order, n - end, axis=0)
    np.put_along_axis(ties, order, end - first - 1, axis=0)
    return greater, ties


def hit(greater, ties, k: int):
    """P(rank <= k) under random tie breaking: clip(k - g, 0, e + 1) / (e + 1)."""
    return np.clip(k - greater, 0, ties + 1) / (ties + 1)


def check_rank(k, name: str = "k") -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise BenchmarkError(f"{name} must be a positive integer, got {k!r}")
    return int(k)
