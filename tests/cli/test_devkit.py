"""The dev kit: a participant scores their dev submission from it alone and gets the organiser's figures;
the participant kit for test holds nothing that links two ids."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pytest

from tests.helpers import cli, sqlite_store

REPO = Path(__file__).resolve().parents[2]
SCORING = ["attack=geo", "scoring.knowledge=[ignorant,semi_informed]", "scoring.bootstrap=50",
           "scoring.permutations=50", "scoring.reference=false", "scoring.adapt.views=[{}]",
           "scoring.adapt.finetune.epochs=0", "progress=false"]


def _cli(args, *, process: bool = False):
    """The command in this process, or in a new one when ``process`` (nothing of this one's memory used)."""
    out = (subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=900) if process else cli(*args))
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def organiser(tmp_path_factory, small_synthetic, content_cache):
    """A small synthetic cohort with a dev split, the none baseline's submission, and its dev figures as the
    organiser scores them."""
    root = tmp_path_factory.mktemp("devkit")
    common = [f"paths.prepared_dir={root / 'prepared'}", f"paths.submissions_dir={root / 'submissions'}",
              f"paths.cache_dir={content_cache(root / 'cache')}", *small_synthetic(root / "datasets"),
              "splits.test=0.4", "splits.dev=0.3", "splits.train=0.3"]
    out = _cli(["anonymize", "baseline=none", *common, "progress=false"])
    submission = Path(out.stdout.strip().splitlines()[-1])
    out = _cli(["score", f"submission={submission}", "split=dev", f"output_dir={root / 'organiser'}",
                f"tracking.uri={sqlite_store(root / 'organiser-store')}", *common, *SCORING])
    (prepared,) = (root / "prepared").iterdir()
    return root, prepared, submission, json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text())


def test_dev_self_evaluation_from_the_kit_alone_gives_the_organisers_figures(organiser):
    root, prepared, submission, theirs = organiser
    kit = root / "participant" / "kit-dev"
    shutil.copytree(prepared / "kit-dev", kit)
    away = root / "organiser-files"  # the organiser's prepared folder and the cohort are not there
    away.mkdir()
    for name in ("prepared", "datasets", "cache"):
        shutil.move(root / name, away / name)
    try:
        out = _cli(["score", f"submission={submission}", "split=dev", f"kit={kit}",
                    f"output_dir={root / 'participant' / 'out'}", f"paths.cache_dir={root / 'participant' / 'cache'}",
                    f"paths.prepared_dir={root / 'participant' / 'prepared'}",
                    f"tracking.uri={sqlite_store(root / 'participant' / 'store')}", *SCORING], process=True)
        assert not (root / "participant" / "prepared").exists() and not (root / "datasets").exists()
    finally:
        for name in ("prepared", "datasets", "cache"):
            shutil.move(away / name, root / name)
    mine = json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text())
    assert mine["validation"]["ok"] and mine["failures"] == [] == theirs["failures"]
    assert list(mine["splits"]) == ["dev"] == list(theirs["splits"])
    dev = theirs["splits"]["dev"]
    assert {"mri2mri/geo/ignorant/eer", "photo2mri/geo/semi_informed/eer", "utility/brain_dice_mean"} <= set(dev)
    assert mine["splits"]["dev"] == dev
    assert mine["privacy"] == theirs["privacy"]
    plots = sorted(p.relative_to(root / "participant" / "out") for p in (root / "participant" / "out" / "plots").rglob("*.png"))
    assert plots and plots == sorted(p.relative_to(root / "organiser") for p in (root / "organiser" / "plots").rglob("*.png"))


def _key(prepared: Path) -> list[dict[str, str]]:
    with open(prepared / "key.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_dev_kit_holds_nothing_of_test(organiser):
    _, prepared, _, _ = organiser
    key = _key(prepared)
    test_ids = {r["pseudonym"] for r in key if r["split"] == "test"}
    test_persons = {r["participant_id"] for r in key if r["split"] == "test"}
    kit = prepared / "kit-dev"
    ids = set((kit / "ids.txt").read_text().split())
    assert ids and not ids & test_ids
    assert {p.name[:-7] for p in (kit / "volumes").iterdir()} == ids
    text = " ".join(p.read_text() for p in kit.rglob("*") if p.is_file() and not p.name.endswith(".nii.gz")
                    and p.parent.parent.name != "photos")
    assert not any(i in text for i in test_ids) and "sub-" not in text  # no real person id, no test volume
    assert not any(pid in str(p) for p in kit.rglob("*") for pid in test_persons)


NIFTI_TEXT = ("descrip", "aux_file", "db_name", "intent_name")


def test_test_kit_links_no_two_ids(organiser):
    _, prepared, _, _ = organiser
    kit = prepared / "kit"
    key = _key(prepared)
    ids = (kit / "ids.txt").read_text().split()
    # file names: the id list, a README, and one volume per id under a random pseudonym
    assert {p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()} == \
        {"ids.txt", "README.md", *(f"volumes/{i}.nii.gz" for i in ids)}
    assert ids == sorted(ids) and all(re.fullmatch(r"v[0-9a-f]{10}", i) for i in ids)
    assert sorted(ids) != [r["pseudonym"] for r in sorted(key, key=lambda r: (r["participant_id"], r["session_id"]))]
    # contents: no json/tsv, no key, person or session named anywhere
    text = (kit / "README.md").read_text() + (kit / "ids.txt").read_text()
    persons = {r["participant_id"] for r in key} | {r["session_id"] for r in key}
    assert not any(word in text for word in ("target", "sub-", "ses-", *persons))
    # NIfTI headers: no description, file names or extensions, and no id, person or session in the header bytes
    for i in ids:
        img = nib.load(kit / "volumes" / f"{i}.nii.gz")
        assert all(img.header[f].tobytes().strip(b"\0 ") == b"" for f in NIFTI_TEXT)
        assert len(img.header.extensions) == 0
        with gzip.open(kit / "volumes" / f"{i}.nii.gz") as f:
            head = f.read(int(img.header["vox_offset"]))
        assert not any(w.encode() in head for w in ("sub-", "ses-", *ids, *persons))
