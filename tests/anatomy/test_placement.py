"""The registration-quality figures that decide whether a template face region can be placed."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from benchmark.anatomy.brainmask import DEEPBET_SHA256, deepbet_model_files
from benchmark.anatomy.placement import PlacementCheck, measure_placement, placed_face_patch
from benchmark.anatomy.template import register_template
from benchmark.core.errors import BenchmarkError
from tests.helpers import oblique_copy


def test_the_template_and_its_oblique_copy_are_placed(template_img, oblique_img):
    for img in (template_img, oblique_img):
        p = measure_placement(register_template(img), img)
        assert p.head_dice > 0.95 and p.structure > 0.5 and p.face_in_view == 1.0
        assert 0.9 < p.face_tissue < 1.1
        assert p.problem(PlacementCheck()) is None


def test_each_threshold_is_the_one_that_refuses(template_img):
    p = measure_placement(register_template(template_img), template_img)
    for field, pattern in (("min_face_in_view", "outside the field of view"), ("min_structure", "not a head"),
                           ("min_head_dice", "did not fit"), ("min_face_tissue", "no face where")):
        check = PlacementCheck(**{field: 2.0})
        assert pattern in p.problem(check)
        with pytest.raises(BenchmarkError, match=pattern):
            placed_face_patch(template_img, check=check, name="vol-x")


def test_noise_is_not_a_head():
    img = nib.Nifti1Image(np.random.default_rng(0).random((80, 80, 80)).astype(np.float32), np.diag([2.5] * 3 + [1]))
    with pytest.raises(BenchmarkError, match="vol-noise: cannot place .*(not a head|did not fit)"):
        placed_face_patch(img, name="vol-noise")


@pytest.mark.realdata
def test_every_shared_real_scan_is_placed(real_scan_paths):
    """Each real head, whatever its scanner, voxels or storage order, passes the default check; so does a
    copy turned and re-stored in another voxel order."""
    for name, path in real_scan_paths.items():
        img = nib.load(path)
        for candidate in (img, oblique_copy(img)):
            p = measure_placement(register_template(candidate), candidate)
            assert p.problem(PlacementCheck()) is None, (name, p)


def test_deepbet_weights_are_pinned(monkeypatch):
    files = deepbet_model_files()
    assert set(files) == set(DEEPBET_SHA256) and all(p.is_file() for p in files.values())
    monkeypatch.setitem(DEEPBET_SHA256, "model.pt", "0" * 64)
    with pytest.raises(BenchmarkError, match="model.pt: deepbet weights have SHA-256"):
        deepbet_model_files()
