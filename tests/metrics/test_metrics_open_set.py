"""CMC, rank-k intervals and open-set DIR@FPIR on hand-made score matrices."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import cmc, dir_at_fpir, rank_k, rank_k_ci

# rows: enrollments of A, B, C and the distractor X (gallery only); columns: trials of A, B, C, D
# (D is not enrolled: an open-set search)
S = np.array(
    [
        [0.9, 0.8, 0.1, 0.5],  # A
        [0.2, 0.7, 0.3, 0.6],  # B
        [0.95, 0.1, 0.6, 0.2],  # C
        [0.3, 0.75, 0.4, 0.1],  # X
    ]
)
ENROLL, TRIAL = ["A", "B", "C", "X"], ["A", "B", "C", "D"]


def test_cmc_hand_computed():
    # trial A: C above -> rank 2; trial B: A and X above -> rank 3; trial C: nobody above -> rank 1
    np.testing.assert_allclose(cmc(S, ENROLL, TRIAL), [1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(cmc(S, ENROLL, TRIAL, max_rank=2), [1 / 3, 2 / 3])
    for k in (1, 2, 3):
        assert cmc(S, ENROLL, TRIAL)[k - 1] == rank_k(S, ENROLL, TRIAL, k)


def test_cmc_ties_in_expectation():
    s = np.zeros((4, 4))
    np.testing.assert_allclose(cmc(s, [0, 1, 2, 3], [0, 1, 2, 3]), [0.25, 0.5, 0.75, 1.0])


def test_dir_at_fpir_hand_computed():
    # mated searches: A (rank 2), B (rank 3), C (rank 1, score 0.6).
    # non-mated searches: D's top 0.6; leave-one-out tops: A -> 0.95, B -> 0.8, C -> 0.4 (X).
    # sorted: 0.95, 0.8, 0.6, 0.4 (N = 4).
    # fpir 0.25: c = 1, tau = 0.8: C's 0.6 is not above it -> DIR 0
    assert dir_at_fpir(S, ENROLL, TRIAL, 0.25) == 0.0
    # fpir 0.75: c = 3, tau = 0.4: C's 0.6 passes -> DIR 1/3
    assert dir_at_fpir(S, ENROLL, TRIAL, 0.75) == pytest.approx(1 / 3)
    # fpir 1: every search accepted, DIR = rank-1
    assert dir_at_fpir(S, ENROLL, TRIAL, 1.0) == pytest.approx(rank_k(S, ENROLL, TRIAL, 1))


def test_dir_at_fpir_perfect_and_chance():
    rng = np.random.default_rng(0)
    ids = np.arange(40)
    trial = np.repeat(ids, 2)
    mated = ids[:, None] == trial[None, :]
    assert dir_at_fpir(rng.normal(0, 1, (40, 80)) + 10 * mated, ids, trial, 0.01) == 1.0
    assert dir_at_fpir(rng.normal(0, 1, (40, 80)), ids, trial, 0.01) < 0.1


def test_rank_k_ci_brackets_the_estimate_and_narrows_with_persons():
    rng = np.random.default_rng(1)

    def matrix(p):
        ids = np.arange(p)
        trial = np.repeat(ids, 3)
        return rng.normal(0, 1, (p, 3 * p)) + 1.5 * (ids[:, None] == trial[None, :]), ids, trial

    small, large = matrix(20), matrix(200)
    lo, hi = rank_k_ci(*small, 1, n=300)
    assert lo <= rank_k(*small, 1) <= hi
    lo2, hi2 = rank_k_ci(*large, 1, n=300)
    assert hi2 - lo2 < hi - lo
    assert rank_k_ci(*small, 5, n=50, seed=3) == rank_k_ci(*small, 5, n=50, seed=3)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: dir_at_fpir(S, ENROLL, TRIAL, 0.0), "fpir"),
        (lambda: dir_at_fpir(S, ENROLL, ["Y", "Z", "Y", "Z"], 0.1), "no trial identity"),
        (lambda: cmc(S, ENROLL, TRIAL, max_rank=0), "max_rank"),
        (lambda: rank_k_ci(S, ENROLL, TRIAL, 1, n=0), "resamples"),
        (lambda: rank_k_ci(S, ENROLL, TRIAL, 1, level=1.5), "level"),
    ],
)
def test_bad_inputs(call, words):
    with pytest.raises(BenchmarkError, match=words):
        call()
