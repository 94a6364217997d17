"""Attribute inference scores (age, sex) against scikit-learn and hand-computed chance levels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import age_scores, sex_scores


def test_age_scores_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.uniform(20, 80, 200)
    p = y + rng.normal(0, 8, 200)
    got = age_scores(y, p)
    assert got["r2"] == pytest.approx(r2_score(y, p), abs=1e-12)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, p), abs=1e-12)
    assert got["chance_r2"] == 0.0


def test_age_chance_mae_hand_computed():
    y, p = [20, 30, 40, 50], [20, 30, 40, 50]
    # median 35: |20-35|, |30-35|, |40-35|, |50-35| = 15, 5, 5, 15 -> mean 10
    assert age_scores(y, p)["chance_mae"] == 10.0
    # attacker's training median 30: 10, 0, 10, 20 -> mean 10
    assert age_scores(y, p, y_train=[25, 30, 90])["chance_mae"] == 10.0
    # training median 60: 40, 30, 20, 10 -> 25
    assert age_scores(y, p, y_train=[60])["chance_mae"] == 25.0
    assert age_scores(y, p)["r2"] == 1.0


def test_sex_scores_against_sklearn_and_chance():
    y = np.array(["F", "F", "F", "M", "M", "F", "F", "M"])
    p = np.array(["F", "M", "F", "M", "F", "F", "F", "F"])
    got = sex_scores(y, p)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    # recalls by hand: F 4/5, M 1/3 -> (0.8 + 1/3) / 2
    assert got["balanced_accuracy"] == pytest.approx((0.8 + 1 / 3) / 2)
    assert got["chance_accuracy"] == 5 / 8  # always "F"
    assert got["chance_balanced_accuracy"] == 0.5
    # the attacker's training set mostly "M": always answering "M" is right 3 / 8 times
    assert sex_scores(y, p, y_train=["M", "M", "F"])["chance_accuracy"] == 3 / 8


@pytest.mark.parametrize(
    "fn, y, p, words",
    [
        (age_scores, [30, 40], [30], "lengths do not match"),
        (age_scores, [30, 30], [30, 40], "constant"),
        (age_scores, [30, np.nan], [30, 40], "NaN"),
        (age_scores, [], [], "empty"),
        (sex_scores, ["F", "F"], ["F", "M"], "single class"),
        (sex_scores, ["F", "M"], ["F"], "lengths do not match"),
        (sex_scores, [0.0, np.nan], [0, 1], "NaN"),
    ],
)
def test_attribute_bad_inputs(fn, y, p, words):
    with pytest.raises(BenchmarkError, match=words):
        fn(y, p)
