"""Chance keys of a split: one permutation null for every attacker, the worst case and the verdict."""

from __future__ import annotations

import numpy as np

import benchmark.metrics as M
from benchmark.scoring.chance import chance_metrics

METRICS = ("eer", "min_cllr", "auc", "linkability", "rank1", "rank5")


def matrices(d: float, n_persons: int = 12, seed: int = 0) -> dict[str, M.ScoreMatrix]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"sub-{i:02d}" for i in range(n_persons)])
    trial = np.repeat(ids, 2)
    mated = ids[:, None] == trial[None, :]
    return {f"mri2mri/{a}/ignorant": M.ScoreMatrix(rng.normal(0, 1, mated.shape) + d * mated, ids, trial)
            for a in ("arcface", "geo")}


def test_every_key_and_the_verdict():
    out, notes = chance_metrics(matrices(d=4.0), n_perm=200, seed=0)
    assert notes == []
    for key in ("mri2mri/arcface/ignorant", "mri2mri/geo/ignorant"):
        for metric in METRICS:
            for suffix in ("_chance", "_chance_p05", "_p"):
                assert f"{key}/{metric}{suffix}" in out
            assert out[f"{key}/{metric}_p"] == 1 / 201
        assert out[f"{key}/eer_chance_p05"] < out[f"{key}/eer_chance"]
        assert out[f"{key}/linkability_chance_p05"] > out[f"{key}/linkability_chance"]
    assert out["privacy/worst_eer_chance_p05"] <= out["mri2mri/geo/ignorant/eer_chance_p05"]
    assert out["privacy/distinguishable_from_chance"] == 1.0
    noise, _ = chance_metrics(matrices(d=0.0, seed=1), n_perm=200, seed=0)
    assert noise["privacy/worst_eer_p"] > 0.05
    assert noise["privacy/distinguishable_from_chance"] == 0.0


def test_too_few_mated_trials_are_said():
    ids = np.array(["a", "b", "c"])
    one = {"mri2mri/geo/ignorant": M.ScoreMatrix(np.array([[1.0, 0.0, 0.2]]), ids[:1], ids)}
    out, notes = chance_metrics(one, n_perm=20, seed=0)
    assert any("linkability has no chance level" in n for n in notes)
    assert "mri2mri/geo/ignorant/linkability_chance" not in out
    assert "mri2mri/geo/ignorant/eer_chance" in out
    lone = {"mri2mri/geo/ignorant": M.ScoreMatrix(np.array([[1.0]]), ids[:1], ids[:1])}  # no non-mated trial
    out, notes = chance_metrics(lone, n_perm=20, seed=0)
    assert out == {} and any(n.startswith("no chance levels") for n in notes)
