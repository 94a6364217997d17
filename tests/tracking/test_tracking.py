"""MLflow tracking: a real ``mlflow server`` round trip, privacy of artifacts, concurrent SQLite writers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import OperationalError

from benchmark.core.errors import BenchmarkError
from tests.helpers import CFG, results_for, sqlite_store
from benchmark.tracking import (MAX_PARAM_VAL_LENGTH, TrackingConfig, config_params, is_biometric, log_results,
                                retry)

REPO = Path(__file__).resolve().parents[2]
MLFLOW = Path(sys.executable).with_name("mlflow")










def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 with its own SQLite store and artifact folder; always terminated."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    sqlite_store(tmp)  # an already migrated store: the server starts faster
    port = _free_port()
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp / 'db.sqlite'}", "--artifacts-destination", str(tmp / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})  # no background job workers
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n"
                            + (tmp / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer within 120 s:\n" + (tmp / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url, tmp
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the group we started
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def test_log_results_into_a_real_server(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    url, server_dir = mlflow_server
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "det_photo2mri.png").write_bytes(b"\x89PNG det photo2mri")
    (plots / "det_mri2mri.png").write_bytes(b"\x89PNG det mri2mri")
    scores = tmp_path / "test_scores.txt"
    scores.write_text("v1 v2 target 0.7\n")
    renders = tmp_path / "renders"
    renders.mkdir()
    (renders / "v0001.png").write_bytes(b"a face")
    emb = tmp_path / "embeddings.npy"
    emb.write_bytes(b"vectors")
    validation = {"ok": True, "n_errors": 0, "reason": "", "files": []}
    tcfg = TrackingConfig(uri=url, experiment="defacing-privacy-test")
    results = results_for("acme", "blur")

    ids = log_results(results, CFG, tcfg, {"plots": [plots], "test/scores": [scores], "renders": [renders],
                                           "embeddings": [emb]}, validation)
    assert len(ids) == 2

    c = MlflowClient(tracking_uri=url)
    exp = c.get_experiment_by_name("defacing-privacy-test")
    assert exp is not None
    found = c.search_runs([exp.experiment_id])
    assert {r.info.run_id for r in found} == set(ids)
    for rid, split in zip(ids, ("dev", "test")):
        run = c.get_run(rid)
        assert run.info.status == "FINISHED"
        assert run.data.metrics == pytest.approx(results["splits"][split])
        tags = run.data.tags
        assert (tags["team"], tags["system"], tags["split"], tags["submission"]) == ("acme", "blur", split, "acme/blur")
        assert tags["validation.status"] == "passed" and "validation.reason" not in tags
        assert tags["privacy.worst_eer_attacker"] == "photo2mri/arcface/semi_informed"
        assert tags["artifacts.biometric_skipped"] == "2"
        params = run.data.params
        assert params["dataset.n_persons"] == "12" and params["dataset.grid"] == "[64, 64, 64]"
        assert params["dataset._target_"] == "benchmark.data.dataset.Synthetic" and params["baseline"] == "null"
        assert len(params["notes"]) == MAX_PARAM_VAL_LENGTH and params["notes"].endswith("[truncated]")
        top = {a.path for a in c.list_artifacts(rid)}
        assert {"plots", "config", "validation", "results.json"} <= top
        assert ("scores" in top) == (split == "test")  # split-specific artifact key
        assert not {"renders", "embeddings"} & top  # biometric: never without the flag
        assert {a.path for a in c.list_artifacts(rid, "plots")} == {"plots/det_photo2mri.png", "plots/det_mri2mri.png"}
        local = Path(c.download_artifacts(rid, "plots/det_photo2mri.png", str(tmp_path / f"dl-{split}")))
        assert local.read_bytes() == b"\x89PNG det photo2mri"
        cfg_back = Path(c.download_artifacts(rid, "config/config.yaml", str(tmp_path / f"cfg-{split}")))
        assert "n_persons: 12" in cfg_back.read_text()
        val_back = Path(c.download_artifacts(rid, "validation/validation.json", str(tmp_path / f"val-{split}")))
        assert json.loads(val_back.read_text())["ok"] is True
    # the artifacts went through the server into its own destination
    assert list((server_dir / "artifacts").rglob("det_photo2mri.png"))
    # and the leaderboard reads them back through the server (by the run's mlflow-artifacts: URI)
    from benchmark.leaderboard._artifacts import run_details

    d = run_details(c.get_run(ids[1]), {"run_id": ids[1], "submission": "acme/blur"}, tmp_path / "site", tcfg)
    assert sorted(Path(p).name for p in d.plots) == ["plots_det_mri2mri.png", "plots_det_photo2mri.png"]
    assert (tmp_path / "site" / d.plots[0]).read_bytes().startswith(b"\x89PNG det")
    assert d.validation["ok"] is True and d.results["submission"]["system"] == "blur"

    # a submission that failed validation: runs without metrics, tagged with the reason
    failed = {"submission": {"team": "bad", "system": "broken"}, "splits": {}}
    ids = log_results(failed, CFG, tcfg, {}, {"ok": False, "reason": "volumes/v1.nii.gz: missing", "n_errors": 1})
    for rid in ids:
        run = c.get_run(rid)
        assert run.data.metrics == {}
        assert run.data.tags["validation.status"] == "failed"
        assert run.data.tags["validation.reason"] == "volumes/v1.nii.gz: missing"


def test_biometric_artifacts_only_on_request(tmp_path):
    from mlflow.tracking import MlflowClient

    renders = tmp_path / "renders"
    renders.mkdir()
    (renders / "v0001.png").write_bytes(b"a face")
    tcfg = TrackingConfig(uri=sqlite_store(tmp_path), experiment="bio", log_biometric_artifacts=True)
    (rid,) = log_results(results_for("a", "b", splits=("test",)), {}, tcfg, {"renders": [renders]}, None)
    c = MlflowClient(tracking_uri=tcfg.uri)
    assert {a.path for a in c.list_artifacts(rid, "renders")} == {"renders/v0001.png"}
    assert c.get_run(rid).data.tags["validation.status"] == "unknown"
    assert (tmp_path / "mlruns").is_dir()  # artifacts beside the SQLite file


def test_biometric_rules():
    assert is_biometric("renders", Path("x.png")) and is_biometric("plots", Path("embeddings.npy"))
    assert is_biometric("out", Path("photos/a.png")) and is_biometric("x", Path("render_0001.png"))
    assert is_biometric("x", Path("v1.nii.gz"))
    assert not is_biometric("plots", Path("det_photo2mri.png")) and not is_biometric("scores", Path("scores.txt"))


def test_params_flatten_and_truncate():
    p = config_params({"a": {"b": {"c": 1}}, "l": [1, "x"], "e": {}, "bad key!": "v", "long": "y" * 9000})
    assert p["a.b.c"] == "1" and p["l"] == '[1, "x"]' and p["e"] == "{}" and p["bad key_"] == "v"
    assert len(p["long"]) == MAX_PARAM_VAL_LENGTH


def test_retry_backs_off_on_locked_database():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT INTO runs", {}, Exception("database is locked"))
        return "ok"

    assert retry(flaky, "test", TrackingConfig(backoff_s=0.01)) == "ok" and len(calls) == 3
    with pytest.raises(MlflowException):  # a store error that is not transient: raised at once
        retry(lambda: (_ for _ in ()).throw(MlflowException("no such run")), "test", TrackingConfig(backoff_s=0.01))
    calls.clear()

    def bug():  # a programming error is never retried, whatever its message says
        calls.append(1)
        raise TypeError("busy")

    with pytest.raises(TypeError):
        retry(bug, "test", TrackingConfig(backoff_s=0.01))
    assert len(calls) == 1


WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.helpers import results_for, CFG
from benchmark.tracking import TrackingConfig, log_results
from pathlib import Path
Path(sys.argv[3] + ".ready").touch()  # mlflow is imported: wait for the other writer, then go together
deadline = time.time() + 120
while not all(Path(f"{{t}}.ready").exists() for t in sys.argv[2].split(",")) and time.time() < deadline:
    time.sleep(0.005)
tcfg = TrackingConfig(uri=sys.argv[1], experiment="concurrent")
ids = []
for k in range(3):
    ids += log_results(results_for(sys.argv[3], f"sys{{k}}", eer=0.3 + 0.01 * k), CFG, tcfg, {{}}, {{"ok": True}})
print(" ".join(ids))
"""


def test_two_processes_into_one_sqlite_store(tmp_path):
    """Two writers started at the same moment on a fresh SQLite store: every run lands."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    script = WRITER.format(repo=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", script, uri, "t1,t2", team], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for team in ("t1", "t2")]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        outs.append(out.split())
    assert all(len(o) == 6 for o in outs)
    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name("concurrent")
    found = c.search_runs([exp.experiment_id], max_results=100)
    assert {r.info.run_id for r in found} == set(outs[0] + outs[1])
    assert len(found) == 12 and all(r.info.status == "FINISHED" for r in found)
    assert all(len(r.data.metrics) == len(results_for("x", "y")["splits"]["test"]) for r in found)
    assert {r.data.tags["submission"] for r in found} == {f"t{i}/sys{k}" for i in (1, 2) for k in range(3)}


def test_runs_carry_filter_tags_and_the_experiment_opens_on_its_runs(tmp_path):
    """team, system, split(s), cohort, code version and reused on every run; the experiment's type is model
    training, not GenAI, for MLflow 3's UI (an edition created before gets it too)."""
    from mlflow.tracking import MlflowClient

    tcfg = TrackingConfig(uri=sqlite_store(tmp_path), experiment="edition")
    c = MlflowClient(tracking_uri=tcfg.uri)
    old = c.create_experiment("edition")  # as an earlier version of the benchmark made it: no kind
    results = {**results_for("acme", "blur"), "reused": ".cache/results/abc",
               "provenance": {"cohort": "c0ffee", "code": "5eed", "git": "v1.2-3-gabc"}}
    ids = log_results(results, CFG, tcfg, {}, None)
    assert c.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    for rid, split in zip(ids, ("dev", "test")):
        tags = c.get_run(rid).data.tags
        assert (tags["team"], tags["system"], tags["split"], tags["splits"]) == ("acme", "blur", split, "dev,test")
        assert (tags["cohort"], tags["code_version"], tags["code_hash"]) == ("c0ffee", "v1.2-3-gabc", "5eed")
        assert (tags["reused"], tags["reused.entry"]) == ("true", ".cache/results/abc")
    fresh = TrackingConfig(uri=tcfg.uri, experiment="fresh")
    (rid,) = log_results(results_for("a", "b", splits=("test",)), {}, fresh, {}, None)
    assert c.get_run(rid).data.tags["reused"] == "false"
    exp = c.get_experiment_by_name("fresh")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    found = c.search_runs([exp.experiment_id], "tags.reused = 'false' and tags.team = 'a'")
    assert [r.info.run_id for r in found] == [rid]


def test_a_run_that_fails_half_way_is_marked_failed_and_the_error_raised(tmp_path):
    """The store cannot write the artifacts (a file where the experiment's artifact folder should be): the
    run is created, then marked FAILED, and the error raised."""
    from mlflow.tracking import MlflowClient

    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not the artifact folder")
    tcfg = TrackingConfig(uri=sqlite_store(tmp_path), experiment="half", artifact_location=blocked.as_uri())
    with pytest.raises(OSError):
        log_results(results_for("a", "b", splits=("test",)), {}, tcfg, {}, None)
    c = MlflowClient(tracking_uri=tcfg.uri)
    runs = c.search_runs([c.get_experiment_by_name("half").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_a_missing_artifact_is_named_before_any_run_is_made(tmp_path):
    from mlflow.tracking import MlflowClient

    tcfg = TrackingConfig(uri=sqlite_store(tmp_path), experiment="gone", log_biometric_artifacts=True)
    with pytest.raises(BenchmarkError, match="artifact not found"):
        log_results(results_for("a", "b", splits=("test",)), {}, tcfg, {"renders": [tmp_path / "gone"]}, None)
    c = MlflowClient(tracking_uri=tcfg.uri)
    assert c.search_runs([c.get_experiment_by_name("gone").experiment_id]) == []


def test_the_same_content_is_not_logged_twice(tmp_path):
    """Logging what the latest run of a submission and split already holds returns that run (figures reused
    or not); another figure, another artifact byte or a run of another content in between logs anew."""
    from mlflow.tracking import MlflowClient

    tcfg = TrackingConfig(uri=sqlite_store(tmp_path), experiment="dedup")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "det.png").write_bytes(b"png 1")
    art = {"test/plots": [plots]}
    first = log_results(results_for("a", "b"), CFG, tcfg, art, {"ok": True})
    assert log_results({**results_for("a", "b"), "reused": ".cache/results/x"}, CFG, tcfg, art, {"ok": True}) == first
    other = log_results(results_for("a", "b", eer=0.2), CFG, tcfg, art, {"ok": True})
    assert other[0] != first[0] and other[1] != first[1]
    back = log_results(results_for("a", "b"), CFG, tcfg, art, {"ok": True})  # not the latest any more: anew
    assert not set(back) & set(first + other)
    (plots / "det.png").write_bytes(b"png 2")
    again = log_results(results_for("a", "b"), CFG, tcfg, art, {"ok": True})
    assert again[0] == back[0] and again[1] != back[1]  # the plot is the test split's only
    c = MlflowClient(tracking_uri=tcfg.uri)
    assert len(c.search_runs([c.get_experiment_by_name("dedup").experiment_id])) == 7