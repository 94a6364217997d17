"""anonymize_kit: finished volumes are reused only while the cohort and the baseline are unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nibabel as nib
import pytest

from baselines import Baseline, get_baseline
from benchmark.cli import checked, compose, main
from benchmark.core.errors import BenchmarkError
from benchmark.data.prepare import prepare
from benchmark.submission.anonymize import anonymize_kit, baseline_dir
from benchmark.submission.format import SubmissionInfo, read_info, volume_path, write_info
from benchmark.submission.validate import ValidationConfig, validate_submission
from tests.helpers import tiny_cohort


@dataclass
class AddConstant(Baseline):
    """A stand-in defacing method whose output shows its parameter (tests the bookkeeping, not defacing)."""

    value: int = 1

    def deface(self, img):
        return np.asanyarray(img.dataobj) + self.value


def _prepared(tmp_path, n_persons, make=True):
    root = tmp_path / f"cohort{n_persons}"
    if make:
        tiny_cohort(root, n_persons=n_persons, sessions=2)
    cfg = checked(compose(["dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
                           "progress=false"]))
    return prepare(cfg, write_kit=True)


def test_finished_volumes_are_kept_only_while_the_stamp_matches(tmp_path):
    prepared = _prepared(tmp_path, 4)
    out = baseline_dir(tmp_path / "subs", "add")
    anonymize_kit(prepared, AddConstant(1), out, "add", 1 << 28, show=False)
    vid = prepared.ids()[0]
    first = volume_path(out, vid)
    original = np.asanyarray(nib.load(prepared.kit / "volumes" / f"{vid}.nii.gz").dataobj)
    assert np.array_equal(np.asanyarray(nib.load(first).dataobj), original + 1)
    mtime = first.stat().st_mtime_ns

    anonymize_kit(prepared, AddConstant(1), out, "add", 1 << 28, show=False)  # same stamp: resumed, kept
    assert first.stat().st_mtime_ns == mtime

    anonymize_kit(prepared, AddConstant(2), out, "add", 1 << 28, show=False)  # new parameter: redone
    assert np.array_equal(np.asanyarray(nib.load(volume_path(out, vid)).dataobj), original + 2)

    other = _prepared(tmp_path, 5)  # another cohort: no volume of the old one may stay (extra ids)
    anonymize_kit(other, AddConstant(2), out, "add", 1 << 28, show=False)
    assert sorted(p.name[:-7] for p in (out / "volumes").iterdir()) == sorted(other.ids())


def test_a_volume_left_unchanged_is_the_kit_files_own_bytes(tmp_path):
    """A method that keeps every voxel (none) writes the kit file itself, not a float32 re-encoding of it;
    a changed volume is written anew."""
    prepared = _prepared(tmp_path, 3)
    kept, changed = baseline_dir(tmp_path / "subs", "kept"), baseline_dir(tmp_path / "subs", "changed")
    anonymize_kit(prepared, AddConstant(0), kept, "kept", 1 << 28, show=False)
    anonymize_kit(prepared, AddConstant(1), changed, "changed", 1 << 28, show=False)
    for vid in prepared.ids():
        kit = (prepared.kit / "volumes" / f"{vid}.nii.gz").read_bytes()
        assert volume_path(kept, vid).read_bytes() == kit
        assert volume_path(changed, vid).read_bytes() != kit


def test_a_scan_edited_in_place_redoes_the_volumes(tmp_path):
    """Same config, same prepared folder, but a source scan changed: the kit and the baseline follow it."""
    prepared = _prepared(tmp_path, 4)
    out = baseline_dir(tmp_path / "subs", "add")
    anonymize_kit(prepared, AddConstant(1), out, "add", 1 << 28, show=False)
    v = prepared.splits.volumes[0]
    src = prepared.dataset.session(v.participant_id, v.session_id).path
    img = nib.load(src)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj) + 5, img.affine, img.header), src)
    again = _prepared(tmp_path, 4, make=False)
    assert again.root == prepared.root and again.fingerprint != prepared.fingerprint
    anonymize_kit(again, AddConstant(1), out, "add", 1 << 28, show=False)
    edited = np.asanyarray(nib.load(volume_path(out, v.pseudonym)).dataobj)
    assert np.array_equal(edited, np.asanyarray(nib.load(src).dataobj) + 1)


def _cohort_of_balls(tmp_path):
    """Three persons whose scans are tiny balls: no template baseline can place a face on them."""
    return tiny_cohort(tmp_path / "balls", n_persons=3, sessions=2)


def _anonymize(tmp_path, root, *extra):
    return main(["anonymize", "baseline=facemask", "dataset=bids", f"dataset.root={root}",
                 f"paths.prepared_dir={tmp_path / 'prep'}", f"paths.submissions_dir={tmp_path / 'subs'}",
                 "progress=false", *extra])


def test_anonymize_lists_every_volume_it_cannot_deface_and_exits_non_zero(tmp_path, capsys):
    root = _cohort_of_balls(tmp_path)
    assert _anonymize(tmp_path, root) == 2
    err = capsys.readouterr().err
    ids = (tmp_path / "prep").glob("*/kit/ids.txt").__next__().read_text().split()
    for vid in ids:  # one line per volume, with its reason
        assert any(line.startswith(f"error: {vid}: ") and "template" in line for line in err.splitlines()), vid
    assert f"facemask: {len(ids)} of {len(ids)} volumes could not be anonymised" in err
    assert not (tmp_path / "subs" / "baseline-facemask" / "submission.yaml").exists()  # no submission


def test_on_failure_copy_submits_marked_copies(tmp_path, capsys):
    root = _cohort_of_balls(tmp_path)
    assert _anonymize(tmp_path, root, "baseline.on_failure=copy") == 0, capsys.readouterr().err
    out = tmp_path / "subs" / "baseline-facemask"
    info = read_info(out)
    kit = next((tmp_path / "prep").glob("*/kit"))
    ids = (kit / "ids.txt").read_text().split()
    assert sorted(info.copied) == sorted(ids) and all("template" in r for r in info.copied.values())
    for vid in ids:
        assert volume_path(out, vid).read_bytes() == (kit / "volumes" / f"{vid}.nii.gz").read_bytes()
    report = validate_submission(out, kit, ValidationConfig())
    assert report.ok and not report.warnings


def test_quality_is_recorded_per_volume_and_failures_kept_apart(tmp_path, template_img):
    """A cohort of template heads (2 mm) and one ball: quality for the heads, the ball copied, and a
    rerun with on_failure=error after a copy redoes the stamp (a copy is never passed off as defaced)."""
    root = tmp_path / "heads"
    x = np.asarray(template_img.dataobj, dtype=np.float32)[::2, ::2, ::2]
    affine = template_img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    scans = {"sub-h1/ses-1": x, "sub-h1/ses-2": np.roll(x, 3, axis=0), "sub-h2/ses-1": np.flip(x, 0).copy()}
    for name, data in scans.items():
        pid, ses = name.split("/")
        (root / pid / ses / "anat").mkdir(parents=True)
        nib.save(nib.Nifti1Image(data, affine), root / pid / ses / "anat" / f"{pid}_{ses}_T1w.nii.gz")
    g = np.indices((40, 40, 40)) - 19.5
    (root / "sub-h3" / "ses-1" / "anat").mkdir(parents=True)
    nib.save(nib.Nifti1Image((np.sqrt((g ** 2).sum(0)) < 15) * 500.0, np.diag([4.0, 4.0, 4.0, 1.0])),
             root / "sub-h3" / "ses-1" / "anat" / "sub-h3_ses-1_T1w.nii.gz")
    (root / "participants.tsv").write_text("participant_id\tage\tsex\nsub-h1\t30\tF\nsub-h2\t40\tM\nsub-h3\tn/a\tn/a\n")
    cfg = checked(compose(["dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
                           "progress=false"]))
    prepared = prepare(cfg, write_kit=True)
    ball = next(v.pseudonym for v in prepared.splits.volumes if v.participant_id == "sub-h3")
    out = baseline_dir(tmp_path / "subs", "facemask")
    anonymize_kit(prepared, get_baseline("facemask", on_failure="copy"), out, "facemask", 1 << 28, show=False)
    info = read_info(out)
    assert list(info.copied) == [ball] and "not a head" in info.copied[ball]
    assert sorted(info.quality) == sorted(set(prepared.ids()) - {ball})
    assert all(q["head_dice"] > 0.9 and q["face_in_view"] > 0.9 for q in info.quality.values()), info.quality
    with pytest.raises(BenchmarkError, match="1 of 4 volumes could not be anonymised"):
        anonymize_kit(prepared, get_baseline("facemask"), out, "facemask", 1 << 28, show=False)
    assert not volume_path(out, ball).exists()  # the copy is gone with the copy stamp


def test_submission_yaml_is_the_same_bytes_whatever_order_its_figures_came_in(tmp_path):
    """The file enters the scored results' cache key: a warm run that reads the per-volume figures back from
    disk (keys sorted) must write what the cold run wrote from fresh ones (keys as computed)."""
    fresh = {"v2": {"metric": -0.5, "head_dice": 0.98}, "v1": {"structure": 0.4, "metric": -0.6}}
    stored = {vid: dict(sorted(q.items())) for vid, q in sorted(fresh.items())}
    paths = []
    for name, quality in (("a", fresh), ("b", stored)):
        (tmp_path / name).mkdir()
        paths.append(write_info(tmp_path / name, SubmissionInfo("t", "s", "d", copied={"v9": "x", "v3": "y"},
                                                                quality=quality)))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert read_info(tmp_path / "a").quality == fresh
