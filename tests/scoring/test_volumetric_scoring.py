"""Scoring the volume-only attacks end to end on a small synthetic cohort: ``shape`` and ``anatomy`` score
mri2mri at every knowledge level, skip photo2mri with a message, and ``anatomy`` stays out of the worst case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli, sqlite_store

KNOWLEDGE = ("ignorant", "lazy_informed", "semi_informed")


@pytest.fixture(scope="module")
def results(tmp_path_factory, small_synthetic, content_cache):
    root = tmp_path_factory.mktemp("volumetric")
    common = [f"paths.prepared_dir={root / 'prepared'}", f"paths.submissions_dir={root / 'submissions'}",
              f"paths.cache_dir={content_cache(root / 'cache')}", *small_synthetic(root / "datasets"),
              "splits.test=0.6", "splits.dev=0.0", "splits.train=0.4", "progress=false"]
    out = cli(*["anonymize", "baseline=none", *common])
    assert out.returncode == 0, out.stderr
    submission = out.stdout.strip().splitlines()[-1]
    out = cli(*["score", f"submission={submission}", f"output_dir={root / 'out'}",
                f"tracking.uri={sqlite_store(root / 'store')}", "scoring.attacks=[shape,anatomy]",
                f"scoring.knowledge=[{','.join(KNOWLEDGE)}]", "scoring.bootstrap=20", "scoring.permutations=20",
                "scoring.adapt.views=[{}]", "scoring.plots=false",
                "scoring.utility=false", "scoring.attributes=false", "scoring.reference=false",
                "scoring.adapt.finetune.epochs=2", *common])
    assert out.returncode == 0, out.stderr
    return json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text())


def test_mri2mri_scored_at_every_level_and_photo2mri_skipped_with_a_reason(results):
    test = results["splits"]["test"]
    for attack in ("shape", "anatomy"):
        for level in KNOWLEDGE:
            assert 0.0 <= test[f"mri2mri/{attack}/{level}/eer"] <= 1.0
        assert not any(k.startswith(f"photo2mri/{attack}/") for k in test)
    assert "shape: photo2mri skipped: a photograph carries no 3D shape" in results["messages"]
    assert any(m.startswith("anatomy: photo2mri skipped") for m in results["messages"])
    assert not results["failures"]


def test_worst_case_ranks_shape_and_leaves_anatomy_as_context(results):
    test = results["splits"]["test"]
    shape = min(test[f"mri2mri/shape/{level}/eer"] for level in KNOWLEDGE)
    assert test["privacy/worst_eer"] == shape
    assert "/shape/" in results["privacy"]["test"]["worst_eer_attacker"]
