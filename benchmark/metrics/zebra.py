"""ZEBRA: expected and worst-case privacy disclosure of Nautsch et al. (2020)."""

from __future__ import annotations

import numpy as np

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import Groups, block_llrs, group_scores, pav_blocks

_LN2 = np.log(2.0)
_LN10 = np.log(10.0)
_EPS = float(np.finfo(float).eps)

# categorical tags on max |log10 LR|, inspired by the ENFSI verbal scale (upper bounds inclusive)
TAGS: tuple[tuple[str, float], ...] = (
    ("0", _EPS),
    ("A", 1.0),
    ("B", 2.0),
    ("C", 4.0),
    ("D", 5.0),
    ("E", 6.0),
    ("F", np.inf),
)


def zebra(mated, nonmated) -> dict:
    """ZEBRA privacy figures: ``{"expected": bits, "worst_case": log10 LR, "tag": str}``.

    - ``expected`` (population level, D_ECE, in bits, within [0, 1/(2 ln 2) = 0.7213]): the area
      between the default and the minimum empirical cross-entropy (ECE) over the prior log-odds,
      computed in closed form from the PAV-calibrated LLRs (no Laplace):

          D_ECE = [Z(llr_mated) + Z(-llr_nonmated)] / ln 2,   Z(X) = 1/4 + mean_x z(x) / 2,
          z(x) = (x - (e^x - 1)) / (e^x - 1)^2,  z(0) = -1/2,  z(+inf) = 0.

      0 when the scores carry no information, 0.7213 for perfect separation.
    - ``worst_case`` (individual level): max |LLR| in log10 units of the PAV-calibrated LLRs with
      Laplace's rule (one mated and one non-mated pseudo-score added below and above all scores),
      taken over the real trials; 0 means no trial reveals anything. Not a fraction: a log10
      likelihood ratio, 0 up to about log10(number of trials).
    - ``tag``: the categorical tag of ``worst_case`` (ENFSI-inspired): 0 (<= eps), A (<= 1),
      B (<= 2), C (<= 4), D (<= 5), E (<= 6), F (> 6).

    Ties are pooled. Reference: A. Nautsch, J. Patino, N. Tomashenko, J. Yamagishi, P.-G. Noe,
    J.-F. Bonastre, M. Todisco, N. Evans, "The Privacy ZEBRA: Zero Evidence Biometric Recognition
    Assessment", Interspeech 2020; the reference code (``zebra/plo_plots.py``, ``zebra_framework``).
    The reference adds a 1e-6 monotonicity epsilon to the LLRs; results differ by less than 1e-6.
    """
    m, n = as_pair(mated, nonmated)
    return zebra_from_groups(group_scores(m, n))


def zebra_from_groups(g: Groups) -> dict:
    """ZEBRA figures from grouped counts (weights allowed)."""
    T, N = g.n_mated, g.n_nonmated
    tb, nb = pav_blocks(g.t, g.n)
    llr = block_llrs(tb, nb, T, N)
    z_m = np.sum(tb[tb > 0] * _z(llr[tb > 0])) / T
    z_n = np.sum(nb[nb > 0] * _z(-llr[nb > 0])) / N
    expected = ((0.25 + z_m / 2) + (0.25 + z_n / 2)) / _LN2
    worst = _worst_case(g)
    return {"expected": float(min(max(expected, 0.0), 0.5 / _LN2)), "worst_case": worst, "tag": category_tag(worst)}


def _z(x: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    """z(x) = (x - b) / b^2 with b = e^x - 1; -1/2 near 0 (its limit), 0 at +inf."""
    out = np.zeros_like(x)
    small = np.abs(x) <= epsilon
    ok = np.isfinite(x) & ~small
    b = np.expm1(x[ok])
    out[ok] = (x[ok] - b) / b**2
    out[small] = -0.5
    out[x == -np.inf] = -np.inf  # never happens for PAV LLRs of the own class
    return out


def _worst_case(g: Groups) -> float:
    """max |log10 LR| over real trials, PAV with Laplace's rule (pseudo-counts 1+1 at both ends)."""
    t = np.concatenate([[1.0], g.t, [1.0]])
    n = np.concatenate([[1.0], g.n, [1.0]])
    tb, nb = pav_blocks(t, n)
    llr = block_llrs(tb, nb, g.n_mated, g.n_nonmated)
    # the first (last) block is the pseudo group alone when its weight is exactly 2; skip it then
    first = 1 if tb[0] + nb[0] == 2.0 else 0
    last = llr.size - 2 if tb[-1] + nb[-1] == 2.0 else llr.size - 1
    worst = max(abs(llr[first]), abs(llr[last])) / _LN10
    return float(worst)


def category_tag(worst_case: float) -> str:
    """ZEBRA categorical tag of a worst-case max |log10 LR|."""
    for tag, upper in TAGS:
        if worst_case <= upper:
            return tag
    return TAGS[-1][0]
