"""Permutation nulls: the batched engine equals the metrics on relabelled trials; p-values are uniform
under the null and tiny for separated scores; the worst case over attackers is calibrated as a family."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import benchmark.metrics as M
from benchmark.core.errors import BenchmarkError
from benchmark.metrics._permute import Prepared
from benchmark.metrics.permutation import METRICS


def cohort(rng, n_persons=12, sessions=2, d=0.0, ties=False) -> M.ScoreMatrix:
    """One enrollment sample per person, ``sessions`` trial samples each, all pairs scored;
    mated pairs shifted by ``d`` (0: the scores carry no identity)."""
    ids = np.array([f"sub-{i:02d}" for i in range(n_persons)])
    trial = np.repeat(ids, sessions)
    s = rng.normal(0, 1, (n_persons, trial.size)) + d * (ids[:, None] == trial[None, :])
    if ties:
        s = np.round(s, 1)
    return M.ScoreMatrix(s, ids, trial)


def direct(sm: M.ScoreMatrix) -> dict[str, float]:
    tr = sm.trials()
    m, n = tr.mated_scores, tr.nonmated_scores
    return {"eer": M.eer(m, n), "min_cllr": M.min_cllr(m, n), "auc": M.auc(m, n),
            "linkability": M.smooth_linkability(m, n),
            "rank1": M.rank_k(sm.scores, sm.enroll_ids, sm.trial_ids, 1),
            "rank5": M.rank_k(sm.scores, sm.enroll_ids, sm.trial_ids, 5)}


@pytest.mark.parametrize("ties", [False, True])
def test_engine_equals_the_metrics_on_relabelled_trials(ties):
    rng = np.random.default_rng(1)
    sm = cohort(rng, n_persons=9, sessions=3, d=1.0, ties=ties)
    # a distractor enrollment (gallery only) and a trial person who is not enrolled
    sm = M.ScoreMatrix(np.vstack([sm.scores, rng.normal(0, 1, sm.scores.shape[1])]),
                       np.r_[sm.enroll_ids, ["distractor"]], np.r_[sm.trial_ids[:-3], ["stranger"] * 3])
    persons = sorted({*sm.enroll_ids, *sm.trial_ids})
    codes = {p: i for i, p in enumerate(persons)}
    pr = Prepared.of(sm, codes)
    perms = np.stack([np.arange(len(persons))] + [rng.permutation(len(persons)) for _ in range(6)])
    got = pr.metrics(perms, METRICS, 1.0)
    for row, perm in enumerate(perms):
        renamed = np.array([persons[perm[codes[q]]] for q in sm.trial_ids])
        tr = M.ScoreMatrix(sm.scores, sm.enroll_ids, renamed).trials()
        if tr.mated.sum() < 2 or not np.isin(renamed, sm.enroll_ids).any():
            continue
        want = direct(M.ScoreMatrix(sm.scores, sm.enroll_ids, renamed))
        for k, v in want.items():
            assert got[k][row] == pytest.approx(v, abs=1e-12), (row, k)


def test_observed_values_are_the_metrics():
    rng = np.random.default_rng(2)
    mats = {"a": cohort(rng, d=1.0), "b": cohort(rng, d=0.5)}
    pn = M.permutation_null(mats, n_perm=50, seed=0)
    for name, sm in mats.items():
        for k, v in direct(sm).items():
            assert pn.attackers[name][k].observed == pytest.approx(v, abs=1e-12)
    assert pn.worst["eer"].observed == min(pn.attackers[a]["eer"].observed for a in mats)
    assert pn.worst["linkability"].observed == max(pn.attackers[a]["linkability"].observed for a in mats)


def test_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(3)
    p_one, p_worst, p_auc = [], [], []
    for draw in range(150):
        mats = {a: cohort(rng, n_persons=10, sessions=2) for a in ("x", "y", "z")}
        pn = M.permutation_null(mats, n_perm=99, seed=draw, metrics=("eer", "auc"))
        p_one.append(pn.attackers["x"]["eer"].p)
        p_worst.append(pn.worst["eer"].p)
        p_auc.append(pn.attackers["y"]["auc"].p)
    for p in (p_one, p_worst, p_auc):
        assert stats.kstest(p, "uniform").pvalue > 0.01


def test_p_values_are_near_zero_for_separated_scores():
    rng = np.random.default_rng(4)
    mats = {a: cohort(rng, n_persons=15, sessions=3, d=8.0) for a in ("x", "y")}
    pn = M.permutation_null(mats, n_perm=200, seed=0)
    for chances in [*pn.attackers.values(), pn.worst]:
        for k, c in chances.items():
            assert c.p == 1 / 201, k
    assert pn.worst["eer"].observed == 0.0 and pn.worst["eer"].median > 0.3
    assert pn.worst["linkability"].observed > 0.95 > 0.2 > pn.worst["linkability"].median


def test_worst_case_null_is_calibrated_as_a_family():
    rng = np.random.default_rng(5)
    mats = {a: cohort(rng, n_persons=15, sessions=2) for a in "abcdef"}
    pn = M.permutation_null(mats, n_perm=400, seed=0, metrics=("eer", "linkability"))
    for a in mats:
        assert pn.worst["eer"].p05 < pn.attackers[a]["eer"].p05
        assert pn.worst["eer"].median < pn.attackers[a]["eer"].median
        assert pn.worst["linkability"].p05 > pn.attackers[a]["linkability"].p05
    assert pn.samples["worst"]["eer"].shape == (400,)
    assert np.all(pn.samples["worst"]["eer"] <= pn.samples["a"]["eer"])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"matrices": {}}, "non-empty"),
        ({"matrices": {"a": np.zeros((2, 2))}}, "ScoreMatrix"),
        ({"n_perm": 0}, "n_perm"),
        ({"metrics": ("eer", "dprime")}, "unknown metric"),
        ({"omega": -1.0}, "omega"),
    ],
)
def test_bad_inputs(kwargs, words):
    args = {"matrices": {"a": cohort(np.random.default_rng(0))}, **kwargs}
    with pytest.raises(BenchmarkError, match=words):
        M.permutation_null(**args)


def test_too_few_mated_trials_for_linkability():
    ids = np.array(["p", "q", "r"])
    sm = M.ScoreMatrix(np.arange(9.0).reshape(3, 3), ids, ids)  # one mated trial per person: 3 in all
    M.permutation_null({"a": sm}, n_perm=10, metrics=("eer",))
    one = M.ScoreMatrix(np.array([[1.0, 0.0, 0.0]]), ids[:1], ids)  # a single mated trial
    with pytest.raises(BenchmarkError, match="at least 2 mated"):
        M.permutation_null({"a": one}, n_perm=10)
