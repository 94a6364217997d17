"""``attack`` is a Hydra config group every command takes: ``attack=geo`` scores with that attack only,
``attack.<option>=...`` overrides its options."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmark.cli import COMMANDS, compose, main
from benchmark.core.keys import MetricKey
from benchmark.scoring.attackers import attack_nodes
from tests.helpers import sqlite_store, tiny_cohort

# the cheapest score that still attacks (as tests/cli/test_multirun.py), the attack left to each test
CHEAP = ["scoring.knowledge=[ignorant]", "scoring.conditions=[mri2mri]", "scoring.bootstrap=0", "scoring.permutations=20",
         "scoring.utility=false", "scoring.plots=false", "scoring.attributes=false"]


def test_no_attack_chosen_means_scoring_attacks():
    cfg = compose(["scoring.attacks=[geo,dlib]"])
    assert cfg.attack is None
    assert list(attack_nodes(cfg)) == ["geo", "dlib"]


def test_attack_group_selects_one_attack_with_its_overrides():
    cfg = compose(["attack=geo", "attack.views=[{azimuth: 30}]", "attack.det_thresh=0.4"])
    nodes = attack_nodes(cfg)
    assert list(nodes) == ["geo"]
    assert nodes["geo"]._target_ == "benchmark.attacks.geo.GeoAttack"
    assert nodes["geo"].views == [{"azimuth": 30}] and nodes["geo"].det_thresh == 0.4


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_the_attack_group(command, capsys):
    assert main([command, "attack=dlib", "attack.views=[{azimuth: -20}, {}]", "--cfg"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["attack"]["name"] == "dlib" and shown["attack"]["views"] == [{"azimuth": -20}, {}]


def test_multirun_sweeps_the_attack_group(capsys):
    assert main(["score", "-m", "attack=geo,arcface", "--cfg"]) == 0
    out = capsys.readouterr().out
    assert "# job 0: attack=geo" in out and "# job 1: attack=arcface" in out


@pytest.mark.parametrize("override, key", [("attack.nope=1", "attack.nope"), ("attack.det_thresh=high", "det_thresh"),
                                           ("attack=facenet", "attack")])
def test_attack_mistakes_are_one_line(override, key, capsys):
    assert main(["score", override, "--cfg"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err and "Traceback" not in err


def test_score_attack_geo_end_to_end_equals_scoring_attacks_geo(tmp_path):
    """``score attack=geo`` scores geo only, with the figures ``scoring.attacks=[geo]`` gives."""
    tiny_cohort(tmp_path / "cohort", n_persons=4, sessions=2)
    common = ["dataset=bids", f"dataset.root={tmp_path / 'cohort'}", "splits.test=0.5", "splits.dev=0.0",
              "splits.train=0.5", f"paths.prepared_dir={tmp_path / 'prepared'}", f"paths.cache_dir={tmp_path / 'cache'}",
              f"paths.submissions_dir={tmp_path / 'submissions'}", f"tracking.uri={sqlite_store(tmp_path / 'store')}",
              "progress=false", "workers=1", *CHEAP]
    assert main(["anonymize", "baseline=none", *common]) == 0
    submission = tmp_path / "submissions" / "baseline-none"
    results = {}
    for name, choice in (("group", "attack=geo"), ("list", "scoring.attacks=[geo]")):
        assert main(["score", f"submission={submission}", f"output_dir={tmp_path / name}", choice, *common]) == 0
        results[name] = json.loads((tmp_path / name / "results.json").read_text())
    keys = [MetricKey.parse(k) for k in results["group"]["splits"]["test"]]
    assert {k.attack for k in keys if k is not None} == {"geo"}
    for r in results.values():
        r["submission"].pop("path")
        r.pop("reused", None)
    assert results["group"] == results["list"]


def test_any_parameter_of_a_group_class_can_be_set_and_a_wrong_one_is_named():
    """``dataset.facial_hair_prob`` is a field of SyntheticCohort that conf/dataset/synthetic.yaml does not list:
    it is set all the same; a misspelt key, or an attack option with no attack chosen, is one line naming it."""
    from benchmark.core.errors import BenchmarkError

    assert compose(["dataset.facial_hair_prob=1.0"]).dataset.facial_hair_prob == 1.0
    with pytest.raises(BenchmarkError, match="dataset.facial_hair_probb"):
        compose(["dataset.facial_hair_probb=1.0"])
    with pytest.raises(BenchmarkError, match="attack.views set but no attack chosen"):
        compose(["attack.views=[{azimuth: 30}]"])
