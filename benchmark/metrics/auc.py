"""Area under the ROC curve: the probability that a mated score beats a non-mated one."""

from __future__ import annotations

import numpy as np

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import Groups, group_scores


def auc(mated, nonmated) -> float:
    """AUC = P(s_mated > s_nonmated) + P(s_mated = s_nonmated) / 2, in [0, 1] (0.5: chance).

    Counted exactly over all mated x non-mated pairs (the Mann-Whitney U statistic divided by
    T N): with the distinct scores v_j holding t_j mated and n_j non-mated trials,

        AUC = sum_j t_j (sum_{i<j} n_i + n_j / 2) / (T N).

    This equals the trapezoidal area under the empirical ROC (scikit-learn ``roc_auc_score``).
    Reference: Hanley and McNeil, Radiology 143(1), 1982.
    """
    m, n = as_pair(mated, nonmated)
    return auc_from_groups(group_scores(m, n))


def auc_from_groups(g: Groups) -> float:
    """AUC from grouped counts (weights allowed)."""
    below = np.cumsum(g.n) - g.n
    num = np.sum(g.t * (below + 0.5 * g.n))  # no BLAS: its threads crawl on a busy machine
    return float(num / (g.t.sum() * g.n.sum()))
