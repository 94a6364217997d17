"""Privacy metrics on attacker scores: pure functions on numpy arrays (plots are the only I/O).

Two-class metrics take the scores of mated trials (same person) and non-mated trials, higher
score = more likely the same person. Results are fractions in [0, 1] unless a docstring says
otherwise (Cllr, ZEBRA's worst case, MAE).

- ``eer``: ROCCH equal error rate (BOSARIS, pyllr)
- ``cllr``, ``min_cllr``: log-likelihood-ratio cost and its PAV minimum (Brummer and du Preez 2006)
- ``linkability``, ``local_linkability``: D<->sys (Gomez-Barrero et al. 2017, VoicePrivacy binning)
- ``auc``: P(mated > non-mated), ties half
- ``rank_k``: closed-set identification rate
- ``zebra``: expected and worst-case disclosure (Nautsch et al. 2020)
- ``Trials``, ``bootstrap_ci``: person-level bootstrap intervals
- ``age_scores``, ``sex_scores``: attribute inference with chance levels
- ``two_class_metrics``: eer, min_cllr, linkability and auc in one pass
- ``det_plot``, ``linkability_plot``: PNG + SVG figures
"""

from benchmark.metrics.attributes import age_scores, sex_scores
from benchmark.metrics.auc import auc
from benchmark.metrics.bootstrap import Trials, bootstrap_ci
from benchmark.metrics.cllr import cllr, min_cllr
from benchmark.metrics.eer import det_points, eer
from benchmark.metrics.identification import rank_k
from benchmark.metrics.linkability import linkability, local_linkability
from benchmark.metrics.plots import det_plot, linkability_plot
from benchmark.metrics.summary import two_class_metrics
from benchmark.metrics.zebra import zebra

__all__ = [
    "Trials",
    "age_scores",
    "auc",
    "bootstrap_ci",
    "cllr",
    "det_plot",
    "det_points",
    "eer",
    "linkability",
    "linkability_plot",
    "local_linkability",
    "min_cllr",
    "rank_k",
    "sex_scores",
    "two_class_metrics",
    "zebra",
]
