"""Registration of pydeface's template head onto a subject (benchmark.anatomy.template)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi

from benchmark.core.errors import BenchmarkError
import benchmark.anatomy.template as template_module
from benchmark.anatomy.template import (
    FaceRegion,
    RegistrationConfig,
    clear_memo,
    face_patch,
    keep_mask,
    load_template,
    register_template,
    resample_voxels,
    template_image,
    template_paths,
)
from tests.helpers import back_to_template_order, dice


def pydeface_face() -> np.ndarray:
    return load_template().keep < 0.5


def test_template_onto_itself_is_identity(template_img):
    fit = register_template(template_img)
    assert np.allclose(fit.world_matrix[:3, :3], np.eye(3), atol=0.03)
    assert np.allclose(fit.world_matrix[:3, 3], 0.0, atol=2.0)
    assert fit.template_on_subject.shape == template_img.shape
    assert np.array_equal(fit.facemask_on_subject.affine, template_img.affine)
    assert dice(fit.face(), pydeface_face()) >= 0.97


def test_oblique_copy_maps_the_face_onto_the_same_anatomy(oblique_img):
    fit = register_template(oblique_img)
    assert fit.facemask_on_subject.shape == oblique_img.shape
    assert np.array_equal(fit.facemask_on_subject.affine, oblique_img.affine)
    assert dice(back_to_template_order(fit.face()), pydeface_face()) >= 0.9
    # the fitted world map undoes the turn applied by oblique_copy
    turn = oblique_img.affine @ np.linalg.inv(template_image().affine @ _perm(oblique_img.shape))
    residual = fit.world_matrix @ turn
    assert np.allclose(residual[:3, :3], np.eye(3), atol=0.04)
    assert np.allclose(residual[:3, 3], 0.0, atol=3.0)


def _perm(shape_new) -> np.ndarray:
    n1 = shape_new[0]
    return np.array([[0, 0, 1, 0], [-1, 0, 0, n1 - 1], [0, 1, 0, 0], [0, 0, 0, 1.0]])


def test_face_box_holds_the_whole_face(template_img, oblique_img):
    for img in (template_img, oblique_img):
        fit = register_template(img)
        face = np.asarray(fit.facemask_on_subject.dataobj) > 0.01
        inside = np.zeros_like(face)
        inside[fit.face_box()] = True
        assert face.any() and not (face & ~inside).any()
        full = np.asarray(fit.facemask_on_subject.dataobj)
        assert np.allclose(fit.facemask_array(fit.face_box()), full[fit.face_box()], atol=1e-4)


def test_grown_face_region_covers_more_but_keeps_clear_of_the_brain(template_img):
    assert keep_mask(FaceRegion()) is load_template().keep  # no growth: pydeface's mask as shipped
    tpl = load_template()
    zooms = np.linalg.norm(tpl.affine[:3, :3], axis=0)
    region = FaceRegion(grow_mm=10.0, brain_margin_mm=12.0)
    grown, face = keep_mask(region) < 0.5, pydeface_face()
    assert not (face & ~grown).any()  # a superset of pydeface's face
    added = grown & ~face
    assert added.sum() > 0.1 * face.sum()
    # the growth is within grow_mm of pydeface's face and brain_margin_mm (less the edge) from the brain
    from benchmark.anatomy.template import template_brain

    assert ndi.distance_transform_edt(~face, sampling=zooms)[added].max() <= 10.0 + 1.5
    assert ndi.distance_transform_edt(~template_brain(), sampling=zooms)[added].min() >= 12.0 - 1.5
    # the brow ridge (above pydeface's cut on the facial midline) is face now
    midline = 90
    top = lambda m: np.nonzero(m[midline, 200:].any(0))[0].max()  # noqa: E731
    assert top(grown) >= top(face) + 5


def test_face_patch_cuts_the_face_box_out(oblique_img):
    region = FaceRegion(grow_mm=8.0)
    patch = face_patch(oblique_img, margin_mm=5.0, region=region)
    fit = register_template(oblique_img)
    assert patch.fit is fit  # memoised: one registration per volume
    assert patch.box == fit.face_box(margin_mm=5.0, region=region)
    assert patch.volume.dtype == np.float32 and patch.volume.shape == oblique_img.shape
    assert np.array_equal(patch.data, np.asarray(oblique_img.dataobj, np.float32)[patch.box])
    assert np.allclose(patch.face, fit.facemask_array(patch.box, region))
    assert np.allclose(patch.template, np.asarray(fit.template_on_subject.dataobj)[patch.box], atol=1e-4)
    assert np.allclose(patch.zooms, np.linalg.norm(oblique_img.affine[:3, :3], axis=0))
    pasted = patch.paste(np.zeros_like(patch.data))
    assert not pasted[patch.box].any()
    assert np.isclose(pasted.sum(dtype=np.float64) + patch.data.sum(dtype=np.float64), patch.volume.sum(dtype=np.float64))
    # grown, the face region holds pydeface's
    assert ((fit.facemask_array(patch.box) > 0.5) & ~(patch.face > 0.5)).sum() == 0


def test_resample_voxels_is_trilinear_like_scipy():
    rng = np.random.default_rng(0)
    src = rng.random((20, 24, 18)).astype(np.float32)
    vox = np.array([[0.9, 0.1, 0.0, 2.0], [-0.1, 0.95, 0.05, -3.0], [0.0, 0.02, 1.1, 1.0], [0, 0, 0, 1.0]])
    got = resample_voxels(src, vox, (22, 25, 12), edge="zeros", slab=5)
    ref = ndi.affine_transform(src, vox[:3, :3], vox[:3, 3], output_shape=(22, 25, 12), order=1,
                               mode="grid-constant", cval=0.0)
    assert np.abs(got - ref).max() < 1e-4
    got = resample_voxels(src, vox, (22, 25, 12), edge="border")
    ref = ndi.affine_transform(src, vox[:3, :3], vox[:3, 3], output_shape=(22, 25, 12), order=1, mode="nearest")
    assert np.abs(got - ref).max() < 1e-4


def test_anisotropic_real_scan(real_scan_paths):
    img = nib.load(real_scan_paths["sub-A/ses-supine"])
    assert img.shape[2] == 35  # 4.8 mm slices, PIR
    fit = register_template(img)
    data = np.asarray(img.dataobj, dtype=np.float32)
    tpl = np.asarray(fit.template_on_subject.dataobj)
    head = data > np.percentile(data, 60)
    assert np.corrcoef(data[head], tpl[head])[0, 1] > 0.5
    # the face is anterior and inferior of the head's centre (RAS world)
    world = lambda m: (img.affine @ np.r_[np.argwhere(m).mean(0), 1.0])[:3]  # noqa: E731
    face_c, head_c = world(fit.face()), world(head)
    assert face_c[1] > head_c[1] + 40 and face_c[2] < head_c[2]


def test_rejects_4d_and_empty_volumes():
    with pytest.raises(BenchmarkError, match="3D"):
        register_template(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)))
    with pytest.raises(BenchmarkError, match="registering the template head failed"):
        register_template(nib.Nifti1Image(np.zeros((40, 40, 40), np.int16), np.eye(4)))


def test_a_fit_from_the_disk_cache_equals_the_fit_computed(oblique_img, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE_DIR", str(tmp_path))
    computed = []
    register = template_module._register
    monkeypatch.setattr(template_module, "_register", lambda *a: computed.append(1) or register(*a))
    config = RegistrationConfig(iterations=(20, 20))
    clear_memo()
    fresh = register_template(oblique_img, config)
    clear_memo()  # as another process would: nothing in memory, the fit on disk
    again = register_template(oblique_img, config)
    assert len(computed) == 1 and again is not fresh and len(list(tmp_path.glob("registration/*.npz"))) == 1
    assert again.transform.GetParameters() == fresh.transform.GetParameters()
    assert again.transform.GetFixedParameters() == fresh.transform.GetFixedParameters()
    for name in ("world_matrix", "voxel_matrix", "affine"):
        assert np.array_equal(getattr(again, name), getattr(fresh, name)), name
    assert again.shape == fresh.shape and again.metric == fresh.metric
    assert np.array_equal(again.face(), fresh.face())
    clear_memo()
    register_template(oblique_img, RegistrationConfig(iterations=(20, 21)))  # another config: fitted afresh
    assert len(computed) == 2
