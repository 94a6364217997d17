"""The head frame (centre, forward, up) is one frame for one head: the same, within CENTRE_MM and
ANGLE_DEG, for the scan re-saved in another voxel order or on FreeSurfer's conformed grid, with its
intensities scaled or offset, with noise, and turned 25-30 degrees about each axis (resampled)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from benchmark.anatomy.template import template_paths
from benchmark.data.volume import load_volume
from benchmark.render import estimate_pose, surface_threshold
from tests.helpers import as_loaded, frame_difference, head_variants

CENTRE_MM = 5.0  # a few mm: a fraction of the 2 mm working grid's voxels plus the surface's wobble
ANGLE_DEG = 5.0
VARIANTS = ["lia256", "pir", "x0.01", "x100", "uint16+1000", "noise5%", "rotLR25", "rotAP-25", "rotSI30"]
# sub-A's side-lying sessions are cut by the field of view; turned and resampled onto a larger grid, the
# cut becomes padding inside the grid, which the estimator cannot tell from air (it knows the field of
# view from the grid's edges only), and the reference match locks about 30 degrees off (known, open).
KNOWN = {("sub-A/ses-leftside", "rotLR25"), ("sub-A/ses-leftside", "rotAP-25"),
         ("sub-A/ses-rightside", "rotLR25"), ("sub-A/ses-rightside", "rotAP-25"),
         # Rician noise of 5% of the 95th percentile raises the threshold from about 78 to 118 and the
         # dim scalp at this reconstruction's vertex drops below it: the crown, hence the centre, moves
         # down 5.2 mm (the axes stay within 1 degree) (known, open)
         ("sub-C/ses-2", "noise5%")}


def assert_same_frame(a, b, world, what: str) -> None:
    dc, df, du = frame_difference(a, b, world)
    assert dc <= CENTRE_MM and df <= ANGLE_DEG and du <= ANGLE_DEG, (
        f"{what}: centre {dc:.1f} mm, forward {df:.1f} deg, up {du:.1f} deg apart")


@pytest.fixture(scope="module")
def template_head():
    img = nib.load(template_paths()[0])
    return img, estimate_pose(as_loaded(img))


@pytest.mark.parametrize("variant", VARIANTS)
def test_template_frame_is_invariant(template_head, variant):
    img, pose = template_head
    copy, world = head_variants(img, [variant])[variant]
    assert_same_frame(pose, estimate_pose(as_loaded(copy)), world, f"template, {variant}")


def test_threshold_follows_the_intensity_scale_and_offset():
    rng = np.random.default_rng(0)
    air = np.abs(rng.normal(0.0, 3.0, 50_000))
    tissue = rng.normal(300.0, 60.0, 30_000)
    data = np.concatenate([air, tissue, np.zeros(40_000)])  # zero padding: a third of the grid
    thr = surface_threshold(data)
    assert 10.0 < thr < 200.0
    assert surface_threshold(100.0 * data) == pytest.approx(100.0 * thr, rel=1e-6)
    assert surface_threshold(data + 1000.0) == pytest.approx(thr + 1000.0, rel=1e-6)
    # the share of padding does not move it
    assert surface_threshold(np.concatenate([data, np.zeros(200_000)])) == pytest.approx(thr, rel=1e-6)
    # air masked to zero (no noise left): the cut lies between the zeros and the tissue
    masked = np.concatenate([np.zeros(50_000), tissue])
    assert 0.0 < surface_threshold(masked) < float(tissue.min())


@pytest.fixture(scope="module")
def real_poses(real_scan_paths):
    return {k: estimate_pose(load_volume(p)) for k, p in real_scan_paths.items()}


REAL = ["sub-A/ses-supine", "sub-A/ses-prone", "sub-A/ses-leftside", "sub-A/ses-rightside", "sub-B/ses-1",
        "sub-C/ses-1", "sub-C/ses-2", "sub-D/ses-1"]


@pytest.mark.realdata
@pytest.mark.parametrize("scan", REAL)
def test_real_frame_is_invariant(scan, real_scan_paths, real_poses):
    if scan not in real_scan_paths:
        pytest.skip(f"{scan} not in the real test scans")
    img = nib.load(str(real_scan_paths[scan]))
    failures = []
    for variant, (copy, world) in head_variants(img, VARIANTS).items():
        dc, df, du = frame_difference(real_poses[scan], estimate_pose(as_loaded(copy)), world)
        ok = dc <= CENTRE_MM and df <= ANGLE_DEG and du <= ANGLE_DEG
        if ok == ((scan, variant) in KNOWN):
            failures.append(f"{variant}: centre {dc:.1f} mm, forward {df:.1f} deg, up {du:.1f} deg"
                            + (" (listed as a known failure: remove it from KNOWN)" if ok else ""))
    assert not failures, f"{scan}: " + "; ".join(failures)


@pytest.mark.realdata
def test_real_reconstructions_of_one_acquisition_share_a_frame(real_poses):
    """sub-C's two sessions are one acquisition reconstructed twice (same grid): one frame."""
    if not {"sub-C/ses-1", "sub-C/ses-2"} <= set(real_poses):
        pytest.skip("sub-C's two sessions not in the real test scans")
    assert_same_frame(real_poses["sub-C/ses-1"], real_poses["sub-C/ses-2"], np.eye(4), "sub-C ses-1 vs ses-2")
