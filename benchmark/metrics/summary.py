"""The published two-class metrics in one call, sorting and pooling the scores once."""

from __future__ import annotations

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import group_scores, pav_blocks
from benchmark.metrics.auc import auc_from_groups
from benchmark.metrics.cllr import min_cllr_from_blocks
from benchmark.metrics.eer import eer_from_blocks
from benchmark.metrics.linkability import linkability_bins


def two_class_metrics(mated, nonmated, omega: float = 1.0) -> dict:
    """``{"eer", "min_cllr", "linkability", "auc"}`` (the metric keys of results.json), each equal to
    its own function (``eer``, ``min_cllr``, ``linkability``, ``auc``) but sharing the sort and the
    PAV. Scores must be finite (linkability bins the score range)."""
    m, n = as_pair(mated, nonmated, finite=True)
    g = group_scores(m, n)
    tb, nb = pav_blocks(g.t, g.n)
    return {
        "eer": eer_from_blocks(tb, nb),
        "min_cllr": min_cllr_from_blocks(tb, nb),
        "linkability": linkability_bins(g, omega).dsys,
        "auc": auc_from_groups(g),
    }
