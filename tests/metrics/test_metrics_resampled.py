"""Batched resampling gives bit-for-bit the numbers of the one-resample-at-a-time algorithm.

``bootstrap_ci`` draws its resamples in batches and computes each metric for a batch at once
(``benchmark.metrics._resampled``); the permutation engine computes PAV metrics and smoothed
linkabilities of many rows at once. The reference below is a frozen copy of the earlier code: one
resample drawn (and redrawn) at a time, this package's metrics through their former fast paths,
anything else on the scores repeated by their weights, and the earlier kernel density code. Every
comparison is exact (equal bits), on cohorts of several sizes, with tied scores and with cohorts so
small that many resamples are redrawn.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import benchmark.metrics as M
from benchmark.core.errors import BenchmarkError
from benchmark.metrics import _kde
from benchmark.metrics._groups import Groups, group_scores, pav_blocks, pav_rows, pure_run_ids
from benchmark.metrics.auc import auc_from_groups
from benchmark.metrics.bootstrap import (
    _resamples,
    _Sorted,
    _statistic,
    multiplicity_rows,
)
from benchmark.metrics.cllr import min_cllr_from_blocks, min_cllr_from_groups, min_cllr_rows
from benchmark.metrics.eer import eer_from_blocks, eer_from_groups, eer_rows
from benchmark.metrics.linkability import binned_linkability

# ---------------------------------------------------------------- frozen reference (the earlier code)


def person_multiplicities(rng, n_persons):
    return np.bincount(rng.integers(0, n_persons, n_persons), minlength=n_persons).astype(np.float64)


def ref_linear_bin(values, rows, n_rows, x0, dx):
    pos = np.clip((values - x0) / dx, 0.0, _kde.GRID - 1 - 1e-9)
    left = pos.astype(np.int64)
    frac = pos - left
    flat = rows.astype(np.int64) * _kde.GRID + left
    size = n_rows * _kde.GRID
    out = np.bincount(flat, weights=1.0 - frac, minlength=size) + np.bincount(flat + 1, weights=frac, minlength=size)
    return out[:size].reshape(n_rows, _kde.GRID)


def ref_smooth(weights, h, dx):
    n = 3 * _kde.GRID
    f = np.fft.rfftfreq(n, d=dx)
    transfer = np.exp(-0.5 * (2.0 * np.pi * f[None, :] * h[:, None]) ** 2)
    dens = np.fft.irfft(np.fft.rfft(weights, n=n, axis=1) * transfer, n=n, axis=1)[:, :_kde.GRID]
    return np.maximum(dens, 0.0) / (weights.sum(axis=1, keepdims=True) * dx)


def ref_dsys(wm, wn, hm, hn, dx, omega):
    t = wm.sum(axis=1, keepdims=True)
    fm, fn = ref_smooth(wm, hm, dx), ref_smooth(wn, hn, dx)
    loo = np.maximum((t * fm - 1.0 / (hm[:, None] * np.sqrt(2.0 * np.pi))) / (t - 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        olr = omega * loo / fn
        d = np.where(olr > 1.0, (olr - 1.0) / (olr + 1.0), 0.0)
    d[(fn <= 0) & (loo > 0)] = 1.0
    return (wm * d).sum(axis=1) / t[:, 0]


def ref_rows_dsys(mated, rows, n_rows, pooled, omega):
    lo, hi = float(pooled.min()), float(pooled.max())
    if lo == hi:
        return np.zeros(n_rows)
    t = np.bincount(rows, minlength=n_rows).astype(np.float64)
    s1 = np.bincount(rows, weights=mated, minlength=n_rows)
    s2 = np.bincount(rows, weights=mated * mated, minlength=n_rows)
    x0, dx = lo, (hi - lo) / (_kde.GRID - 1)
    hm = np.maximum(_kde.bandwidths(t, s1, s2), 2 * dx)
    hn = np.maximum(_kde.bandwidths(pooled.size - t, pooled.sum() - s1, (pooled * pooled).sum() - s2), 2 * dx)
    wm = ref_linear_bin(mated, rows, n_rows, x0, dx)
    wn = ref_linear_bin(pooled, np.zeros(pooled.size, np.int64), 1, x0, dx) - wm
    return ref_dsys(wm, np.maximum(wn, 0.0), hm, hn, dx, omega)


def ref_smooth_linkability(mated, nonmated, omega=1.0):
    m, n = np.asarray(mated, float), np.asarray(nonmated, float)
    return float(ref_rows_dsys(m, np.zeros(m.size, np.int64), 1, np.concatenate([m, n]), omega)[0])


ref_smooth_linkability.min_mated = 2


def ref_statistic(metric, srt):
    """The earlier per-resample statistic: fast paths for this package's metrics, else repetition."""
    names = {"eer": M.eer, "min_cllr": M.min_cllr, "auc": M.auc, "cllr": M.cllr, "linkability": M.linkability}
    metric = names.get(metric, metric)
    sm, sn = srt.sm, srt.sn
    if metric is M.cllr:
        cm, cn = np.logaddexp(0.0, -sm), np.logaddexp(0.0, sn)
        return lambda wm, wn: float((np.sum(wm * cm) / wm.sum() + np.sum(wn * cn) / wn.sum()) / (2 * np.log(2.0)))
    if metric is M.linkability:
        return lambda wm, wn: binned_linkability(sm, np.cumsum(wm), sn, np.cumsum(wn)).dsys
    if metric in (M.eer, M.min_cllr, M.auc):
        g = group_scores(sm, sn)
        run_of_group = pure_run_ids(g.t, g.n)
        r = int(run_of_group[-1]) + 1
        run_m, start_m = ref_slices(run_of_group[np.searchsorted(g.values, sm)])
        run_n, start_n = ref_slices(run_of_group[np.searchsorted(g.values, sn)])
        from_groups = {M.eer: eer_from_groups, M.min_cllr: min_cllr_from_groups, M.auc: auc_from_groups}[metric]

        def runs(wm, wn):
            t, n = np.zeros(r), np.zeros(r)
            t[run_m] = np.add.reduceat(wm, start_m)
            n[run_n] = np.add.reduceat(wn, start_n)
            keep = (t + n) > 0
            return from_groups(Groups(np.arange(r, dtype=np.float64)[keep], t[keep], n[keep]))

        return runs
    if metric is M.smooth_linkability:
        metric = ref_smooth_linkability
    return lambda wm, wn: float(metric(np.repeat(sm, wm.astype(np.int64)), np.repeat(sn, wn.astype(np.int64))))


def ref_slices(ids):
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return ids[starts], starts


def ref_values(metric, trials, unit="subject", n=100, seed=0):
    """The earlier loop: draw one resample, redraw it while invalid (at most 1000 times), compute."""
    srt = _Sorted.of(trials)
    stat = ref_statistic(metric, srt)
    rng = np.random.default_rng(seed)
    min_mated = int(getattr(metric, "min_mated", 1))
    k, size = srt.sm.size, srt.sm.size + srt.sn.size

    def raw():
        if unit == "trial":
            w = np.bincount(rng.integers(0, size, size), minlength=size).astype(np.float64)
            return w[:k], w[k:]
        m = np.bincount(rng.integers(0, srt.n_persons, srt.n_persons), minlength=srt.n_persons).astype(np.float64)
        return np.take(m, srt.pm), np.take(m, srt.en) * np.take(m, srt.tn)

    values = np.empty(n)
    for i in range(n):
        for _ in range(1000):
            wm, wn = raw()
            if wm.sum() >= min_mated and wn.any():
                break
        else:
            raise BenchmarkError("1000 resamples in a row lost the mated or the non-mated class")
        values[i] = stat(wm, wn)
    return values


def ref_ci(metric, trials, unit="subject", n=100, seed=0, level=0.95):
    low, high = np.quantile(ref_values(metric, trials, unit, n, seed), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


# ---------------------------------------------------------------- the code under test


def new_values(metric, trials, unit="subject", n=100, seed=0):
    srt = _Sorted.of(trials)
    stat = _statistic(metric, srt)
    draws = _resamples(srt, unit, np.random.default_rng(seed), int(getattr(metric, "min_mated", 1)), n)
    return np.concatenate([stat(wm, wn) for wm, wn in draws])


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def cohort(seed, persons=15, sessions=2, d=1.5, ties=None, tied_pair=False) -> M.Trials:
    """Every enrolled person against ``sessions`` trial samples of each person: persons * persons * sessions
    trials, persons * sessions mated; ``ties`` rounds the scores to that many decimals; ``tied_pair`` gives
    every trial between the first two persons one score, so resamples of only them have a single value."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"p{i:02d}" for i in range(persons)])
    e, t = np.repeat(ids, persons * sessions), np.tile(np.repeat(ids, sessions), persons)
    scores = rng.normal(0, 1, e.size) + d * (e == t)
    if ties is not None:
        scores = np.round(scores, ties)
    if tied_pair:
        scores[np.isin(e, ids[:2]) & np.isin(t, ids[:2])] = 0.25
    return M.Trials(scores, e == t, e, t)


COHORTS = {
    "15x2": lambda: cohort(0),
    "15x2-ties": lambda: cohort(1, ties=0),
    "9x3-d0": lambda: cohort(2, persons=9, sessions=3, d=0.0),
    "4x1-redraws": lambda: cohort(3, persons=4, sessions=1, d=2.0),
    "3x1-tied-pair": lambda: cohort(4, persons=3, sessions=1, ties=1, tied_pair=True),
    "25x1": lambda: cohort(5, persons=25, sessions=1, d=1.0),
}
METRICS = {
    "eer": "eer",
    "min_cllr": "min_cllr",
    "auc": "auc",
    "cllr": "cllr",
    "smooth_linkability": M.smooth_linkability,
    "binned_2": functools.partial(M.linkability, n_bins=2),
    "binned_3_omega": functools.partial(M.linkability, n_bins=3, omega=2.5),
    "linkability": "linkability",
}


@pytest.mark.parametrize("unit", ["subject", "trial"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_resampled_metrics_equal_the_frozen_loop(metric, unit):
    fn = METRICS[metric]
    for name, make in COHORTS.items():
        tr = make()
        if metric == "linkability" and tr.mated.sum() < 20:
            continue  # below 10 drawn mated trials the binning raises (tested below)
        n = 60 if metric == "smooth_linkability" else 120
        want = ref_values(fn, tr, unit, n=n, seed=len(name))
        got = new_values(fn, tr, unit, n=n, seed=len(name))
        assert same_bits(got, want), (name, metric, unit)
        if name == "15x2":
            assert M.bootstrap_ci(fn, tr, unit=unit, n=n, seed=len(name)) == ref_ci(fn, tr, unit, n=n, seed=len(name))


def test_tied_pair_cohort_reaches_single_value_resamples():
    """The tiny tied cohort does produce resamples where every score is one value (Dsys 0 there)."""
    values = new_values(M.smooth_linkability, COHORTS["3x1-tied-pair"](), n=60, seed=3)
    assert (values == 0.0).any() and (values > 0.0).any()


def test_generic_callable_sees_the_same_resamples():
    tr = COHORTS["9x3-d0"]()
    seen_new, seen_ref = [], []

    def recorder(seen):
        return lambda m, n: seen.append((m.copy(), n.copy())) or float(m.sum() - n.sum())

    assert same_bits(new_values(recorder(seen_new), tr, n=50, seed=9), ref_values(recorder(seen_ref), tr, n=50, seed=9))
    assert all(same_bits(a, c) and same_bits(b, d) for (a, b), (c, d) in zip(seen_new, seen_ref))


@pytest.mark.parametrize("unit", ["subject", "trial"])
def test_a_run_of_invalid_resamples_fails_after_the_same_calls(unit):
    """Valid resamples are rare (the one mated trial, or its person, drawn 5 times of 15), so a run of 1000
    invalid ones comes after a few valid ones: both codes evaluate the same ones, then raise."""
    rng = np.random.default_rng(0)
    ids = np.array([f"p{i:02d}" for i in range(15)])
    e, t = np.repeat(ids[:1], 15), ids
    tr = M.Trials(rng.normal(0, 1, 15), e == t, e, t)
    outcomes = []
    for values in (ref_values, new_values):
        calls = []

        def rare(m, n):
            calls.append(m.size)
            return float(m.mean())

        rare.min_mated = 5
        with pytest.raises(BenchmarkError, match="1000 resamples in a row"):
            values(rare, tr, unit, n=1000, seed=1)
        outcomes.append(calls)
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) > 0


def test_too_few_mated_trials_for_the_binning_raise_alike():
    """12 mated trials of 144 resampled as trials: some resample keeps fewer than 10; both raise there."""
    tr = cohort(6, persons=12, sessions=1)
    messages = []
    for values in (ref_values, new_values):
        with pytest.raises(BenchmarkError, match="at least 10 mated scores") as err:
            values("linkability", tr, "trial", n=200, seed=0)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_multiplicity_rows_are_successive_draws():
    for size, n in [(1, 3), (2, 5), (15, 40), (31, 7), (450, 3)]:
        a, b = np.random.default_rng(size), np.random.default_rng(size)
        assert same_bits(multiplicity_rows(a, size, n), np.stack([person_multiplicities(b, size) for _ in range(n)]))
        assert a.integers(0, 2**40) == b.integers(0, 2**40)  # the streams are left in the same state


def test_rank_k_ci_unchanged():
    rng = np.random.default_rng(4)
    ids = np.array([f"p{i}" for i in range(12)])
    trial = np.repeat(ids, 2)
    scores = rng.normal(0, 1, (12, 24)) + 1.0 * (ids[:, None] == trial[None, :])
    got = M.rank_k_ci(scores, ids, trial, 1, n=300, seed=2)
    # the earlier code: one person_multiplicities row per resample, stacked
    from benchmark.metrics._ranks import hit, ranked

    r = ranked(M.ScoreMatrix(scores, ids, trial))
    cols = r.closed()
    h = hit(r.greater[r.true_row[cols], cols], r.ties[r.true_row[cols], cols], 1)
    persons, code = np.unique(trial[cols], return_inverse=True)
    draws = np.random.default_rng(2)
    m = np.stack([person_multiplicities(draws, persons.size) for _ in range(300)])
    values = (m @ np.bincount(code, weights=h)) / (m @ np.bincount(code).astype(np.float64))
    assert got == tuple(float(q) for q in np.quantile(values, [0.025, 0.975]))


def random_counts(rng, rows, groups):
    """Rows of integer counts along a rising posterior (many PAV blocks), with empty groups."""
    p = np.linspace(0.05, 0.95, groups)
    t = rng.binomial(3, p, (rows, groups)).astype(np.float64)
    n = rng.binomial(3, 1 - p, (rows, groups)).astype(np.float64)
    t[:, 0] += 1
    n[:, -1] += 1  # both classes in every row
    return t, n


@pytest.mark.parametrize("groups", [2, 7, 40, 400])
def test_pav_eer_min_cllr_rows_equal_one_row_at_a_time(groups):
    rng = np.random.default_rng(groups)
    t, n = random_counts(rng, 30, groups)
    tb, nb, starts = pav_rows(t.ravel(), n.ravel(), np.arange(31) * groups)
    eers, mcs = eer_rows(tb, nb, starts), min_cllr_rows(tb, nb, starts)
    for i in range(30):
        keep = (t[i] + n[i]) > 0
        tbi, nbi = pav_blocks(t[i][keep], n[i][keep])
        sl = slice(starts[i], starts[i + 1])
        assert same_bits(tb[sl], tbi) and same_bits(nb[sl], nbi)
        assert same_bits(eers[i], eer_from_blocks(tbi, nbi)) and same_bits(mcs[i], min_cllr_from_blocks(tbi, nbi))
    if groups >= 40:
        assert np.diff(starts).max() >= 9  # rows long enough for numpy's unrolled pairwise sums


@pytest.mark.parametrize("rows, shuffle", [(1, False), (40, False), (40, True)])
def test_rows_dsys_equals_the_frozen_kde(rows, shuffle):
    rng = np.random.default_rng(rows)
    pooled = np.round(rng.normal(0, 1, 300), 2)
    r = np.repeat(np.arange(rows), rng.integers(2, 30, rows))
    mated = rng.choice(pooled, r.size) + 0.5
    pooled = np.concatenate([pooled, mated])
    if shuffle:
        order = rng.permutation(r.size)
        r, mated = r[order], mated[order]
    assert same_bits(_kde.rows_dsys(mated, r, rows, pooled, 1.3), ref_rows_dsys(mated, r, rows, pooled, 1.3))


def test_smooth_linkability_equals_the_frozen_kde():
    rng = np.random.default_rng(7)
    for size in (2, 3, 15, 60):
        for d in (0.0, 1.0, 6.0):
            m, n = rng.normal(d, 1, size), rng.normal(0, 1, 7 * size)
            assert same_bits(M.smooth_linkability(m, n), ref_smooth_linkability(m, n))
            m, n = np.round(m, 1), np.round(n, 1)
            assert same_bits(M.smooth_linkability(m, n, omega=2.0), ref_smooth_linkability(m, n, omega=2.0))
    assert M.smooth_linkability([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.0
