"""The chance level that scripts/realdata_linkage.py prints beside its rank-1 counts."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "realdata_linkage", Path(__file__).resolve().parents[2] / "scripts" / "realdata_linkage.py")
linkage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(linkage)


def test_chance_of_ranking_first_is_own_scans_over_gallery():
    persons = ["A"] * 4 + ["B", "C", "C", "D"]  # the shared real scans' layout
    p = linkage.chance_first(persons)
    assert p == pytest.approx([3 / 7] * 4 + [1 / 7] * 2)  # B and D have no other session: no probe


def test_count_tails_match_enumeration():
    p = [0.43, 0.43, 0.2, 0.7, 0.1]
    for observed in range(len(p) + 1):
        ge = le = 0.0
        for outcome in itertools.product([0, 1], repeat=len(p)):
            w = float(np.prod([q if o else 1 - q for q, o in zip(p, outcome)]))
            ge += w * (sum(outcome) >= observed)
            le += w * (sum(outcome) <= observed)
        assert linkage.count_tails(p, observed) == pytest.approx((ge, le))
