"""Closed-set identification rate at rank k (rank-1, rank-5 of the MRI re-identification studies)."""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_labels


def rank_k(scores, enroll_ids, trial_ids, k: int) -> float:
    """Fraction of closed-set trials whose true identity is among the k best-scoring identities.

    Input convention:
      - ``scores``: (n_enroll, n_trial) float array; ``scores[i, j]`` compares enrollment sample i
        with trial j, higher = more similar. Use -inf for pairs that were not scored; NaN is refused.
      - ``enroll_ids``: (n_enroll,) identity label of each enrollment sample (row). A person may
        have several rows: an identity's score for a trial is its best row (max over its samples).
      - ``trial_ids``: (n_trial,) true identity of each trial (column). Trials whose identity has no
        enrollment row are open-set and are left out (closed-set rate over the remaining ones).

    For a closed-set trial with g other identities scoring strictly higher than the true one and
    e others tying with it, the true identity's rank is uniform on g+1 .. g+e+1 under random tie
    breaking, and the trial counts

        P(rank <= k) = clip(k - g, 0, e + 1) / (e + 1)

    (1 or 0 without ties; ties counted in expectation, like AUC's half). Reference: the CMC /
    rank-k identification rate (ISO/IEC 19795-1); Schwarz et al., NEJM 2019 report rank-1 and rank-5.
    """
    s = _as_matrix(scores)
    e_ids = as_labels(enroll_ids, "enroll_ids")
    t_ids = as_labels(trial_ids, "trial_ids")
    if s.shape != (e_ids.size, t_ids.size):
        raise BenchmarkError(
            f"scores has shape {s.shape} but enroll_ids has {e_ids.size} and trial_ids {t_ids.size} entries; "
            "scores must be (n_enroll, n_trial)"
        )
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise BenchmarkError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    ident, inv = np.unique(e_ids, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
    by_id = np.maximum.reduceat(s[order], starts, axis=0)  # (n_identities, n_trial)
    pos = np.searchsorted(ident, t_ids)
    pos[pos == ident.size] = 0
    closed = ident[pos] == t_ids
    if not closed.any():
        raise BenchmarkError(
            "no trial identity appears among the enrollment identities: a closed-set rate needs at least one "
            "trial whose person is enrolled (check that enroll_ids and trial_ids use the same labels)"
        )
    cols = np.flatnonzero(closed)
    sub = by_id[:, cols]
    true = sub[pos[cols], np.arange(cols.size)]
    greater = (sub > true).sum(axis=0)
    ties = (sub == true).sum(axis=0) - 1
    hit = np.clip(k - greater, 0, ties + 1) / (ties + 1)
    return float(hit.mean())


def _as_matrix(scores) -> np.ndarray:
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"scores must be numbers: {exc}") from None
    if s.ndim != 2 or s.size == 0:
        raise BenchmarkError(f"scores must be a non-empty 2-D (n_enroll, n_trial) array, got shape {s.shape}")
    if np.isnan(s).any():
        raise BenchmarkError(
            f"scores holds {int(np.isnan(s).sum())} NaN value(s); use -inf for enrollment/trial pairs not scored"
        )
    return s
