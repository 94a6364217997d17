"""``run`` end to end on a tiny cohort: `none` is always scored as the reference, bad submissions get
their own clear reason and no traceback, and a good submission scored in the same run is unaffected."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import nibabel as nib

from tests.helpers import cli, tiny_cohort

FAST = ["scoring.attacks=[arcface]", "scoring.knowledge=[ignorant]", "scoring.bootstrap=50", "scoring.permutations=50",
        "scoring.utility=false", "scoring.plots=false", "progress=false"]


def _cli(cwd: Path, *args):
    return cli(*args, *FAST, cwd=cwd)


def _bad_submissions(good: Path, root: Path) -> dict[str, Path]:
    vols = sorted((good / "volumes").iterdir())
    bad = {}
    for name in ("truncated", "missing", "nan"):
        bad[name] = root / f"bad-{name}"
        shutil.copytree(good, bad[name])
        (bad[name] / "submission.yaml").write_text(f"team: tester\nsystem: {name}\ndescription: broken on purpose\n")
    data = (bad["truncated"] / "volumes" / vols[0].name).read_bytes()
    (bad["truncated"] / "volumes" / vols[0].name).write_bytes(data[: len(data) // 2])
    (bad["missing"] / "volumes" / vols[1].name).unlink()
    img = nib.load(vols[2])
    arr = np.asanyarray(img.dataobj).astype(np.float32)
    arr[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(arr, img.affine), bad["nan"] / "volumes" / vols[2].name)
    bad["dotdot"] = root / "bad-dotdot.zip"
    with zipfile.ZipFile(bad["dotdot"], "w") as z:
        z.writestr("submission.yaml", "team: tester\nsystem: dotdot\ndescription: broken on purpose\n")
        z.writestr("../escape.txt", "x")
    return bad


def test_run_scores_none_first_and_bad_submissions_do_not_disturb_a_good_one(tmp_path):
    cohort = tiny_cohort(tmp_path / "cohort", n_persons=6, sessions=2, photos=1)
    work = tmp_path / "work"
    work.mkdir()
    data = [f"dataset=bids", f"dataset.root={cohort}"]
    made = _cli(work, "anonymize", "baseline=none", *data)
    assert made.returncode == 0, made.stderr
    good = work / made.stdout.strip().splitlines()[-1]
    bad = _bad_submissions(good, tmp_path)
    packed = tmp_path / "good.zip"  # a good submission packed as an archive is scored like a folder
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr("submission.yaml", "team: tester\nsystem: zipped\ndescription: the originals, packed\n")
        for p in sorted((good / "volumes").iterdir()):
            z.write(p, f"volumes/{p.name}")
    shutil.rmtree(good)  # run makes it again

    subs = [*map(str, bad.values()), str(packed)]
    out = _cli(work, "run", *data, "baselines=[]", f"submissions=[{','.join(subs)}]", "output_dir=outputs/e2e")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert "as the reference" in out.stdout  # baselines=[] still scores none
    lines = {line.split(": ", 1)[0]: line for line in out.stdout.splitlines() if ": INVALID: " in line}
    assert set(lines) == {str(p) for p in bad.values()}, out.stdout
    expect = {"truncated": "truncated", "missing": "missing", "nan": "NaN", "dotdot": ".."}
    for name, path in bad.items():
        assert expect[name].lower() in lines[str(path)].lower(), lines[str(path)]

    board = json.loads((work / "leaderboard" / "leaderboard.json").read_text())
    rows = {(r["team"], r["system"]): r for r in board["rows"]}
    # a cohort this small may leave even the reference indistinguishable from chance: said after a comma
    assert rows[("baseline", "none")]["status"].split(",")[0] == "reference"
    invalid = [r for r in board["rows"] if r["status"].split(",")[0] not in ("reference", "ranked")
               and r["system"] != "zipped"]
    assert len(invalid) == len(bad) and all(r["rank"] is None and r["reason"] for r in invalid)
    # a BIDS cohort may hold real persons: no render written, logged or published; each row has its page
    assert not list((work / "outputs").rglob("renders")) and not list((work / "mlruns").rglob("renders"))
    assert not list((work / "leaderboard" / "img").rglob("*render*"))
    none_page = (work / "leaderboard" / rows[("baseline", "none")]["page"]).read_text()
    assert "not shown: the cohort is not the synthetic one" in none_page

    # the good submission's results equal those of scoring it alone
    in_run = json.loads((work / "outputs" / "e2e" / "baseline-none" / "results.json").read_text())
    alone = _cli(work, "score", *data, "submission=submissions/baseline-none", "output_dir=outputs/alone",
                 "scoring.reuse=false")
    assert alone.returncode == 0, alone.stderr[-3000:]
    by_itself = json.loads(Path(work / alone.stdout.strip().splitlines()[-1]).read_text())
    assert in_run["validation"]["ok"] and in_run["failures"] == []
    for key in ("splits", "privacy", "messages"):
        assert in_run[key] == by_itself[key], key
    zipped = json.loads((work / "outputs" / "e2e" / "good" / "results.json").read_text())
    assert zipped["validation"]["ok"] and zipped["submission"]["path"] == str(packed)
    assert zipped["splits"] == in_run["splits"]  # the same volumes, the same figures

    # a second run: nothing changed, so every figure is reused (and said so), and the table is the same;
    # the same submission given twice gets two output folders and a warning that it is one leaderboard row
    again = _cli(work, "run", *data, "baselines=[]", f"submissions=[{packed},{packed}]", "output_dir=outputs/again")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reused (unchanged)") == 3, again.stdout
    assert "warning: 2 submissions declare tester/zipped" in again.stdout
    assert (work / "outputs" / "again" / "good-2" / "results.json").is_file()
    for name in ("baseline-none", "good"):
        first = json.loads((work / "outputs" / "e2e" / name / "results.json").read_text())
        second = json.loads((work / "outputs" / "again" / name / "results.json").read_text())
        assert second.pop("reused") and first == second, name


def test_same_named_submissions_get_their_own_output_folders():
    from benchmark.cli.pipeline import _output_names

    subs = [Path("a/team"), Path("b/team"), Path("c/team.tar.gz"), Path("d/team-2"), Path("other")]
    assert _output_names(subs) == ["team", "team-2", "team-3", "team-2-2", "other"]


def test_a_baseline_that_refuses_volumes_is_reported_and_the_others_are_scored(tmp_path):
    """Balls are not heads: facemask refuses every volume. The run still scores none, says on the leaderboard
    which baseline is missing and why, and exits non-zero."""
    cohort = tiny_cohort(tmp_path / "cohort", n_persons=4, sessions=2)
    work = tmp_path / "work"
    work.mkdir()
    out = _cli(work, "run", "dataset=bids", f"dataset.root={cohort}", "baselines=[facemask]", "output_dir=outputs/r")
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert "error: baseline 'facemask' not scored:" in out.stderr and "could not be anonymised" in out.stderr
    assert (work / "outputs" / "r" / "baseline-none" / "results.json").is_file()
    board = json.loads((work / "leaderboard" / "leaderboard.json").read_text())
    assert set(board["missing"]) == {"facemask"}
    assert [r["system"] for r in board["rows"]] == ["none"]
    assert any("'facemask'" in n for n in board["notes"])
    assert "Not on this board: the baseline &#x27;facemask&#x27;" in (work / "leaderboard" / "index.html").read_text() \
        or "Not on this board: the baseline 'facemask'" in (work / "leaderboard" / "index.html").read_text()
