"""anonymize_kit: finished volumes are reused only while the cohort and the baseline are unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import nibabel as nib

from baselines import Baseline
from benchmark.submission.anonymize import anonymize_kit, baseline_dir
from benchmark.cli import checked, compose
from benchmark.data.prepare import prepare
from benchmark.submission.format import volume_path
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


def test_a_scan_edited_in_place_redoes_the_volumes(tmp_path):
    """Same config, same prepared folder, but a source scan changed: the kit and the baseline follow it."""
    prepared = _prepared(tmp_path, 4)
    out = baseline_dir(tmp_path / "subs", "add")
    anonymize_kit(prepared, AddConstant(1), out, "add", 1 << 28, show=False)
    v = prepared.splits.volumes[0]
    src = prepared.dataset.session(v.participant_id, v.session_id).t1w
    img = nib.load(src)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj) + 5, img.affine, img.header), src)
    again = _prepared(tmp_path, 4, make=False)
    assert again.root == prepared.root and again.fingerprint != prepared.fingerprint
    anonymize_kit(again, AddConstant(1), out, "add", 1 << 28, show=False)
    edited = np.asanyarray(nib.load(volume_path(out, v.pseudonym)).dataobj)
    assert np.array_equal(edited, np.asanyarray(nib.load(src).dataobj) + 1)
