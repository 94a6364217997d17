"""Defacing baselines: one interface, the input grid exactly, the face changed and the brain kept."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi

from baselines import Baseline, available, get_baseline
from baselines.base import head_mask, otsu_threshold
from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.errors import BenchmarkError
from benchmark.anatomy.template import load_template, template_brain
from benchmark.anatomy.preservation import brain_preservation
from benchmark.data.synthetic import SyntheticCohort, generate_cohort
from tests.helpers import back_to_template_order, dice

NAMES = ["blur", "erase", "facemask", "none", "quickshear", "refacing"]
MASKED = ("erase", "quickshear")  # baselines built on a deepbet brain mask
TEMPLATE_BASED = ["blur", "facemask", "refacing"]
REAL = ["sub-A/ses-supine", "sub-A/ses-prone", "sub-A/ses-leftside", "sub-A/ses-rightside", "sub-B/ses-1"]


def anonymize_all(img: nib.Nifti1Image, masker: BrainMasker) -> dict[str, nib.Nifti1Image]:
    return {name: get_baseline(name, **({"masker": masker} if name in MASKED else {})).anonymize(img)
            for name in NAMES}


@pytest.fixture(scope="session")
def template_out(template_img, masker):  # noqa: F811
    return anonymize_all(template_img, masker)


@pytest.fixture(scope="session")
def oblique_out(oblique_img, masker):  # noqa: F811
    return anonymize_all(oblique_img, masker)


def assert_same_grid(img: nib.Nifti1Image, out: nib.Nifti1Image) -> None:
    assert out.shape == img.shape
    assert np.array_equal(out.affine, img.affine)
    assert out.get_data_dtype() == np.asanyarray(img.dataobj).dtype
    for field in ("dim", "pixdim", "qform_code", "sform_code", "srow_x", "srow_y", "srow_z", "xyzt_units"):
        assert np.array_equal(out.header[field], img.header[field]), field


def face_tissue() -> np.ndarray:
    """Head voxels of the template inside pydeface's face mask."""
    tpl = load_template()
    return (tpl.keep < 0.5) & (tpl.head > otsu_threshold(tpl.head))


def test_registry():
    assert available() == NAMES
    for name in NAMES:
        assert isinstance(get_baseline(name), Baseline)
    assert get_baseline("blur", sigma_mm=2.5).sigma_mm == 2.5
    assert get_baseline("facemask", **{"registration.seed": 7}).registration.seed == 7
    with pytest.raises(BenchmarkError, match="unknown baseline 'nope'"):
        get_baseline("nope")
    with pytest.raises(BenchmarkError, match="radii_mm needs three positive values"):
        get_baseline("erase", radii_mm=[80.0, 0.0, 90.0]).check()


def test_rejects_4d():
    img = nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.int16), np.eye(4))
    with pytest.raises(BenchmarkError, match="3D"):
        get_baseline("none").anonymize(img)


class NoBrain:
    def mask_image(self, img):
        return nib.Nifti1Image(self(img).astype(np.uint8), img.affine)

    def __call__(self, img):
        return np.zeros(img.shape, bool)


@pytest.mark.parametrize("name", MASKED)
def test_without_a_brain_says_so(name, tmp_path):
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.int16), np.eye(4)), tmp_path / "head.nii.gz")
    with pytest.raises(BenchmarkError, match="no brain") as info:
        get_baseline(name, masker=NoBrain()).anonymize(nib.load(tmp_path / "head.nii.gz"))
    assert "head.nii.gz" in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_input_grid_on_template_and_oblique_copy(name, template_img, oblique_img,  # noqa: F811
                                                  template_out, oblique_out, tmp_path):
    for img, out in ((template_img, template_out[name]), (oblique_img, oblique_out[name])):
        assert_same_grid(img, out)
    nib.save(template_out[name], tmp_path / "out.nii")
    assert np.array_equal(nib.load(tmp_path / "out.nii").affine, template_img.affine)


def test_none_is_identity_and_others_are_not(template_img, template_out):  # noqa: F811
    x = np.asanyarray(template_img.dataobj)
    assert np.array_equal(np.asanyarray(template_out["none"].dataobj), x)
    for name in set(NAMES) - {"none"}:
        assert not np.array_equal(np.asanyarray(template_out[name].dataobj), x), name


@pytest.mark.parametrize("name, min_removed", [("facemask", 0.95), ("quickshear", 0.3)])
def test_face_removed_brain_kept(name, min_removed, template_img, template_out, masker):  # noqa: F811
    out = np.asanyarray(template_out[name].dataobj)
    face = face_tissue()
    assert (out[face] == 0).mean() >= min_removed
    result = brain_preservation(template_img, template_out[name], masker=masker)
    assert result["brain_dice"] >= 0.98
    assert result["brain_changed_fraction"] == 0.0
    assert not result["failure"]


@pytest.fixture(scope="module")
def two_persons(tmp_path_factory) -> list[nib.Nifti1Image]:
    """One scan each of two synthetic persons (same scanner grid, different heads and poses)."""
    root = tmp_path_factory.mktemp("persons")
    generate_cohort(SyntheticCohort(n_persons=2, sessions=1, photos=0), root, progress=False)
    return [nib.load(next(root.glob(f"{pid}/ses-1/anat/*_T1w.nii.gz"))) for pid in ("sub-s0001", "sub-s0002")]


def _on_the_brain(img, out, masker, margin_mm) -> dict[str, np.ndarray]:
    """What an attacker who aligns heads on the brain's centroid sees: the volumes moved so that the centroid
    is at the grid's centre; ``shell``: the anonymised volume over its shell intensity; ``far``: the voxels
    clear of the brain and its kept margin; ``head``, ``shell_head``: the filled head masks before and after."""
    brain = masker(img)
    x, y = np.asarray(img.dataobj, np.float32), np.asarray(out.dataobj, np.float32)
    far = ndi.distance_transform_edt(~brain, sampling=img.header.get_zooms()) > margin_mm + 2.0
    move = (np.array(x.shape) - 1) / 2 - np.argwhere(brain).mean(axis=0)
    shell = ndi.shift(y / float(np.median(y[far & (y > 0)])), move, order=1)
    return {"shell": shell, "far": ndi.shift(far.astype(np.float32), move, order=1) > 0.5,
            "shell_head": ndi.binary_fill_holes(shell > 0.5),
            "head": ndi.shift(head_mask(x).astype(np.float32), move, order=1) > 0.5}


def test_erase_keeps_the_brain_and_gives_everyone_one_head(two_persons, masker):
    erase = get_baseline("erase", masker=masker)
    views = []
    for img in two_persons:
        out = erase.anonymize(img)
        result = brain_preservation(img, out, masker=masker)
        assert result["brain_dice"] >= 0.98 and result["brain_changed_fraction"] == 0.0, result
        views.append(_on_the_brain(img, out, masker, erase.margin_mm))
    a, b = views
    both = a["far"] & b["far"]
    assert both.sum() > 0.5 * min(a["far"].sum(), b["far"].sum())
    assert np.mean(np.abs(a["shell"][both] - b["shell"][both]) > 0.1) < 0.005  # one shell, up to its placement
    assert dice(a["shell_head"], b["shell_head"]) > 0.995 > dice(a["head"], b["head"])


def test_erase_leaves_nothing_of_the_head_under_its_surface(two_persons, masker):
    """Within 8 mm under the shell's surface (the renderer's reach on a 2 mm grid: smoothing, central
    differences and trilinear sampling) every voxel is the shell's: no skull or CSF shows through as a
    dent that the renderer shades, person by person."""
    erase = get_baseline("erase", masker=masker)
    for img in two_persons:
        out = np.asarray(erase.anonymize(img).dataobj, np.float32)
        brain = masker(img)
        centre = nib.affines.apply_affine(img.affine, np.argwhere(brain).mean(axis=0)) + np.asarray(erase.offset_mm)
        depth = erase.fitted_depth(img, brain, centre)
        band = depth < 8.0
        tissue = float(np.median(out[band & (depth > erase.edge_mm)]))
        assert np.abs(out[band] - tissue * erase.weight(depth[band])).max() <= 1.0 + 1e-3 * tissue


def test_erase_grows_a_shell_too_small_for_the_brain_and_refuses_a_far_too_small_one(two_persons, masker):
    img = two_persons[0]
    brain = masker(img)
    small = get_baseline("erase", masker=masker, radii_mm=[72.0, 95.0, 85.0])
    centre = nib.affines.apply_affine(img.affine, np.argwhere(brain).mean(axis=0)) + np.asarray(small.offset_mm)
    assert small.depth(img.affine, brain.shape, centre)[brain].min() < small.guard_mm  # it needs to grow
    assert small.fitted_depth(img, brain, centre)[brain].min() >= small.guard_mm
    out = np.asarray(small.anonymize(img).dataobj)
    assert brain_preservation(img, nib.Nifti1Image(out, img.affine), masker=masker)["brain_changed_fraction"] == 0.0
    with pytest.raises(BenchmarkError, match="does not fit"):
        get_baseline("erase", masker=masker, radii_mm=[40.0, 50.0, 45.0]).anonymize(img)


@pytest.mark.parametrize("name", ["blur", "refacing"])
def test_face_altered_brain_untouched(name, template_img, template_out, masker):  # noqa: F811
    x = np.asanyarray(template_img.dataobj)
    out = np.asanyarray(template_out[name].dataobj)
    face = face_tissue()
    if name == "blur":  # the band under the surface changes, deep tissue does not
        assert (out[face] != x[face]).mean() >= 0.2
    brain = masker(template_img)
    assert (out[brain] != x[brain]).mean() <= 0.001


def test_facemask_seals_its_cut():
    """A head (a ball of tissue) with a dark cavity the cut runs through: the cavity is raised to tissue
    level within seal depth of the cut and left as it is beyond; the air beside the head is not touched."""
    from baselines.facemask import seal_cut

    shape = (80, 80, 80)
    grid = np.indices(shape).transpose(1, 2, 3, 0) - 40.0
    r = np.linalg.norm(grid, axis=-1)
    x = np.where(r < 30, 100.0, 0.0).astype(np.float32)
    cavity = (np.linalg.norm(grid - [0, 0, 22], axis=-1) < 6) & (r < 30)
    x[cavity] = 10.0
    cut = grid[..., 2] > 20  # the front of the head and the air beyond it, through the cavity
    box = (slice(0, 80),) * 3
    out = x.copy()
    seal_cut(out, box, cut, np.ones(3), 3.0, 0.6)
    depth = 20.0 - grid[..., 2]  # mm behind the cut
    assert (out[cavity & ~cut & (depth < 2.5)] == 100.0).all()  # sealed
    assert (out[cavity & (depth > 3.5)] == 10.0).all()  # beyond the seal: kept
    assert (out[(r > 31) & ~cut] == 0.0).all()  # no tissue added outside the head
    assert np.array_equal(out[~cavity & (r < 30)], x[~cavity & (r < 30)])  # tissue never lowered


def test_oblique_copy_defaces_the_same_anatomy(template_out, oblique_out):
    x = np.asanyarray(template_out["none"].dataobj)
    for name in ("facemask", "quickshear", "blur"):
        changed = np.asanyarray(template_out[name].dataobj) != x
        changed_oblique = back_to_template_order(np.asanyarray(oblique_out[name].dataobj)) != x
        assert dice(changed, changed_oblique) >= 0.9, name


@pytest.mark.realdata
@pytest.mark.parametrize("scan", REAL)
def test_real_scans_input_grid_and_brain_kept(scan, real_scan_paths, masker):
    if scan not in real_scan_paths:
        pytest.skip(f"{scan} not in the real test scans")
    img = nib.load(real_scan_paths[scan])
    x = np.asanyarray(img.dataobj)
    brain = masker(img)
    for name, out in anonymize_all(img, masker).items():
        assert_same_grid(img, out)
        y = np.asanyarray(out.dataobj)
        assert np.array_equal(y, x) == (name == "none"), name
        assert (y[brain] != x[brain]).mean() <= 0.01, name


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("scan, name", [
    ("sub-A/ses-supine", "quickshear"), ("sub-A/ses-supine", "facemask"), ("sub-B/ses-1", "facemask"),
    # Quickshear's plane, fitted to a 3-year-old's brain, is nearly vertical: it takes the *first* edge
    # of the lower convex hull of the mask's sagittal profile, which on this child's rounded frontal pole
    # is a one-voxel step 5 voxels high, so it only grazes the nose and lips and leaves the eyes and
    # brow. With the renderer at 1 mm SCRFD still found a face (score about 0.52); on the 2 mm working
    # grid it does not. A marginal case: if it fails again, look at the detector score first.
    ("sub-B/ses-1", "quickshear"),
    # the registered pydeface mask stops under the brows of these real faces; FaceRegion.to_brows grows it;
    # facemask's unsealed cut (seal_mm=0) left the orbits and nasal cavity open on sub-B and sub-D, taken
    # for eyes and a nose (scores 0.55-0.56)
    *[(scan, name) for scan in ("sub-A/ses-prone", "sub-A/ses-rightside", "sub-C/ses-1", "sub-C/ses-2")
      for name in ("facemask", "blur")],
    ("sub-D/ses-1", "facemask"),
    ("sub-A/ses-supine", "blur"), ("sub-D/ses-1", "blur"),
])
def test_no_face_detected_after_defacing(scan, name, real_scan_paths, masker):
    from benchmark.attacks.models import SCRFDDetector, get_model, resolve_model
    from benchmark.render import render_volume

    detector = get_model(SCRFDDetector, resolve_model("scrfd_500m_bnkps.onnx"))

    def faces(img):
        rgb = render_volume(img).to_uint8_rgb()
        return detector.get(np.ascontiguousarray(rgb[..., ::-1]))

    if scan not in real_scan_paths:
        pytest.skip(f"{scan} not in the real test scans")
    img = nib.load(real_scan_paths[scan])
    assert faces(img), f"no face detected in the front-view render of the original {scan}"
    baseline = get_baseline(name, **({"masker": masker} if name == "quickshear" else {}))
    assert not faces(baseline.anonymize(img)), f"face still detected after {name} on {scan}"


@pytest.fixture(scope="module")
def unplaceable(template_img, tmp_path_factory) -> dict[str, object]:
    """Volumes where no template face region can be placed, as files (errors must name them)."""
    folder = tmp_path_factory.mktemp("unplaceable")
    x = np.asarray(template_img.dataobj, dtype=np.float32)
    face_front = int(np.nonzero((load_template().keep < 0.5).any(axis=(0, 2)))[0][0])  # first A-P index of the face
    g = np.indices((96, 96, 96)) - 47.5
    volumes = {
        "brain-only": (np.where(template_brain(), x, 0), template_img.affine),  # skull-stripped
        "face-cropped": (x[:, : face_front - 10], template_img.affine),  # the field of view ends before the face
        "ball": ((np.sqrt((g ** 2).sum(0)) < 40) * 500.0, np.diag([2.0, 2.0, 2.0, 1.0])),  # not a head
    }
    out = {}
    for name, (data, affine) in volumes.items():
        path = folder / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(np.ascontiguousarray(data, dtype=np.float32), affine), path)
        out[name] = path
    return out


@pytest.mark.parametrize("name", TEMPLATE_BASED)
@pytest.mark.parametrize("case, reason", [
    ("brain-only", "no face where the template's face lies|did not fit the head"),
    ("face-cropped", "face lies outside the field of view"),
    ("ball", "not a head"),
])
def test_unplaceable_face_region_raises_naming_the_volume(name, case, reason, unplaceable):
    img = nib.load(unplaceable[case])
    with pytest.raises(BenchmarkError, match=reason) as info:
        get_baseline(name).anonymize(img)
    assert f"{case}.nii.gz" in str(info.value) and "cannot place the template's face region" in str(info.value)


@pytest.mark.parametrize("name", TEMPLATE_BASED)
def test_template_baselines_record_their_registration_quality(name, template_img):
    quality = get_baseline(name).quality(template_img)
    assert set(quality) == {"head_dice", "structure", "face_in_view", "face_tissue"}
    assert quality["head_dice"] > 0.95 and quality["face_in_view"] == 1.0
    assert get_baseline("none").quality(template_img) == {}


def test_on_failure_is_checked():
    assert get_baseline("facemask", on_failure="copy").on_failure == "copy"
    with pytest.raises(BenchmarkError, match="on_failure"):
        get_baseline("facemask", on_failure="skip")
