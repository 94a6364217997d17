"""Cllr and minCllr: the log-likelihood-ratio cost of Brummer and du Preez (2006)."""

from __future__ import annotations

import numpy as np

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import Groups, group_scores, pav_blocks

_LN2 = np.log(2.0)


def cllr(mated_llr, nonmated_llr) -> float:
    """Cllr of natural-log likelihood ratios, in bits (0 perfect, 1 uninformative, >1 miscalibrated):

        Cllr = 1 / (2 ln 2) * [ mean_mated log(1 + e^-llr) + mean_nonmated log(1 + e^llr) ]

    Reference: Brummer and du Preez, "Application-independent evaluation of speaker detection",
    Computer Speech and Language 20(2-3), 2006; BOSARIS ``cllr.m``. Infinite LLRs are allowed (a
    wrong infinite LLR gives Cllr = inf). Cllr is a cost, not a fraction: it can exceed 1.
    """
    m, n = as_pair(mated_llr, nonmated_llr)
    return float((np.logaddexp(0.0, -m).mean() + np.logaddexp(0.0, n).mean()) / (2.0 * _LN2))


def min_cllr(mated, nonmated) -> float:
    """minCllr: Cllr after the optimal monotone calibration of the scores, in [0, 1].

    PAV turns the scores into the LLRs that minimise Cllr among all monotone maps; with the PAV
    blocks b holding a_b = T_b / T of the mated and c_b = N_b / N of the non-mated scores, the
    calibrated LLR is log(a_b / c_b) and

        minCllr = 1 / (2 ln 2) * sum_b [ a_b log((a_b + c_b) / a_b) + c_b log((a_b + c_b) / c_b) ]

    with 0 log(.) = 0. Ties are pooled (one block never splits a tie). References: Brummer and du
    Preez 2006; BOSARIS ``min_cllr.m``/``opt_loglr.m``; pyllr. The BOSARIS/VoicePrivacy code also
    adds a 1e-6 "monotonicity epsilon" to the LLRs, which moves the result by less than 1e-6.
    """
    m, n = as_pair(mated, nonmated)
    return min_cllr_from_groups(group_scores(m, n))


def min_cllr_from_groups(g: Groups) -> float:
    """minCllr from grouped counts (weights allowed)."""
    return min_cllr_from_blocks(*pav_blocks(g.t, g.n))


def min_cllr_from_blocks(tb: np.ndarray, nb: np.ndarray) -> float:
    """minCllr from PAV blocks."""
    a = tb / tb.sum()
    c = nb / nb.sum()
    s = a + c
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(a > 0, a * np.log(s / a), 0.0)
        tc = np.where(c > 0, c * np.log(s / c), 0.0)
    return float(min(max((ta.sum() + tc.sum()) / (2.0 * _LN2), 0.0), 1.0))


def min_cllr_rows(tb: np.ndarray, nb: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``min_cllr_from_blocks`` of many rows of integer PAV blocks at once (row i: ``starts[i]:starts[i + 1]``),
    bit for bit: the terms are the same elementwise expressions, and each row's terms are summed as one
    row of a 2-D array of the rows with as many blocks (numpy's pairwise sum of that row)."""
    sizes = np.diff(starts)
    row = np.repeat(np.arange(sizes.size), sizes)
    a = tb / np.add.reduceat(tb, starts[:-1])[row]  # integer totals: exact in any order
    c = nb / np.add.reduceat(nb, starts[:-1])[row]
    s = a + c
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(a > 0, a * np.log(s / a), 0.0)
        tc = np.where(c > 0, c * np.log(s / c), 0.0)
    out = np.empty(sizes.size)
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        at = starts[rows][:, None] + np.arange(k)
        out[rows] = (ta[at].sum(axis=1) + tc[at].sum(axis=1)) / (2.0 * _LN2)
    return np.where(1.0 < out, 1.0, np.where(0.0 > out, 0.0, out))  # min(max(v, 0.0), 1.0) as Python's
