"""``study hair`` and ``study attributes`` (issue 15) on a tiny synthetic cohort."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.studies.hair import eer_difference

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """(common overrides, the 'none' submission) of an 8-person synthetic cohort, 2 sessions, 2 photos."""
    root = tmp_path_factory.mktemp("study2")
    common = ["dataset.n_persons=8", "dataset.sessions=2", "dataset.photos=2", "+dataset.facial_hair_prob=1.0",
              "splits.test=0.7", "splits.dev=0.0", "splits.train=0.3", f"paths.prepared_dir={root / 'prepared'}",
              f"paths.cache_dir={root / 'cache'}", f"paths.submissions_dir={root / 'submissions'}",
              f"paths.outputs_dir={root / 'outputs'}", "progress=false", "workers=1", "attack=geo",
              "studies.bootstrap=20"]
    assert main(["anonymize", "baseline=none", *common]) == 0
    return common, root / "submissions" / "baseline-none"


@pytest.mark.slow
def test_study_hair_scores_both_variants_and_their_difference(cohort, tmp_path, capsys):
    common, submission = cohort
    assert main(["study", "hair", f"submission={submission}", f"output_dir={tmp_path}", *common]) == 0
    printed = capsys.readouterr().out
    assert "keep" in printed and "remove" in printed
    out = json.loads((tmp_path / "hair.json").read_text())
    geo = out["results"]["geo"]
    assert set(geo) == {"keep", "remove"} and all(0 <= geo[v]["eer"] <= 1 for v in geo)
    d = out["eer_difference"]["geo"]
    assert d["eer_difference"] == pytest.approx(geo["remove"]["eer"] - geo["keep"]["eer"], abs=1e-9)
    assert (tmp_path / "hair.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_study_attributes_reports_photo_and_mri_sources(cohort, tmp_path):
    common, submission = cohort
    assert main(["study", "attributes", f"submission={submission}", f"output_dir={tmp_path}", *common]) == 0
    out = json.loads((tmp_path / "attributes.json").read_text())
    geo = out["results"]["geo"]
    assert set(geo) == {"photo", "mri"}
    assert any("age_mae" in geo[s] for s in geo)  # tiny cohort: what cannot be inferred is a message
    assert isinstance(out["messages"], list)
    assert (tmp_path / "attributes.png").read_bytes()[:8] == PNG and out["pictures"] == [str(tmp_path / "attributes.png")]


def test_eer_difference_is_paired_and_signed():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(10), 10).astype(str)
    y = np.tile(np.arange(10) == 0, 10)
    noise = rng.normal(size=100)
    keep = noise + 0.5 * y
    remove = noise + 3.0 * y  # removal separates mated from non-mated better: its EER is lower
    d = eer_difference({"keep": (keep, y, g), "remove": (remove, y, g)}, 200, 0.95, 0)
    assert d["eer_difference"] < 0 and d["eer_difference_ci_low"] <= d["eer_difference"] <= d["eer_difference_ci_high"]
    same = eer_difference({"keep": (keep, y, g), "remove": (keep, y, g)}, 50, 0.95, 0)
    assert same["eer_difference"] == 0 and same["eer_difference_ci_high"] == 0
