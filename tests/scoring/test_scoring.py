"""Scoring end to end on a small synthetic cohort: the results schema, resuming after SIGKILL, and two
score runs landing in one SQLite MLflow store at the same time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.core.keys import CONDITIONS, KNOWLEDGE
from tests.helpers import cli, sqlite_store

REPO = Path(__file__).resolve().parents[2]
ATTACKS = ("arcface", "geo")
METRICS = ("eer", "min_cllr", "auc", "linkability", "rank1", "rank5", "detection_rate")
WITH_CI = ("eer", "min_cllr", "auc", "linkability", "rank1", "rank5")
WITH_CHANCE = ("eer", "min_cllr", "auc", "linkability", "rank1", "rank5")  # each with _chance, _chance_p05, _p
ATTRIBUTES = ("age_r2", "age_mae", "sex_accuracy", "sex_balanced_accuracy")  # each with _chance and an interval


def _cli(args):
    return cli(*args)


@pytest.fixture(scope="module")
def work(tmp_path_factory, content_cache):
    root = tmp_path_factory.mktemp("scoring")
    content_cache(root / "cacheA")  # deepbet's masks and registrations of the volumes shared with the session
    # 7 test persons (3 men: attribute inference cross-fits with two of each sex in every training fold), a
    # pool of 5; the first ten persons are the session's small cohort's (persons do not depend on n_persons)
    common = [f"paths.prepared_dir={root / 'prepared'}", f"paths.submissions_dir={root / 'submissions'}",
              "dataset.n_persons=12", "dataset.sessions=2", "dataset.photos=2", "splits.test=0.6",
              "splits.dev=0.0", "splits.train=0.4", f"dataset.cache_dir={root / 'datasets'}", "progress=false"]
    out = _cli(["anonymize", "baseline=none", f"paths.cache_dir={root / 'cache0'}", *common])
    assert out.returncode == 0, out.stderr
    return root, common, Path(out.stdout.strip().splitlines()[-1])


def _score_args(work, cache: str, out: str, store: str = ""):
    """``store``: a new SQLite file of that name (created by the run itself), else the module's migrated one."""
    root, common, submission = work
    uri = f"sqlite:///{root / store}" if store else sqlite_store(root / "store")
    return ["score", f"submission={submission}", f"output_dir={root / out}", f"paths.cache_dir={root / cache}",
            f"tracking.uri={uri}", f"scoring.attacks=[{','.join(ATTACKS)}]",
            f"scoring.knowledge=[{','.join(KNOWLEDGE)}]", "scoring.bootstrap=50", "scoring.permutations=100",
            "scoring.adapt.views=[{}]", "scoring.adapt.finetune.epochs=5", "scoring.plots=false", *common]


def _stable(results: dict) -> dict:
    """results.json without what legitimately differs between two runs (paths of the run)."""
    out = dict(results)
    out.pop("artifacts", None)
    return out


@pytest.fixture(scope="module")
def uninterrupted(work):
    out = _cli(_score_args(work, "cacheA", "outA"))
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip().splitlines()[-1])  # the last line is the path of results.json
    assert path.name == "results.json"
    return json.loads(path.read_text())


def test_results_hold_every_promised_key(uninterrupted):
    test = uninterrupted["splits"]["test"]
    for condition in CONDITIONS:
        for attack in ATTACKS:
            for level in KNOWLEDGE:
                for metric in METRICS:
                    key = f"{condition}/{attack}/{level}/{metric}"
                    assert key in test, key
                    assert 0.0 <= test[key] <= 1.0, (key, test[key])
                for metric in WITH_CI:
                    key = f"{condition}/{attack}/{level}/{metric}"
                    assert test[f"{key}_ci_low"] <= test[key] <= test[f"{key}_ci_high"], key
                for metric in WITH_CHANCE:
                    key = f"{condition}/{attack}/{level}/{metric}"
                    assert 0.0 < test[f"{key}_p"] <= 1.0, key
                    assert f"{key}_chance" in test and f"{key}_chance_p05" in test, key
    for key in ("privacy/worst_eer", "privacy/worst_linkability", "utility/brain_dice_mean",
                "utility/failure_rate", "privacy/worst_eer_chance", "privacy/worst_eer_p",
                "privacy/worst_linkability_chance_p05"):
        assert key in test, key
    assert test["privacy/distinguishable_from_chance"] == 1.0  # the none reference: the attackers win
    for attack in ATTACKS:  # attribute inference (benchmark.scoring.attributes)
        assert test[f"attributes/{attack}/n_persons"] >= 2
        for metric in ATTRIBUTES:
            key = f"attributes/{attack}/{metric}"
            for suffix in ("", "_chance", "_ci_low", "_ci_high"):
                assert key + suffix in test, key + suffix
            assert test[f"{key}_ci_low"] <= test[f"{key}_ci_high"], key
        for metric in ("sex_accuracy", "sex_balanced_accuracy"):
            assert 0.0 <= test[f"attributes/{attack}/{metric}"] <= 1.0
        assert test[f"attributes/{attack}/sex_balanced_accuracy_chance"] == 0.5
        assert test[f"attributes/{attack}/age_r2_chance"] == 0.0
    assert "reference" not in uninterrupted  # none is the reference itself
    who = uninterrupted["privacy"]["test"]
    assert who["worst_eer_attacker"].count("/") == 2
    assert test["privacy/worst_eer"] == test[f"{who['worst_eer_attacker']}/eer"]
    for attack in ATTACKS:  # every attack has a semi-informed level; what it adapted is said in messages
        assert any(m.startswith(f"{attack}/semi_informed: adapted back end") for m in uninterrupted["messages"])
    assert uninterrupted["validation"]["ok"] and uninterrupted["failures"] == []
    # the reference row: no anonymisation, so the attacker wins and the brain is untouched
    assert test["mri2mri/arcface/ignorant/eer"] <= 0.2
    assert test["utility/brain_dice_mean"] == 1.0


def test_sigkill_and_restart_give_the_same_results(work, uninterrupted):
    import shutil

    root = work[0]
    # the cache of the uninterrupted run less the geo embeddings, the adapted back ends and the results:
    # the run computes geo's embeddings (one per sample, each written whole or not at all) and is killed
    # among them, then the restart computes the rest and adapts and scores everything again
    for stage in (root / "cacheA").iterdir():
        if stage.name not in ("adapted", "results"):
            shutil.copytree(stage, root / "cacheB" / stage.name, dirs_exist_ok=True)
    geo = root / "cacheB" / "embeddings" / "geo"
    shutil.rmtree(geo)
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *_score_args(work, "cacheB", "outB")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if len(list(geo.rglob("*.npz"))) >= 12:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "outB" / "results.json").exists()
    assert not [p for p in (root / "cacheB").rglob("*") if ".tmp" in p.name]  # nothing half-written kept
    again = _cli(_score_args(work, "cacheB", "outB"))
    assert again.returncode == 0, again.stderr
    assert _stable(json.loads((root / "outB" / "results.json").read_text())) == _stable(uninterrupted)


def test_two_score_runs_at_once_both_land(work, uninterrupted):
    import mlflow

    root = work[0]
    args = [_score_args(work, "cacheA", f"outC{i}", store="shared.db") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "benchmark", *a], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for a in args]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{root / 'shared.db'}")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert len(runs) == 2
    for r in runs:
        assert r.data.tags["split"] == "test" and r.data.tags["system"] == "none"
        assert r.data.metrics["mri2mri/arcface/ignorant/eer"] == uninterrupted["splits"]["test"][
            "mri2mri/arcface/ignorant/eer"]


def test_reference_block_holds_none_figures_for_the_same_keys(work, uninterrupted):
    """Another submission gets the none baseline's figures beside its own, for the same keys: a copy of
    the none volumes under another name gets exactly its own figures; the second time they are cached."""
    import shutil

    import yaml

    root, _, none_dir = work
    copy = root / "submissions" / "acme-copy"
    if not copy.exists():
        shutil.copytree(none_dir, copy)
        (copy / "submission.yaml").write_text(yaml.safe_dump({"team": "acme", "system": "copy",
                                                             "description": "the originals, renamed"}))
    args = ["score", f"submission={copy}", f"paths.cache_dir={root / 'cacheA'}",
            f"tracking.uri={sqlite_store(root / 'ref-store')}", "scoring.attacks=[arcface]", "scoring.knowledge=[ignorant]",
            "scoring.bootstrap=20", "scoring.permutations=50", "scoring.utility=false", "scoring.plots=false", *work[1]]
    results = []
    for i in range(2):
        out = _cli([*args, f"output_dir={root / f'outRef{i}'}"])
        assert out.returncode == 0, out.stderr
        results.append(json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text()))
    first, second = results
    ref = first["reference"]
    assert ref["submission"] == "baseline/none" and Path(ref["path"]) == none_dir
    assert ref["splits"]["test"] == first["splits"]["test"]  # same volumes, same keys, same figures
    assert any(k.startswith("attributes/arcface/") for k in ref["splits"]["test"])
    assert ref["privacy"]["test"] == first["privacy"]["test"]
    assert not ref["cached"] and second["reference"]["cached"]
    assert second["reference"]["splits"] == ref["splits"]
