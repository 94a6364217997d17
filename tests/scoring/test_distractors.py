"""Identification with and without the gallery's distractors (benchmark.scoring.score.distractor_metrics)."""

from __future__ import annotations

import numpy as np

import benchmark.metrics as M
from benchmark.scoring.score import distractor_metrics


def test_distractors_are_reported_with_and_without():
    rng = np.random.default_rng(0)
    persons = np.array([f"p{i}" for i in range(6)])
    extra = np.array([f"d{i}" for i in range(20)])
    eid = np.concatenate([persons, extra])
    tid = np.repeat(persons, 2)
    mat = rng.normal(size=(eid.size, tid.size))
    mat[np.arange(6).repeat(2), np.arange(12)] += 1.5  # mated scores higher, not always highest
    got = distractor_metrics(mat, eid, tid)
    assert got["n_distractors"] == 20
    assert got["rank1_no_distractors"] == M.rank_k(mat[:6], persons, tid, 1)
    assert got["rank1_no_distractors"] >= M.rank_k(mat, eid, tid, 1)  # distractors only make it harder
    assert got["dir_fpir10_no_distractors"] == M.dir_at_fpir(mat[:6], persons, tid, 0.1)
    assert 0 <= got["dir_fpir1"] <= got["dir_fpir10"] <= 1
    assert distractor_metrics(mat[:6], persons, tid) == {}  # a closed gallery: nothing added
