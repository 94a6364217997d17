"""Scoring sees every failure: expected ones are listed per (sample, attacker) and counted, copies the
submission declares are listed, a trial list that nothing could score is reported; a programming error
stops the run."""

from __future__ import annotations

import pytest
import yaml

from baselines import get_baseline
from benchmark.attacks.base import Attack, clear_render_memo
from benchmark.cli import checked, compose
from benchmark.core.errors import BenchmarkError
from benchmark.data.prepare import prepare
from benchmark.scoring.score import score_submission
from benchmark.submission.anonymize import anonymize_kit, baseline_dir
from tests.helpers import tiny_cohort


@pytest.fixture
def scored(tmp_path):
    """(cfg, prepared, submission) for a 3-person cohort of tiny volumes, the 'none' baseline submitted."""
    root = tiny_cohort(tmp_path / "cohort", n_persons=3, sessions=2)
    cfg = checked(compose([
        "dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
        f"paths.cache_dir={tmp_path / 'cache'}", "progress=false", "scoring.attacks=[geo]",
        "scoring.knowledge=[ignorant,lazy_informed]", "scoring.conditions=[mri2mri]", "scoring.bootstrap=0",
        "scoring.permutations=20",
        "scoring.utility=false", "scoring.attributes=false", "scoring.plots=false"]))
    prepared = prepare(cfg, write_kit=True)
    out = baseline_dir(tmp_path / "subs", "none")
    anonymize_kit(prepared, get_baseline("none"), out, "none", 1 << 28, show=False)
    clear_render_memo()  # another test of this process may have rendered these same tiny volumes
    return cfg, prepared, out


def test_a_programming_error_in_an_attack_fails_the_run(scored, tmp_path, monkeypatch):
    def broken(self, img):
        raise TypeError("unsupported operand type(s)")  # a bug, not a bad volume

    monkeypatch.setattr(Attack, "_render_views", broken)
    cfg, prepared, submission = scored
    with pytest.raises(TypeError, match="unsupported operand"):
        score_submission(cfg, prepared, submission, tmp_path / "out")


def test_expected_failures_are_listed_per_attacker_and_counted(scored, tmp_path, monkeypatch):
    def unrenderable(self, img):
        raise BenchmarkError("no head surface found in this volume")

    monkeypatch.setattr(Attack, "_render_views", unrenderable)
    cfg, prepared, submission = scored
    results = score_submission(cfg, prepared, submission, tmp_path / "out").to_json()
    failures = results["failures"]
    (tl,) = prepared.splits.trial_lists
    trial_ids = {t.trial_id for t in tl.trials}
    for level in ("ignorant", "lazy_informed"):
        mine = [f for f in failures if f["attacker"] == f"geo/{level}"]
        assert trial_ids <= {f["id"] for f in mine if f["sample"] == "anonymised"}
        assert all("no head surface" in f["error"] for f in mine if f["sample"] != "trial list")
        assert [f["id"] for f in mine if f["sample"] == "trial list"] == [f"test/mri2mri/geo/{level}"]
    flat = results["splits"]["test"]
    assert flat["failures/count"] == len(failures) and flat["failures/copied"] == 0
    assert flat["mri2mri/geo/ignorant/n_trials"] == 0


def test_copies_declared_by_the_submission_are_failures(scored, tmp_path, monkeypatch):
    cfg, prepared, submission = scored
    info = yaml.safe_load((submission / "submission.yaml").read_text())
    vid = prepared.ids()[0]
    info["copied"] = {vid: "cannot place the template's face region: not a head"}
    (submission / "submission.yaml").write_text(yaml.safe_dump(info))
    monkeypatch.setattr(Attack, "_render_views", lambda self, img: (_ for _ in ()).throw(BenchmarkError("skip")))
    results = score_submission(cfg, prepared, submission, tmp_path / "out").to_json()
    copied = [f for f in results["failures"] if f["sample"] == "copied"]
    assert [f["id"] for f in copied] == [vid] and "not a head" in copied[0]["error"]
    assert results["splits"]["test"]["failures/copied"] == 1
