"""Closed-set rank-k identification rate."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import rank_k


def test_rank_k_hand_computed():
    # rows: enrollment samples of A, B, C; columns: trials of A, B, C, D (D not enrolled: open set)
    s = np.array(
        [
            [0.9, 0.8, 0.1, 0.5],  # A
            [0.2, 0.7, 0.3, 0.5],  # B
            [0.95, 0.1, 0.6, 0.5],  # C
        ]
    )
    enroll, trial = ["A", "B", "C"], ["A", "B", "C", "D"]
    # trial A: true 0.9, C scores 0.95 higher -> rank 2
    # trial B: true 0.7, A scores 0.8 higher  -> rank 2
    # trial C: true 0.6, nobody higher       -> rank 1
    # trial D: open set, left out
    assert rank_k(s, enroll, trial, 1) == pytest.approx(1 / 3)
    assert rank_k(s, enroll, trial, 2) == 1.0
    assert rank_k(s, enroll, trial, 5) == 1.0


def test_rank_k_several_enrollment_samples_use_the_best():
    # B has two enrollment rows; its score for a trial is the larger one
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.95, 0.3]])
    enroll, trial = ["A", "B", "B"], ["A", "B"]
    # trial A: A 0.9 vs B max(0.2, 0.95) = 0.95 -> rank 2; trial B: B max(0.8, 0.3) = 0.8 vs A 0.1 -> rank 1
    assert rank_k(s, enroll, trial, 1) == 0.5


def test_rank_k_ties_count_in_expectation():
    # all 4 identities tie: the true one is first with probability 1/4, in the top 2 with 2/4
    s = np.zeros((4, 4))
    ids = [0, 1, 2, 3]
    assert rank_k(s, ids, ids, 1) == 0.25
    assert rank_k(s, ids, ids, 2) == 0.5
    # one identity strictly higher (g = 1), two tied with the truth (e = 2): P(rank <= 2) = (2 - 1) / 3
    s = np.array([[1.0], [2.0], [1.0], [1.0]])
    assert rank_k(s, [0, 1, 2, 3], [0], 2) == pytest.approx(1 / 3)


def test_rank_k_perfect_and_unscored_pairs():
    s = np.eye(5) + 0.0
    s[s == 0] = -np.inf  # pairs never scored
    ids = np.array([f"sub-{i}" for i in range(5)])
    assert rank_k(s, ids, ids, 1) == 1.0


@pytest.mark.parametrize(
    "scores, enroll, trial, k, words",
    [
        (np.zeros((2, 3)), ["A", "B"], ["A", "B"], 1, "shape"),
        (np.zeros((2, 2)), ["A", "B"], ["C", "D"], 1, "no trial identity"),
        (np.zeros((2, 2)), ["A", "B"], ["A", "B"], 0, "positive integer"),
        (np.array([[np.nan, 0], [0, 0]]), ["A", "B"], ["A", "B"], 1, "NaN"),
        (np.zeros(4), ["A", "B"], ["A", "B"], 1, "2-D"),
        (np.zeros((0, 0)), [], [], 1, "2-D"),
    ],
)
def test_rank_k_bad_inputs(scores, enroll, trial, k, words):
    with pytest.raises(BenchmarkError, match=words):
        rank_k(scores, enroll, trial, k)
