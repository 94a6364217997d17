"""Smoothed linkability: near 1 for separated scores and near 0 for identical distributions, at the
benchmark's trial counts (the binned value caps a perfect attacker near 0.5 with few mated trials)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import linkability, smooth_linkability


@pytest.mark.parametrize("n_mated, n_nonmated", [(15, 210), (60, 3500)])
def test_simulated_separated_and_identical(n_mated, n_nonmated):
    rng = np.random.default_rng(n_mated)
    same = [smooth_linkability(rng.normal(0, 1, n_mated), rng.normal(0, 1, n_nonmated)) for _ in range(200)]
    apart = [smooth_linkability(rng.normal(6, 1, n_mated), rng.normal(0, 1, n_nonmated)) for _ in range(200)]
    assert np.mean(same) <= 0.05
    assert np.mean(apart) >= 0.95
    assert np.mean(same) > 0.0  # finite samples: a little linkability by chance, not a hard zero


def test_perfect_attacker_is_not_capped():
    mated, nonmated = np.linspace(0.8, 0.9, 15), np.linspace(0.0, 0.3, 210)
    assert smooth_linkability(mated, nonmated) > 0.99
    assert linkability(mated, nonmated, n_bins=2) < 0.6  # the binned value at these counts


def test_degenerate_and_prior():
    assert smooth_linkability([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.0  # one value for everything
    assert smooth_linkability([1.0, 1.0, 1.0], [0.0, 0.0]) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    m, n = rng.normal(1, 1, 50), rng.normal(0, 1, 500)
    assert smooth_linkability(m, n, omega=4.0) > smooth_linkability(m, n) > smooth_linkability(m, n, omega=0.25)


@pytest.mark.parametrize(
    "mated, nonmated, kwargs, words",
    [
        ([1.0], [0.0, 0.5], {}, "at least 2 mated"),
        ([1.0, np.inf], [0.0], {}, "infinite"),
        ([1.0, 2.0], [0.0], {"omega": 0.0}, "omega"),
        ([1.0, 2.0], [], {}, "empty"),
    ],
)
def test_bad_inputs(mated, nonmated, kwargs, words):
    with pytest.raises(BenchmarkError, match=words):
        smooth_linkability(mated, nonmated, **kwargs)
