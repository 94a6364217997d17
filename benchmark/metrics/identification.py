"""Closed-set identification: rank-k rate (rank-1, rank-5 of the MRI re-identification studies) and CMC."""

from __future__ import annotations

import numpy as np

from benchmark.metrics._ranks import check_rank, hit, ranked
from benchmark.metrics.score_matrix import ScoreMatrix


def rank_k(scores, enroll_ids, trial_ids, k: int) -> float:
    """Fraction of closed-set trials whose true identity is among the k best-scoring identities.

    Input convention (see ``ScoreMatrix``):
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
    k = check_rank(k)
    return float(cmc(scores, enroll_ids, trial_ids, k)[-1])


def cmc(scores, enroll_ids, trial_ids, max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic: ``rank_k`` for k = 1 .. max_rank (default: every identity),
    as an array whose entry k - 1 is the rank-k rate (non-decreasing, reaching 1 at the gallery size)."""
    r = ranked(ScoreMatrix(scores, enroll_ids, trial_ids))
    k_max = r.identities.size if max_rank is None else check_rank(max_rank, "max_rank")
    cols = r.closed()
    rows = r.true_row[cols]
    g, e = r.greater[rows, cols], r.ties[rows, cols]
    ks = np.arange(1, k_max + 1)[:, None]
    return hit(g[None, :], e[None, :], ks).mean(axis=1)
