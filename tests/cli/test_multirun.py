"""Hydra multirun (``-m``): every job checked before launch, colliding outputs refused; two ``score`` jobs
run by submitit's local executor give the results.json of the serial runs and both land in one SQLite
MLflow store; two ``prepare`` jobs run by the joblib launcher write what the serial runs write."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.submission.format import SubmissionInfo, write_info
from tests.helpers import sqlite_store, tiny_cohort

REPO = Path(__file__).resolve().parents[2]
# the cheapest score that still attacks: one attack, one level, one condition, no bootstrap, no extras
CHEAP_SCORE = ["scoring.attacks=[geo]", "scoring.knowledge=[ignorant]", "scoring.conditions=[mri2mri]",
               "scoring.bootstrap=0", "scoring.permutations=20", "scoring.utility=false", "scoring.plots=false",
               "scoring.attributes=false"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def _common(root: Path) -> list[str]:
    return ["dataset=bids", f"dataset.root={root / 'cohort'}", "splits.test=0.5", "splits.dev=0.0",
            "splits.train=0.5", f"paths.prepared_dir={root / 'prepared'}", f"paths.cache_dir={root / 'cache'}",
            f"paths.submissions_dir={root / 'submissions'}", f"paths.outputs_dir={root / 'outputs'}",
            f"tracking.uri={sqlite_store(root / 'store')}", "progress=false", "workers=1"]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """Two submissions (baseline none and a copy under another team), each scored by a serial run."""
    root = tmp_path_factory.mktemp("multirun")
    tiny_cohort(root / "cohort", n_persons=4, sessions=2)
    common = _common(root)
    assert main(["anonymize", "baseline=none", *common]) == 0
    subs = [root / "submissions" / "baseline-none", root / "team-b"]
    shutil.copytree(subs[0], subs[1])
    write_info(subs[1], SubmissionInfo("team-b", "copy", "the same volumes under another name"))
    results = {}
    for sub in subs:
        assert main(["score", f"submission={sub}", f"output_dir={root / 'serial' / sub.name}",
                     *CHEAP_SCORE, *common]) == 0
        results[sub.name] = json.loads((root / "serial" / sub.name / "results.json").read_text())
    return root, common, subs, results


def _stable(results: dict, path: bool = True) -> dict:
    """results.json less what records how a run went rather than what it found: whether the reference
    scores came from the cache, and (path=False) where the submission was read."""
    out = json.loads(json.dumps(results))
    if isinstance(out.get("reference"), dict):
        out["reference"].pop("cached", None)
    if not path:
        out["submission"].pop("path", None)
    return out


def _runs_in_store(root: Path) -> int:
    with sqlite3.connect(root / "store" / "db.sqlite") as db:
        return db.execute("select count(*) from runs").fetchone()[0]


def _job_dirs(stdout: str) -> list[Path]:
    return [Path(m) for m in re.findall(r"^job \d+ .*: ok -> (.+)$", stdout, flags=re.M)]


def test_two_score_jobs_with_submitit_local_equal_serial_runs(serial):
    """hydra/launcher=local is hydra-submitit-launcher's submitit_local: the SLURM code path, as local processes."""
    root, common, subs, expected = serial
    before = _runs_in_store(root)
    out = _cli("score", "-m", "hydra/launcher=local", "hydra.launcher.timeout_min=10",
               f"submission={subs[0]},{subs[1]}", "scoring.reuse=false", *CHEAP_SCORE, *common)
    assert out.returncode == 0, out.stdout + out.stderr
    dirs = _job_dirs(out.stdout)
    assert len(dirs) == 2 and len(set(dirs)) == 2, out.stdout  # one folder per job
    for sub, folder in zip(subs, dirs):
        assert folder.parent.parent == root / "outputs" / "multirun" / "score"
        assert _stable(json.loads((folder / "results.json").read_text())) == _stable(expected[sub.name])
        assert (folder / ".hydra" / "overrides.yaml").is_file()
    assert len(list(dirs[0].parent.glob(".submitit/*/*_result.pkl"))) == 2  # ran by submitit
    assert _runs_in_store(root) == before + 2  # both concurrent jobs tracked in one SQLite store, none lost


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_prepare_jobs_with_joblib_equal_serial_runs(tmp_path):
    """hydra/launcher=joblib_local: two split draws prepared in parallel processes on one machine."""
    tiny_cohort(tmp_path / "cohort", n_persons=4, sessions=2)
    common = [o for o in _common(tmp_path) if not o.startswith("paths.prepared_dir")]
    for seed in (1, 2):
        assert main(["prepare", f"splits.seed={seed}", f"paths.prepared_dir={tmp_path / 'serial'}", *common]) == 0
    out = _cli("prepare", "-m", "hydra/launcher=joblib_local", "hydra.launcher.n_jobs=2", "splits.seed=1,2",
               f"paths.prepared_dir={tmp_path / 'parallel'}", *common)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(_job_dirs(out.stdout)) == 2
    serial = {p.name: _tree(p) for p in (tmp_path / "serial").iterdir()}
    assert len(serial) == 2 and serial == {p.name: _tree(p) for p in (tmp_path / "parallel").iterdir()}


def test_every_job_is_checked_before_launch(tmp_path, capsys):
    common = _common(tmp_path)
    assert main(["prepare", "-m", "dataset.n_persons=6,abc", *common[2:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "job 1" in err and "'dataset.n_persons'" in err
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "prepared").exists()  # nothing ran


@pytest.mark.parametrize("command, sweep", [("anonymize", ["baseline=blur", "baseline.seed=1,2"]),
                                            ("anonymize", ["baseline=none", "splits.seed=1,2"]),
                                            ("run", ["baseline=blur", "baseline.sigma_mm=3,4"]),
                                            ("run", ["baselines=[blur]", "splits.seed=1,2"])])
def test_jobs_writing_one_submission_folder_are_refused(tmp_path, capsys, command, sweep):
    assert main([command, "-m", *sweep, *_common(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "jobs 0 and 1" in err and "paths.submissions_dir" in err


def test_jobs_making_the_same_baseline_volumes_may_share_the_folder():
    """run always makes none; two run jobs differing only in scoring share it (anonymize_kit locks it)."""
    from benchmark.cli.multirun import check_jobs

    cfgs = check_jobs("run", [["baselines=[blur]", "scoring.bootstrap=0"], ["baselines=[blur]", "scoring.bootstrap=10"]])
    assert [c.scoring.bootstrap for c in cfgs] == [0, 10]


def test_one_output_dir_for_several_jobs_is_refused(tmp_path, capsys):
    assert main(["score", "-m", "submission=a,b", f"output_dir={tmp_path / 'out'}", *_common(tmp_path)]) == 2
    assert "output_dir" in capsys.readouterr().err


def test_show_config_of_each_job(tmp_path, capsys):
    assert main(["run", "-m", "baseline=none,blur", "--cfg", *_common(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# job 0: baseline=none" in out and "# job 1: baseline=blur" in out
    assert "baselines:\n- none\n" in out and "baselines:\n- blur\n" in out  # run baseline=X: baselines=[X]


def test_score_an_archive_without_unpack_dir(serial):
    """``score submission=team.zip``: unpacked beside the cache for the run, removed afterwards."""
    root, common, subs, expected = serial
    archive = Path(shutil.make_archive(str(root / "team-b"), "zip", root_dir=subs[1]))
    assert main(["score", f"submission={archive}", f"output_dir={root / 'zipped'}", "scoring.reuse=false",
                 *CHEAP_SCORE, *common]) == 0
    got = json.loads((root / "zipped" / "results.json").read_text())
    # submission.path: the folder it was unpacked to (scoring records where it read the volumes)
    assert _stable(got, path=False) == _stable(expected["team-b"], path=False)
    assert not any((root / "cache" / "unpacked").iterdir())  # the unpacked copy is gone


def test_unchanged_submission_is_reused_and_a_changed_one_is_scored(serial):
    """The result cache: scoring team-b again copies its figures (marked ``reused``); a copy with one voxel
    changed is scored anew."""
    import nibabel as nib
    import numpy as np

    root, common, subs, expected = serial
    assert main(["score", f"submission={subs[1]}", f"output_dir={root / 'again'}", *CHEAP_SCORE, *common]) == 0
    again = json.loads((root / "again" / "results.json").read_text())
    assert again["reused"] and again.pop("reused") and again == expected["team-b"]
    changed = root / "team-c"
    shutil.copytree(subs[1], changed)
    vol = sorted((changed / "volumes").iterdir())[0]
    img = nib.load(vol)
    arr = np.asanyarray(img.dataobj).copy()
    arr[0, 0, 0] += 1
    nib.save(nib.Nifti1Image(arr, img.affine, img.header), vol)
    assert main(["score", f"submission={changed}", f"output_dir={root / 'changed'}", *CHEAP_SCORE, *common]) == 0
    assert "reused" not in json.loads((root / "changed" / "results.json").read_text())
