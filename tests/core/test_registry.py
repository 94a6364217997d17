"""benchmark.core.registry: one way to build any component from ``conf/<group>/<name>.yaml``, one set of
override rules, every mistake one line."""

from __future__ import annotations

import pytest

from benchmark.core import registry
from benchmark.core.errors import BenchmarkError


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_every_configured_component_builds():
    for group in ("attack", "baseline", "dataset", "tracking"):
        names = registry.available(group)
        assert names, group
        for name in names:
            if group != "dataset":  # datasets: a mandatory root, or ${...} into the whole config (below)
                assert registry.build(group, name) is not None
    assert registry.build("dataset", "bids", root="/data/cohort").root is not None
    assert registry.build("dataset", "synthetic", cache_dir="/tmp/x", workers=1).n_persons > 0


def test_overrides_plain_dotted_and_objects():
    assert registry.build("baseline", "blur", sigma_mm=2.5).sigma_mm == 2.5
    assert registry.build("baseline", "facemask", **{"registration.seed": 7}).registration.seed == 7
    assert registry.build("attack", "geo", views=[{"azimuth": 30}]).views == [{"azimuth": 30}]
    masker = object()  # not plain data: passed to the constructor as it is
    assert registry.build("baseline", "quickshear", masker=masker).masker is masker


@pytest.mark.parametrize("group, name, overrides, words", [
    ("attack", "facenet", {}, ["unknown attack 'facenet'", "arcface"]),
    ("baseline", "blur", {"no_such_key": 1}, ["baseline.blur", "no_such_key"]),
    ("baseline", "facemask", {"registration.nope": 1}, ["nope"]),
    ("attack", "geo", {"det_thresh": "high"}, ["det_thresh"]),
    ("attack", "arcface", {"aggregate": "median"}, ["aggregate"]),  # refused by the class itself
    ("dataset", "bids", {}, ["root", "Missing mandatory value"]),
    ("dataset", "synthetic", {}, ["dataset.synthetic", "paths"]),  # ${paths.cache_dir} outside a composed config
])
def test_mistakes_are_one_line(group, name, overrides, words):
    with pytest.raises(BenchmarkError) as exc_info:
        registry.build(group, name, **overrides)
    text = _one_line(exc_info)
    assert all(w in text for w in words), text


def test_expected_type_is_checked():
    with pytest.raises(BenchmarkError, match="is not a int"):
        registry.build("baseline", "none", expected=int)
