"""The result cache's key names exactly the code the scored figures depend on: the scoring path and the
attack classes the config instantiates (reached only through ``_target_``), never leaderboard, tracking or
command-line code."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import benchmark.core.provenance as provenance
import benchmark.scoring.result_cache as result_cache
from benchmark.cli import compose
from benchmark.data.prepare import prepare
from tests.helpers import tiny_cohort

UNRELATED = ("benchmark.leaderboard", "benchmark.tracking", "benchmark.cli")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("result_cache")
    tiny_cohort(root / "cohort", n_persons=4, sessions=2)
    common = ["dataset=bids", f"dataset.root={root / 'cohort'}", f"paths.prepared_dir={root / 'prepared'}",
              "progress=false"]
    prepared = prepare(compose(common))
    return common, prepared, prepared.kit  # the kit: a folder of volumes, as a submission holds


def _key(setup, *overrides: str) -> str:
    common, prepared, submission = setup
    return result_cache.key(compose([*common, *overrides]), prepared, submission)


@pytest.fixture
def edited(tmp_path, monkeypatch):
    """edit(module, code): from now on ``module``'s source is a copy of its file with ``code`` appended."""
    copies: dict[str, Path] = {}
    file_of = provenance._file_of

    def source(module: str):
        return copies.get(module) or file_of(module)

    def edit(module: str, code: str) -> None:
        original = file_of(module)
        copy = copies.setdefault(module, tmp_path / module / original.name)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(original, copy)
        with copy.open("a") as f:
            f.write(code)
        os.utime(copy, ns=(copy.stat().st_mtime_ns + 10**9,) * 2)
        provenance.source_files.cache_clear()

    monkeypatch.setattr(provenance, "_file_of", source)
    provenance.source_files.cache_clear()
    yield edit
    provenance.source_files.cache_clear()


def test_the_key_follows_the_attack_classes_and_the_scoring_path(setup):
    cfg = compose([*setup[0], "scoring.attacks=[geo]"])
    files = {name for m in result_cache.code_modules(cfg) for name, _ in provenance.source_files(m)}
    assert {"benchmark.attacks.geo", "benchmark.attacks.adapt", "benchmark.scoring.score",
            "benchmark.metrics"} <= files
    assert not [f for f in files if f.startswith(UNRELATED) or f.startswith("baselines")]


def test_editing_the_geo_attack_changes_the_key(setup, edited):
    before = _key(setup, "scoring.attacks=[geo]")
    edited("benchmark.attacks.geo", "\n")  # an unchanged copy: the same key
    assert _key(setup, "scoring.attacks=[geo]") == before
    edited("benchmark.attacks.geo", "\n\ndef _edited():\n    return 1\n")
    assert _key(setup, "scoring.attacks=[geo]") != before
    assert _key(setup, "attack=geo") != _key(setup, "attack=geo", "attack.views=[{azimuth: 30}]")


def test_editing_leaderboard_tracking_or_cli_code_keeps_the_key(setup, edited):
    before = _key(setup, "scoring.attacks=[geo]")
    for module in UNRELATED:
        edited(module, "\n\nCSS = 'td { color: red }'\n")
    assert _key(setup, "scoring.attacks=[geo]") == before
