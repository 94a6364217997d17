"""Two-class metrics: EER, Cllr / minCllr, linkability, AUC, ZEBRA, and their input checks.

References are independent of the code under test: scikit-learn (roc_auc_score, roc_curve,
IsotonicRegression), scipy's convex hull, closed forms for Gaussian scores, and small examples
computed by hand (the arithmetic is in the comments).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull
from scipy.stats import norm
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score, roc_curve

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import (
    auc,
    cllr,
    eer,
    linkability,
    local_linkability,
    min_cllr,
    two_class_metrics,
    zebra,
)
from benchmark.metrics.zebra import category_tag

LN2 = np.log(2.0)


def gauss(d=2.0, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(d, 1.0, n), rng.normal(0.0, 1.0, n)


# ---------------------------------------------------------------- AUC


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_sklearn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.normal(1, 1, 700), rng.normal(0, 1.5, 1300)
    for a, b in ((m, n), (np.round(m), np.round(n))):  # rounding creates many ties
        y = np.r_[np.ones(a.size), np.zeros(b.size)]
        assert auc(a, b) == pytest.approx(roc_auc_score(y, np.r_[a, b]), abs=1e-12)


def test_auc_hand_computed():
    # pairs (mated, non-mated): (1,0) win, (1,2) loss, (3,0) win, (3,2) win -> 3/4
    assert auc([1, 3], [0, 2]) == 0.75
    # (1,1) tie counts 1/2, (2,1) win -> (0.5 + 1) / 2
    assert auc([1, 2], [1]) == 0.75


# ---------------------------------------------------------------- EER


def test_eer_hand_computed():
    # sorted: 0(n) 1(m) 2(n) 3(m); PAV of 0,1,0,1 -> blocks {0}, {1,2} (p=1/2), {3}
    # hull (Pfa, Pmiss): (1,0) -> (0.5,0) -> (0,0.5) -> (0,1); the middle segment Pfa + Pmiss = 0.5
    # crosses the diagonal at 0.25
    assert eer([1, 3], [0, 2]) == pytest.approx(0.25, abs=1e-15)


def test_eer_ties_are_pooled_not_split_for_the_attacker():
    # mated [1,1], non-mated [0,1]. Blocks: {0: 0 m, 1 n}, {1: 2 m, 1 n}.
    # hull: (Pfa, Pmiss) (1,0) -> (0.5,0) -> (0,1); segment Pmiss = 1 - 2 Pfa meets Pmiss = Pfa at 1/3.
    # (Sorting mated above non-mated inside the tie would give EER 0.)
    assert eer([1, 1], [1, 0]) == pytest.approx(1 / 3, abs=1e-15)


def _eer_by_convex_hull(m, n):
    """Independent ROCCH-EER: scipy convex hull of sklearn's ROC points plus (1, 1), cut by Pmiss = Pfa."""
    y = np.r_[np.ones(m.size), np.zeros(n.size)]
    fpr, tpr, _ = roc_curve(y, np.r_[m, n], drop_intermediate=False)
    pts = np.unique(np.vstack([np.c_[fpr, 1 - tpr], [[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]]), axis=0)
    hull = ConvexHull(pts)
    cuts = []
    for i, j in hull.simplices:
        (px, py), (qx, qy) = pts[i], pts[j]
        den = (qx - px) - (qy - py)
        if den != 0:
            s = (py - px) / den
            if -1e-12 <= s <= 1 + 1e-12:
                cuts.append(px + s * (qx - px))
        elif px == py:
            cuts.append(min(px, qx))
    return min(cuts)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_eer_equals_convex_hull_reference(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.normal(1.2, 1, 300), rng.normal(0, 1, 500)
    assert eer(m, n) == pytest.approx(_eer_by_convex_hull(m, n), abs=1e-12)
    mi, ni = np.round(2 * m), np.round(2 * n)  # integer scores: many ties
    assert eer(mi, ni) == pytest.approx(_eer_by_convex_hull(mi, ni), abs=1e-12)


def test_eer_gaussian_closed_form():
    # N(d,1) vs N(0,1): threshold d/2 gives Pmiss = Pfa = Phi(-d/2)
    m, n = gauss(2.0, 100000)
    assert eer(m, n) == pytest.approx(norm.cdf(-1.0), abs=0.004)


# ---------------------------------------------------------------- Cllr, minCllr


def test_cllr_hand_computed():
    # llr 0 everywhere: log(1 + e^0) = ln 2 for both classes -> (ln2 + ln2) / (2 ln2) = 1
    assert cllr([0.0], [0.0]) == pytest.approx(1.0, abs=1e-15)
    # llr +-ln3: log(1 + 1/3) = ln(4/3) for both -> log2(4/3)
    assert cllr([np.log(3)], [-np.log(3)]) == pytest.approx(np.log2(4 / 3), abs=1e-15)
    assert cllr([np.inf], [-np.inf]) == 0.0
    assert cllr([-np.inf], [0.0]) == np.inf


def test_min_cllr_hand_computed():
    # blocks (T_b, N_b) = (0,1), (1,1), (1,0); a_b = T_b/2, c_b = N_b/2
    # only the middle block costs: 0.5 ln(1/0.5) + 0.5 ln(1/0.5) = ln 2 -> ln2 / (2 ln2) = 0.5
    assert min_cllr([1, 3], [0, 2]) == pytest.approx(0.5, abs=1e-15)


def _min_cllr_by_sklearn(m, n):
    """Independent minCllr: scikit-learn isotonic posteriors -> LLRs -> Cllr formula."""
    x = np.r_[m, n]
    y = np.r_[np.ones(m.size), np.zeros(n.size)]
    p = IsotonicRegression(increasing=True).fit_transform(x, y)
    with np.errstate(divide="ignore"):
        llr = np.log(p) - np.log1p(-p) - np.log(m.size / n.size)
    return (np.logaddexp(0, -llr[: m.size]).mean() + np.logaddexp(0, llr[m.size :]).mean()) / (2 * LN2)


@pytest.mark.parametrize("seed", [0, 1])
def test_min_cllr_equals_isotonic_reference(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.normal(1, 1, 400), rng.normal(0, 1, 600)
    assert min_cllr(m, n) == pytest.approx(_min_cllr_by_sklearn(m, n), abs=1e-9)
    mi, ni = np.round(m * 3), np.round(n * 3)  # ties: both pool equal scores
    assert min_cllr(mi, ni) == pytest.approx(_min_cllr_by_sklearn(mi, ni), abs=1e-9)


def test_min_cllr_is_a_lower_bound_and_calibrated_llrs_reach_it():
    m, n = gauss(1.5, 5000, seed=3)
    cmin = min_cllr(m, n)
    for a, b in ((1.0, 0.0), (0.5, -1.0), (3.0, 2.0)):
        assert cllr(a * m + b, a * n + b) >= cmin
    # calibrated Gaussian LLRs: mated ~ N(mu, 2mu), non-mated ~ N(-mu, 2mu) -> Cllr ~ minCllr
    rng = np.random.default_rng(4)
    mu = 2.0
    tar, non = rng.normal(mu, np.sqrt(2 * mu), 100000), rng.normal(-mu, np.sqrt(2 * mu), 100000)
    assert cllr(tar, non) == pytest.approx(min_cllr(tar, non), abs=0.01)


# ---------------------------------------------------------------- linkability


def test_linkability_hand_computed_two_bins():
    # 20 mated -> 20 // 10 = 2 bins over [0, 1]: edges 0, 0.5, 1, centres 0.25, 0.75, width 0.5
    m = np.r_[np.full(5, 0.1), np.full(14, 0.9), 1.0]  # 5 in bin 0, 15 in bin 1
    n = np.r_[0.0, np.full(14, 0.2), np.full(5, 0.8)]  # 15 in bin 0, 5 in bin 1
    # p(s|m) = [5, 15] / 20 / 0.5 = [0.5, 1.5], p(s|n) = [1.5, 0.5]; LR = [1/3, 3]
    # D = [0 (LR <= 1), 2 * 3/4 - 1 = 0.5]; Dsys = trapezoid over centres of D p(s|m) = [0, 0.75]
    #   = 0.5 * (0 + 0.75) / 2 = 0.1875
    assert linkability(m, n) == pytest.approx(0.1875, abs=1e-12)
    centres, d = local_linkability(m, n)
    np.testing.assert_allclose(centres, [0.25, 0.75])
    np.testing.assert_allclose(d, [0.0, 0.5])
    # omega = 2: omega LR = [2/3, 6] -> D = [0, 12/7 - 1 = 5/7]; Dsys = 0.25 * 5/7 * 1.5
    assert linkability(m, n, omega=2.0) == pytest.approx(0.25 * 5 / 7 * 1.5, abs=1e-12)


def _linkability_by_histogram(m, n, omega=1.0):
    """Straight from the formula with numpy.histogram(density=True) and numpy's trapezoid rule."""
    bins = min(m.size // 10, 100)
    edges = np.linspace(min(m.min(), n.min()), max(m.max(), n.max()), bins + 1)
    y1 = np.histogram(m, bins=edges, density=True)[0]
    y2 = np.histogram(n, bins=edges, density=True)[0]
    lr = np.divide(y1, y2, out=np.ones_like(y1), where=y2 != 0)
    d = np.where(omega * lr > 1, 2 * omega * lr / (1 + omega * lr) - 1, 0.0)
    d[(y2 == 0) & (y1 > 0)] = 1.0
    c = (edges[1:] + edges[:-1]) / 2
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
    return trapezoid(d * y1, c)


@pytest.mark.parametrize("seed", [0, 1])
def test_linkability_equals_histogram_formula(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.normal(1, 1, 3000), rng.normal(0, 1.3, 5000)
    assert linkability(m, n) == pytest.approx(_linkability_by_histogram(m, n), abs=1e-12)
    assert linkability(m, n, omega=0.5) == pytest.approx(_linkability_by_histogram(m, n, 0.5), abs=1e-12)
    # scores on a grid that puts many of them exactly on bin edges (0.1 steps, 100 bins over [0, 10])
    mg, ng = np.round(rng.uniform(3, 10, 1000), 1), np.r_[0.0, np.round(rng.uniform(0, 7, 999), 1)]
    mg[0] = 10.0
    assert linkability(mg, ng) == pytest.approx(_linkability_by_histogram(mg, ng), abs=1e-12)


def test_linkability_fully_separated_trapezoid_value():
    # 1000 mated spread evenly over (50, 100], 1000 non-mated over [0, 50): 100 bins of width 1.
    # D = 1 on the mated bins, 20 mated per bin (density 0.02); the trapezoid over the centres gives
    # the last bin half weight: Dsys = 50 * 0.02 - 0.02 / 2 = 1 - 0.01 = 0.99
    m = 50 + (np.arange(1000) + 0.5) * 0.05
    n = (np.arange(1000) + 0.5) * 0.05
    m[-1], n[0] = 100.0, 0.0
    assert linkability(m, n) == pytest.approx(0.99, abs=1e-12)
    # more bins, smaller share of the mated scores in the last bin: 1 - share / 2 -> 1
    assert linkability(m, n, n_bins=200) == pytest.approx(1 - 0.01 / 2, abs=1e-12)
    assert linkability(m, n, n_bins=1000) == pytest.approx(1 - 0.002 / 2, abs=1e-12)


# ---------------------------------------------------------------- analytic extremes, all metrics


def test_identical_scores_give_chance_exactly():
    x = np.random.default_rng(5).normal(0, 1, 2000)
    assert eer(x, x) == 0.5
    assert auc(x, x) == 0.5
    assert min_cllr(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linkability(x, x) == 0.0
    assert zebra(x, x) == {"expected": 0.0, "worst_case": 0.0, "tag": "0"}


def test_same_distribution_gives_near_chance():
    rng = np.random.default_rng(6)
    m, n = rng.normal(0, 1, 100000), rng.normal(0, 1, 100000)
    assert 0.49 < eer(m, n) <= 0.5
    assert auc(m, n) == pytest.approx(0.5, abs=0.006)
    assert 0.99 < min_cllr(m, n) <= 1.0
    assert linkability(m, n) < 0.03
    assert zebra(m, n)["expected"] < 0.01


def test_fully_separated():
    m, n = np.linspace(5, 6, 999), np.linspace(0, 1, 999)
    assert eer(m, n) == 0.0
    assert auc(m, n) == 1.0
    assert min_cllr(m, n) == 0.0
    z = zebra(m, n)
    assert z["expected"] == pytest.approx(0.5 / LN2, abs=1e-12)
    # Laplace PAV blocks: {pseudo (1,1) + 999 non-mated} p = 1/1001 and {999 mated + pseudo} p = 1000/1001,
    # LLR = +-log(1000) -> worst case log10(1000) = 3, tag C (2 < 3 <= 4)
    assert z["worst_case"] == pytest.approx(3.0, abs=1e-12)
    assert z["tag"] == "C"


def test_two_class_metrics_matches_single_functions():
    m, n = gauss(1.0, 3000, seed=7)
    got = two_class_metrics(m, n)
    assert got == {"eer": eer(m, n), "min_cllr": min_cllr(m, n), "linkability": linkability(m, n), "auc": auc(m, n)}


# ---------------------------------------------------------------- ZEBRA


def test_zebra_hand_computed():
    # PAV blocks (no Laplace): {0} p=0, {1,2} p=1/2, {3} p=1; T = N = 2 -> LLRs -inf, 0, +inf
    # mated LLRs [0, +inf]: Z = 1/4 + (z(0) + z(inf)) / 2 / 2 = 1/4 + (-1/2 + 0) / 4 = 1/8
    # non-mated -LLRs [+inf, 0]: also 1/8 -> expected = (1/8 + 1/8) / ln 2
    # Laplace: 1,0 | 0 | 1 | 0 | 1 | 1,0 -> blocks p = 1/3, 1/2, 2/3 -> LLR -ln2, 0, ln2
    # worst case = ln2 / ln10 = log10(2) -> tag A
    z = zebra([1, 3], [0, 2])
    assert z["expected"] == pytest.approx(0.25 / LN2, abs=1e-15)
    assert z["worst_case"] == pytest.approx(np.log10(2), abs=1e-15)
    assert z["tag"] == "A"


def test_zebra_tags():
    eps = np.finfo(float).eps
    cases = {0.0: "0", eps: "0", 0.5: "A", 1.0: "A", 1.5: "B", 2.0: "B", 3.0: "C", 4.5: "D", 5.5: "E", 7: "F"}
    for value, tag in cases.items():
        assert category_tag(value) == tag, value
    assert category_tag(np.inf) == "F"


# ---------------------------------------------------------------- input checks

TWO_CLASS = [eer, auc, cllr, min_cllr, linkability, zebra, two_class_metrics]


@pytest.mark.parametrize("fn", TWO_CLASS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "mated, nonmated, words",
    [
        ([], np.arange(20.0), "mated scores is empty"),
        (np.arange(20.0), [], "non-mated scores is empty"),
        (np.r_[np.arange(19.0), np.nan], np.arange(20.0), "NaN"),
        (np.arange(20.0), np.r_[np.nan, np.arange(19.0)], "NaN"),
        (np.ones((4, 5)), np.arange(20.0), "1-D"),
        (["a", "b"], np.arange(20.0), "numbers"),
    ],
)
def test_bad_inputs_raise_clear_errors(fn, mated, nonmated, words):
    with pytest.raises(BenchmarkError, match=words):
        fn(mated, nonmated)


def test_linkability_specific_checks():
    with pytest.raises(BenchmarkError, match="at least 10 mated"):
        linkability(np.arange(9.0), np.arange(30.0))
    assert linkability(np.arange(9.0) + 100, np.arange(30.0), n_bins=2) > 0
    with pytest.raises(BenchmarkError, match="infinite"):
        linkability(np.r_[np.arange(19.0), np.inf], np.arange(20.0))
    with pytest.raises(BenchmarkError, match="omega"):
        linkability(np.arange(20.0), np.arange(20.0), omega=0)
    with pytest.raises(BenchmarkError, match="n_bins"):
        linkability(np.arange(20.0), np.arange(20.0), n_bins=0)
