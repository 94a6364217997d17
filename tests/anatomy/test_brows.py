"""The face region grown up to the brows on the subject's anatomy (benchmark.anatomy.brows, FaceRegion.to_brows)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.anatomy.brows import BrowExtension, pole_height, union_box, upward
from benchmark.anatomy.template import FaceRegion, face_patch, register_template
from benchmark.core.errors import BenchmarkError
from tests.helpers import back_to_template_order


def test_upward_fills_every_column_above_its_lowest_face_voxel():
    face = np.zeros((2, 3, 6), np.float32)
    face[0, 1, 2] = 1.0
    face[1, 2, 4] = 0.5
    up = upward(face)
    assert up[0, 1].tolist() == [0, 0, 1, 1, 1, 1] and up[1, 2].tolist() == [0, 0, 0, 0, 0.5, 0.5]
    assert not up[:, 0].any()


def test_union_box():
    a, b = (slice(2, 5), slice(0, 3)), (slice(4, 9), slice(1, 2))
    assert union_box(a, b) == (slice(2, 9), slice(0, 3))
    assert union_box(None, b) == b and union_box(a, None) == a and union_box(None, None) is None


def test_far_is_the_distance_to_the_brains_sagittal_profile():
    """A box in front of an ellipsoidal brain: a voxel is far when its distance to the brain's profile (the
    same at every left-right position) is at least the margin; the profile is never farther than the brain."""
    g = np.indices((40, 80, 44)).astype(float)
    brain = ((g[0] - 20) / 12) ** 2 + ((g[1] - 25) / 16) ** 2 + ((g[2] - 22) / 13) ** 2 <= 1
    ext = BrowExtension(up=np.zeros((2, 2, 2), np.float32), voxel_matrix=np.eye(4), top=0.0, brain=brain,
                        zooms=np.array([1.0, 1.0, 1.0]), brain_margin_mm=10.0)
    box = (slice(0, 40), slice(35, 80), slice(0, 44))
    far = ext._far(box)
    assert (far == far[20:21]).all()  # extruded from ear to ear
    front = np.nonzero(far[20, :, 22])[0][0] + 35  # first far voxel straight in front of the brain's centre
    assert abs(front - (25 + 16 + 10)) <= 1
    distance = ndi.distance_transform_edt(~brain)[box]
    assert (distance[far] >= 10.0 - 1.0).all()


def test_no_brain_is_refused():
    with pytest.raises(BenchmarkError, match="no brain"):
        pole_height(np.zeros((4, 4, 4), bool), np.eye(4), name="vol-x")


def test_to_brows_covers_more_of_the_face_and_keeps_clear_of_the_brain(oblique_img):
    """On an oblique copy of the template: the region holds pydeface's, reaches higher on the facial
    midline (the brow ridge), never above the frontal pole + above_pole_mm, and every added voxel is at
    least brain_margin_mm from the subject's brain."""
    region = FaceRegion(to_brows=True, brain_margin_mm=12.0, above_pole_mm=10.0)
    patch = face_patch(oblique_img, region=region)
    plain = face_patch(oblique_img)
    face = np.zeros(oblique_img.shape, bool)
    face[patch.box] = patch.face > 0.5
    old = np.zeros(oblique_img.shape, bool)
    old[plain.box] = plain.face > 0.5
    assert not (old & ~face).any()
    added = face & ~old
    assert added.sum() > 0.05 * old.sum()
    brain = BrainMasker.default()(oblique_img)
    zooms = np.linalg.norm(oblique_img.affine[:3, :3], axis=0)
    assert ndi.distance_transform_edt(~brain, sampling=zooms)[added].min() >= 12.0 - 1.5
    # in the template's order (axis 2 up): on the facial midline the region reaches higher
    new_t, old_t = back_to_template_order(face), back_to_template_order(old)
    top = lambda m: np.nonzero(m[85:95, 200:].any((0, 1)))[0].max()  # noqa: E731
    assert top(new_t) >= top(old_t) + 5
    fit = register_template(oblique_img)
    heights = (np.argwhere(added) @ fit.voxel_matrix[:3, :3].T + fit.voxel_matrix[:3, 3])[:, 2]
    assert heights.max() <= pole_height(brain, fit.voxel_matrix) + 10.0 / 0.9765625 + 1.0
