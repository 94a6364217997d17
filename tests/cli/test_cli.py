"""The command line: help, one-line config errors, prepare end to end on a tiny cohort."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from omegaconf import OmegaConf

from benchmark.cli import COMMANDS, compose, main
from benchmark.core.config import CONF_DIR
from benchmark.data.dataset import load_dataset
from benchmark.data.splits import make_splits
from tests.helpers import tiny_cohort

REPO = Path(__file__).resolve().parents[2]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


def test_help_lists_every_command():
    out = _cli("--help")
    assert out.returncode == 0
    for name in ("run", "prepare", "anonymize", "validate", "score", "study", "leaderboard"):
        assert any(line.strip().startswith(name + " ") for line in out.stdout.splitlines()), name
    assert set(COMMANDS) == {"run", "prepare", "anonymize", "validate", "score", "study", "leaderboard"}


@pytest.mark.parametrize("override, key", [
    ("splits.seed=abc", "'splits.seed'"),
    ("limits.nope=1", "'limits.nope'"),
    ("dataset.nope=1", "'dataset.nope'"),
    ("dataset=bids dataset.root=[1,2]", "'dataset.root'"),
])
def test_config_error_is_one_line_naming_the_key(override, key, capsys):
    assert main(["prepare", *override.split()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err and "Traceback" not in err


def test_help_shows_multirun(capsys):
    assert main(["--help"]) == 0
    assert "-m baseline=none,blur" in capsys.readouterr().out


def test_run_baseline_means_that_one_baseline(capsys):
    assert main(["run", "baseline=blur", "--cfg"]) == 0
    assert "baselines:\n- blur\n" in capsys.readouterr().out
    assert main(["run", "baseline=blur", "baselines=[none]"]) == 2
    assert "not both" in capsys.readouterr().err


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2


def test_bad_dataset_root_is_clear(tmp_path, capsys):
    assert main(["prepare", "dataset=bids", f"dataset.root={tmp_path / 'nowhere'}"]) == 2
    err = capsys.readouterr().err
    assert "dataset folder not found" in err and "nowhere" in err


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_prepare_end_to_end_is_deterministic(tmp_path):
    root = tiny_cohort(tmp_path / "cohort", n_persons=12, sessions=2, photos=3)
    args = ["prepare", "dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
            "progress=false"]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    (out,) = (tmp_path / "prep").iterdir()
    digest = _tree_digest(out)
    again = _cli(*args)
    assert again.returncode == 0
    assert _tree_digest(out) == digest
    ids = (out / "kit" / "ids.txt").read_text().split()
    assert sorted(p.name[:-7] for p in (out / "kit" / "volumes").iterdir()) == ids
    assert (out / "trials" / "test" / "mri2mri" / "trials").is_file()
    assert (out / "trials" / "test" / "photo2mri" / "trials_same_sex").is_file()
    # the kit holds volumes and the id list, nothing that links ids or names persons
    kit_text = " ".join(p.read_text() for p in (out / "kit").glob("*.*") if p.suffix in (".txt", ".md"))
    assert "sub-" not in kit_text and "target" not in kit_text
    assert {p.name for p in (out / "kit").iterdir()} == {"ids.txt", "volumes", "README.md"}


def test_prepared_folder_is_keyed_by_what_the_cohort_holds_not_by_workers():
    """``workers=1`` finds the kit and the baselines' submissions a ``workers=2`` run made; a cohort of
    other persons or other splits gets its own folder."""
    from benchmark.data.prepare import prepared_root

    root = prepared_root(compose(["workers=2"]))
    assert prepared_root(compose(["workers=1"])) == root
    assert prepared_root(compose(["dataset.n_persons=25"])) != root
    assert prepared_root(compose(["splits.seed=1"])) != root


def test_prepare_real_data(real_mri_root, tmp_path):
    out = _cli("prepare", "dataset=bids", f"dataset.root={real_mri_root}",
               f"paths.prepared_dir={tmp_path}", "progress=false")
    assert out.returncode == 0, out.stderr
    (tl,) = make_splits(load_dataset(real_mri_root)).trial_lists  # every session after the first is a trial
    assert f"test/mri2mri: {len(tl.trials)} trials ({sum(t.target for t in tl.trials)} target)" in out.stdout
    assert "photo2mri: skipped" in out.stdout


def test_progress_false_keeps_the_cohort_generation_quiet(tmp_path, capsys):
    args = ["prepare", "dataset.n_persons=3", "dataset.sessions=2", "dataset.photos=0", "splits.min_persons=3",
            f"paths.cache_dir={tmp_path / 'cache'}", f"paths.prepared_dir={tmp_path / 'prep'}", "workers=1"]
    assert main([*args, "progress=false"]) == 0
    assert "synthetic cohort" not in capsys.readouterr().err
    shutil.rmtree(tmp_path / "cache")
    assert main(args) == 0
    assert "synthetic cohort: 3/3" in capsys.readouterr().err  # the same run with progress shows it


def test_prepare_pairs_contrasts(tmp_path, capsys):
    root = tiny_cohort(tmp_path / "c", n_persons=3, sessions=2)
    for pid in ("sub-t01", "sub-t02", "sub-t03"):
        src = root / pid / "ses-2" / "anat" / f"{pid}_ses-2_T1w.nii.gz"
        src.rename(src.with_name(f"{pid}_ses-2_T2w.nii.gz"))
    args = ["prepare", "dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
            "progress=false"]
    assert main(args) == 2 and "no T1w volume" in capsys.readouterr().err  # T1w only by default
    assert main([*args, "dataset.contrasts=[T1w,T2w]", "dataset.trial_contrasts=[T2w]"]) == 0
    assert "test/mri2mri: 9 trials (3 target)" in capsys.readouterr().out
    key = next((tmp_path / "prep").glob("*/key.tsv")).read_text().splitlines()[1:]
    assert {tuple(ln.split("\t")[2:5:2]) for ln in key} == {("ses-1", "enroll"), ("ses-2", "trial")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_lists_its_main_options(command, capsys):
    """``<command> --help`` lists options that the composed config (or conf/ for a group) really has."""
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert COMMANDS[command][0] in out and "main options:" in out
    cfg = compose([])
    listed = [line.split()[0] for line in out.split("main options:")[1].split("\n\n")[0].splitlines()
              if line.startswith("  ") and line.split() and "=" in line.split()[0]]
    assert len(listed) >= 3
    for option in listed:
        key = option.split("=")[0]
        assert OmegaConf.select(cfg, key, default="<absent>") != "<absent>" or (CONF_DIR / key).is_dir(), option


def test_score_help_names_the_dev_kit(capsys):
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("submission=", "output_dir=", "split=dev", "kit=", "attack="):
        assert option in out, option
