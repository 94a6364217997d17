"""Person-level bootstrap: the resampling scheme, fast paths equal to plain recomputation, checks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import Trials, auc, bootstrap_ci, cllr, eer, linkability, min_cllr


def cohort(n_persons=40, non_per_person=6, mated_per_person=1, person_sd=0.0, seed=0, d=1.5) -> Trials:
    """``mated_per_person`` mated trials per person (several sessions) and ``non_per_person``
    non-mated trials against other persons; ``person_sd`` adds a per-person offset to that person's
    mated scores (some faces are easier to recognise), which makes a person's mated trials dependent."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"sub-{i:03d}" for i in range(n_persons)])
    k = mated_per_person + non_per_person
    e = np.repeat(np.arange(n_persons), k)
    others = (np.arange(n_persons)[:, None] + rng.integers(1, n_persons, (n_persons, non_per_person))) % n_persons
    t = np.c_[np.repeat(np.arange(n_persons)[:, None], mated_per_person, axis=1), others].ravel()
    mated = e == t
    offset = rng.normal(0, person_sd, n_persons)
    scores = rng.normal(0, 1, e.size) + (d + offset[e]) * mated
    return Trials(scores, mated, ids[e], ids[t])


def test_subject_resampling_scheme():
    # every score distinct, so the trials a metric receives reveal each trial's multiplicity
    tr = cohort(n_persons=12, non_per_person=4, seed=1)
    seen = []

    def record(m, n):
        seen.append((m.copy(), n.copy()))
        return 0.0

    bootstrap_ci(record, tr, n=30, seed=3)
    person_of_mated = dict(zip(tr.scores[tr.mated], tr.enroll_subject[tr.mated]))
    non = ~tr.mated
    for m, n in seen:
        # multiplicity of a person = how often its mated trial came back
        vals, counts = np.unique(m, return_counts=True)
        mult = {p: 0 for p in np.unique(tr.enroll_subject)}
        for v, c in zip(vals, counts):
            mult[person_of_mated[v]] = c
        assert sum(mult.values()) == 12  # 12 persons drawn with replacement
        # a non-mated trial (p, q) comes back m_p * m_q times
        for s, p, q in zip(tr.scores[non], tr.enroll_subject[non], tr.trial_subject[non]):
            assert np.count_nonzero(n == s) == mult[p] * mult[q]


def test_trial_resampling_draws_trials():
    tr = cohort(n_persons=10, non_per_person=3, seed=2)
    sizes = []
    bootstrap_ci(lambda m, n: sizes.append(m.size + n.size) or 0.0, tr, unit="trial", n=20)
    assert sizes == [tr.scores.size] * 20


@pytest.mark.parametrize("metric", [eer, min_cllr, auc, linkability, cllr], ids=lambda f: f.__name__)
def test_fast_paths_equal_recomputing_on_repeated_scores(metric):
    tr = cohort(n_persons=30, non_per_person=8, seed=4)
    for unit in ("subject", "trial"):
        fast = bootstrap_ci(metric, tr, unit=unit, n=40, seed=5)
        plain = bootstrap_ci(lambda m, n: metric(m, n), tr, unit=unit, n=40, seed=5)
        assert fast == pytest.approx(plain, abs=1e-12)
    assert bootstrap_ci(metric.__name__, tr, n=10) == bootstrap_ci(metric, tr, n=10)


def test_resamples_that_lose_a_class_are_redrawn():
    # persons A and B; the only mated trial is A's: a resample drawing B twice has no mated trial
    tr = Trials(np.array([2.0, 0.0, 0.5]), np.array([True, False, False]), ["A", "A", "B"], ["A", "B", "A"])
    calls = []

    def both(m, n):
        assert m.size > 0 and n.size > 0
        calls.append(1)
        return float(m.mean() - n.mean())

    bootstrap_ci(both, tr, n=50, seed=0)
    assert len(calls) == 50


def test_interval_properties():
    tr = cohort(n_persons=60, non_per_person=10, mated_per_person=5, person_sd=1.0, seed=6)
    point = eer(tr.mated_scores, tr.nonmated_scores)
    lo, hi = bootstrap_ci(eer, tr, n=300, seed=0)
    assert 0 <= lo <= point <= hi <= 0.5
    assert bootstrap_ci(eer, tr, n=300, seed=0) == (lo, hi)  # deterministic
    assert bootstrap_ci(eer, tr, n=300, seed=1) != (lo, hi)
    lo80, hi80 = bootstrap_ci(eer, tr, n=300, seed=0, level=0.8)
    assert lo <= lo80 and hi80 <= hi
    # a person's mated trials share an offset: resampling trials as if independent understates the spread
    lo_t, hi_t = bootstrap_ci(auc, tr, unit="trial", n=300, seed=0)
    lo_s, hi_s = bootstrap_ci(auc, tr, unit="subject", n=300, seed=0)
    assert hi_s - lo_s > 1.3 * (hi_t - lo_t)


def test_trials_checks():
    ok = dict(scores=[1.0, 0.0], mated=np.array([True, False]), enroll_subject=["A", "A"], trial_subject=["A", "B"])
    Trials(**ok)
    with pytest.raises(BenchmarkError, match="lengths do not match"):
        Trials(**{**ok, "trial_subject": ["A"]})
    with pytest.raises(BenchmarkError, match="marked mated but its subjects differ"):
        Trials(**{**ok, "trial_subject": ["B", "B"]})
    with pytest.raises(BenchmarkError, match="marked non-mated"):
        Trials(**{**ok, "trial_subject": ["A", "A"]})
    with pytest.raises(BenchmarkError, match="bool"):
        Trials(**{**ok, "mated": [1, 0]})
    with pytest.raises(BenchmarkError, match="NaN"):
        Trials(**{**ok, "scores": [np.nan, 0.0]})
    with pytest.raises(BenchmarkError, match="empty"):
        Trials([], np.array([], dtype=bool), [], [])


def test_bootstrap_checks():
    tr = cohort(n_persons=8, non_per_person=2)
    with pytest.raises(BenchmarkError, match="unit"):
        bootstrap_ci(eer, tr, unit="session")
    with pytest.raises(BenchmarkError, match="positive integer"):
        bootstrap_ci(eer, tr, n=0)
    with pytest.raises(BenchmarkError, match="level"):
        bootstrap_ci(eer, tr, level=1.0)
    with pytest.raises(BenchmarkError, match="unknown metric"):
        bootstrap_ci("eerr", tr)
    one = Trials(np.array([1.0, 2.0]), np.array([True, True]), ["A", "B"], ["A", "B"])
    with pytest.raises(BenchmarkError, match="single class"):
        bootstrap_ci(eer, one)


def test_bootstrap_redraws_resamples_with_too_few_mated_for_the_metric():
    """Two persons with one mated trial each: some person resamples keep a single mated score, which the
    smoothed linkability cannot take; they are redrawn instead of failing the interval."""
    import benchmark.metrics as M
    from benchmark.metrics.bootstrap import Trials

    rng = np.random.default_rng(0)
    persons = ["a", "b", "c"]
    enroll, trial, mated, scores = [], [], [], []
    for e in persons[:2]:
        for t in persons:
            enroll.append(e), trial.append(t), mated.append(e == t)
            scores.append(rng.normal(2.0 if e == t else 0.0))
    tr = Trials(np.array(scores), np.array(mated), np.array(enroll), np.array(trial))
    lo, hi = M.bootstrap_ci(M.smooth_linkability, tr, n=200, seed=1)
    assert 0.0 <= lo <= hi <= 1.0
