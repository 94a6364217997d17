"""Person-level bootstrap intervals of the rank-k identification rate."""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._ranks import check_rank, hit, ranked
from benchmark.metrics.bootstrap import multiplicity_rows
from benchmark.metrics.score_matrix import ScoreMatrix


def rank_k_ci(scores, enroll_ids, trial_ids, k: int, n: int = 1000, seed: int = 0,
              level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (low, high) of ``rank_k`` over probe persons drawn with replacement.

    The P persons with closed-set trials are drawn with replacement (``bootstrap_ci``'s step 1),
    person p m_p times, and each of p's trials counts m_p times: the rate is
    sum_j m_p(j) h_j / sum_j m_p(j), with h_j the trial's ``rank_k`` hit. The gallery stays whole:
    rank-k depends on the gallery size, and a gallery resampled with replacement holds fewer distinct
    identities (about 63%), which would inflate the rates; the interval is conditional on the gallery.
    """
    k = check_rank(k)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise BenchmarkError(f"n (number of resamples) must be a positive integer, got {n!r}")
    if not 0 < level < 1:
        raise BenchmarkError(f"level must be in (0, 1), got {level!r}")
    sm = ScoreMatrix(scores, enroll_ids, trial_ids)
    r = ranked(sm)
    cols = r.closed()
    rows = r.true_row[cols]
    h = hit(r.greater[rows, cols], r.ties[rows, cols], k)
    persons, code = np.unique(sm.trial_ids[cols], return_inverse=True)
    per_person = np.bincount(code, weights=h, minlength=persons.size)
    trials = np.bincount(code, minlength=persons.size).astype(np.float64)
    rng = np.random.default_rng(seed)
    m = multiplicity_rows(rng, persons.size, int(n))
    values = (m @ per_person) / (m @ trials)
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
