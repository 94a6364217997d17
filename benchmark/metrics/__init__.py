"""Privacy metrics on attacker scores: pure functions on numpy arrays (plots are the only I/O).

Two-class metrics take the scores of mated trials (same person) and non-mated trials, higher
score = more likely the same person. Results are fractions in [0, 1] unless a docstring says
otherwise (Cllr, ZEBRA's worst case, MAE).

- ``eer``: ROCCH equal error rate (BOSARIS, pyllr)
- ``cllr``, ``min_cllr``: log-likelihood-ratio cost and its PAV minimum (Brummer and du Preez 2006)
- ``smooth_linkability``: D<->sys (Gomez-Barrero et al. 2017) from kernel density estimates
- ``linkability``, ``local_linkability``: D<->sys binned as the VoicePrivacy tools
- ``auc``: P(mated > non-mated), ties half
- ``ScoreMatrix``: enrollment x trial scores with the persons of both sides
- ``rank_k``, ``cmc``, ``rank_k_ci``: closed-set identification rate, CMC curve, person-level interval
- ``dir_at_fpir``: open-set detection and identification rate at a false-positive identification rate
- ``permutation_null``: chance levels and p-values per attacker and for the worst case over attackers
- ``zebra``: expected and worst-case disclosure (Nautsch et al. 2020)
- ``Trials``, ``bootstrap_ci``: person-level bootstrap intervals
- ``age_scores``, ``sex_scores``, ``class_scores``: attribute inference with chance levels
- ``two_class_metrics``: eer, min_cllr, linkability and auc in one pass
- ``det_plot``, ``cmc_plot``, ``linkability_plot``: PNG + SVG figures
"""

from benchmark.metrics.attributes import age_scores, class_scores, sex_scores
from benchmark.metrics.auc import auc
from benchmark.metrics.bootstrap import Trials, bootstrap_ci
from benchmark.metrics.cllr import cllr, min_cllr
from benchmark.metrics.eer import det_points, eer
from benchmark.metrics.identification import cmc, rank_k
from benchmark.metrics.identification_bootstrap import rank_k_ci
from benchmark.metrics.linkability import linkability, local_linkability
from benchmark.metrics.open_set import dir_at_fpir
from benchmark.metrics.permutation import Chance, PermutationNull, permutation_null
from benchmark.metrics.plots import cmc_plot, det_plot, figure, linkability_plot, save_figure
from benchmark.metrics.score_matrix import ScoreMatrix
from benchmark.metrics.smooth_linkability import smooth_linkability
from benchmark.metrics.summary import two_class_metrics
from benchmark.metrics.zebra import zebra

__all__ = [
    "Chance",
    "PermutationNull",
    "ScoreMatrix",
    "Trials",
    "age_scores",
    "class_scores",
    "auc",
    "bootstrap_ci",
    "cllr",
    "cmc",
    "cmc_plot",
    "det_plot",
    "figure",
    "det_points",
    "dir_at_fpir",
    "eer",
    "linkability",
    "linkability_plot",
    "save_figure",
    "local_linkability",
    "min_cllr",
    "permutation_null",
    "rank_k",
    "rank_k_ci",
    "sex_scores",
    "smooth_linkability",
    "two_class_metrics",
    "zebra",
]
