"""The volume-only attacks: ``shape`` (head surface after ICP to the template) and ``anatomy`` (brain image
in the template frame). Built by ``get_attack``; mri2mri only; invariant to where the head lies in the
scanner; and they tell a head from a changed one."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from benchmark.attacks import get_attack
from benchmark.attacks.base import Embedding
from benchmark.attacks._icp import NearestGrid, TrackedNearest, kabsch, trimmed_icp
from benchmark.attacks.volumetric import view_rotation
from benchmark.core.errors import BenchmarkError
from benchmark.scoring.score import _serves, privacy_summary
from tests.helpers import oblique_copy


def _stretched(img: nib.Nifti1Image, axis: int, factor: float) -> nib.Nifti1Image:
    """The same voxels with the head stretched along a RAS axis (another head's breadth or length)."""
    affine = img.affine.copy()
    affine[axis] *= factor
    return nib.Nifti1Image(np.asanyarray(img.dataobj), affine)


@pytest.mark.parametrize("name", ["shape", "anatomy"])
def test_built_by_name_and_mri2mri_only(name):
    attack = get_attack(name, use_cache=False)
    assert attack.name == name and attack.conditions == ("mri2mri",)
    assert _serves(attack, "mri2mri") and not _serves(attack, "photo2mri")
    with pytest.raises(BenchmarkError, match="photograph"):
        attack.embed_photo(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("option", [{"keep": 0.1}, {"polish_points": 0}, {"max_points": 0}, {"match_points": 0}])
def test_bad_option_is_refused(option):
    with pytest.raises(BenchmarkError, match=f"{next(iter(option))}="):
        get_attack("shape", **option)


def test_kabsch_and_icp_recover_a_rigid_motion():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(2000, 3)) * [60.0, 80.0, 70.0]
    r = view_rotation({"azimuth": 9.0, "elevation": -6.0})
    moved = (cloud - [3.0, -4.0, 5.0]) @ r
    rr, tt = kabsch(moved, cloud)
    assert np.allclose(moved @ rr.T + tt, cloud, atol=1e-6)
    ri, ti, rms = trimmed_icp(moved, cKDTree(cloud), keep=0.9, iterations=60)
    assert rms < 1.0 and np.allclose(moved @ ri.T + ti, cloud, atol=1.0)


def test_nearest_grid_finds_the_nearest_point_within_a_cell():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(1)
    direction = rng.normal(size=(20_000, 3))
    cloud = 80.0 * direction / np.linalg.norm(direction, axis=1, keepdims=True)  # a sphere's surface
    grid, tree = NearestGrid(cloud, spacing=1.5), cKDTree(cloud)
    queries = cloud[rng.choice(len(cloud), 5000)] + rng.normal(0.0, 5.0, (5000, 3))
    queries = np.vstack([queries, [[500.0, 0.0, 0.0], [0.0, -400.0, 30.0]]])  # far outside the grid
    (d_grid, i_grid), (d_exact, _) = grid.query(queries), tree.query(queries)
    assert np.allclose(d_grid, np.linalg.norm(queries - cloud[i_grid], axis=1))
    assert (d_grid >= d_exact - 1e-9).all() and np.median(d_grid - d_exact) < 0.1
    assert (d_grid - d_exact)[:-2].max() < 2 * np.sqrt(3) * 1.5
    ellipsoid = cloud * [0.75, 1.0, 0.85]  # no rotational symmetry: the motion is determined
    moved = (ellipsoid[::4] - [2.0, 3.0, -4.0]) @ view_rotation({"azimuth": 8.0, "elevation": 5.0})
    ri, ti, rms = trimmed_icp(moved, NearestGrid(ellipsoid), keep=0.9, iterations=60)
    assert rms < 2.5  # the grid's lookup stalls within about a cell of the optimum ...
    rp, tp, rms = trimmed_icp(moved @ ri.T + ti, cKDTree(ellipsoid), keep=0.9, iterations=300, tol=1e-9)
    assert rms < 0.01  # ... from where exact nearest points finish the fit
    assert np.allclose((moved @ ri.T + ti) @ rp.T + tp, ellipsoid[::4], atol=0.05)


def _surface(rng, n: int, noise: float) -> np.ndarray:
    """``n`` points near an ellipsoid's surface (a head's size, in mm)."""
    d = rng.normal(size=(n, 3))
    return 80.0 * d / np.linalg.norm(d, axis=1, keepdims=True) * [0.75, 1.0, 0.85] + rng.normal(0.0, noise, (n, 3))


def test_tracked_nearest_answers_as_the_tree_does_however_the_points_move():
    """Steps from 5 cm down to a micron, random and ICP-like, with points jumping past their candidates:
    every answer equals the k-d tree's, bit for bit, and most rows of the small steps are not asked."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(2)
    cloud = _surface(rng, 3000, 1.0)
    tree = cKDTree(cloud)
    asked = []

    class Counting:  # the tree, counting the rows asked
        data = tree.data

        def query(self, x, k=1):
            asked.append(len(x))
            return tree.query(x, k=k)

    tracked = TrackedNearest(Counting())
    x = _surface(rng, 1000, 6.0)
    for step in [50.0, 20.0, 5.0, 5.0, 1.0, 1.0, 0.3, 0.1, 0.1, 0.01, 1e-3, 1e-6, 30.0, 0.0]:
        x = x + rng.normal(0.0, step, x.shape)
        x[::97] = cloud[rng.choice(len(cloud), len(x[::97]))]  # some rows land on cloud points
        dist, idx = tracked.query(x)
        want_dist, want_idx = tree.query(x)
        assert np.array_equal(dist, want_dist) and np.array_equal(idx, want_idx), step
    assert asked[0] == len(x) and min(asked[1:]) < len(x) // 4  # small steps ask few rows
    for n in (1, 2, 4):  # a cloud of k points or fewer: every point a candidate, asked once
        small = cKDTree(cloud[:n])
        tracked = TrackedNearest(small)
        for step in (0.0, 10.0, 100.0):
            y = x[:50] + step
            assert all(np.array_equal(a, b) for a, b in zip(tracked.query(y), small.query(y)))


def test_trimmed_icp_on_tracked_nearest_points_is_the_trees_fit():
    """trimmed_icp gives the same (R, t, RMS), bit for bit, whether the k-d tree answers every query or
    :class:`TrackedNearest` does (shape's pairwise comparison and reference polish)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    for trial in range(12):
        target = _surface(rng, 3000, 1.0)
        other = _surface(rng, 3000, 1.0) * rng.uniform(0.9, 1.1, 3)  # another head
        moved = (other[::3] - rng.normal(0.0, 5.0, 3)) @ view_rotation(
            {"azimuth": rng.uniform(-15, 15), "elevation": rng.uniform(-10, 10)})
        tree = cKDTree(target)
        want = trimmed_icp(moved, tree, 0.7, 20, tol=0.01)
        got = trimmed_icp(moved, TrackedNearest(tree), 0.7, 20, tol=0.01)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2], trial


@pytest.mark.parametrize("name", ["shape", "anatomy"])
def test_invariant_to_the_scanner_frame_and_tells_a_changed_head(name, template_img, oblique_img):
    """The same head turned and shifted in another voxel order scores above a changed head (shape: the
    template itself is the reference, so a person is a stretched template)."""
    attack = get_attack(name, use_cache=False)
    if name == "shape":
        head = _stretched(template_img, 0, 1.06)
        heads = (head, oblique_copy(head), _stretched(template_img, 1, 1.06))
    else:
        heads = (template_img, oblique_img, _stretched(template_img, 1, 1.08))
    a, b, c = (attack.embed_volume(nib.as_closest_canonical(x)) for x in heads)
    same, other = attack.similarity(a, b), attack.similarity(a, c)
    if name == "shape":  # minus the RMS surface distance after the pairwise fit, mm
        assert same > -1.5 and same > other + 0.5, (same, other)
    else:
        assert same > 0.9, same
        assert same > other + 0.1, (same, other)


def test_shape_surface_ignores_an_intensity_offset(template_img):
    """A scan stored with an offset (its air at 1000, not 0) has the same head surface: the prepared
    volume's data and its level are both taken above the input's floor."""
    from benchmark.attacks.shape import head_surface

    data = np.asarray(template_img.dataobj, np.float32)
    plain = head_surface(template_img).points
    shifted = head_surface(nib.Nifti1Image(data + 1000.0, template_img.affine)).points
    assert abs(len(shifted) - len(plain)) <= 0.02 * len(plain), (len(shifted), len(plain))
    assert np.allclose(np.median(shifted, axis=0), np.median(plain, axis=0), atol=1.0)


def test_shape_compares_what_both_surfaces_have():
    """A trial that lacks part of the head (a removed face) and lies slightly turned and shifted (both
    surfaces come aligned to the template: the pairwise fit starts near) matches the enrollment's surface
    where it has one; a stretched head does not."""
    attack = get_attack("shape", use_cache=False)
    rng = np.random.default_rng(1)
    sphere = rng.normal(size=(3000, 3))
    head = sphere / np.linalg.norm(sphere, axis=1, keepdims=True) * [95.0, 75.0, 85.0]
    cut = head[head[:, 0] < 60.0]  # the front of the head removed
    turned = cut @ view_rotation({"azimuth": 1.5, "elevation": -1.0}).T + [1.0, -0.5, 0.5]
    other = head * [1.06, 0.97, 1.0]
    e = [Embedding(vector=x.ravel(), detected=True) for x in (head, turned, other)]
    same, different = attack.similarity(e[0], e[1]), attack.similarity(e[0], e[2])
    assert same > -1.0 and same > different + 1.0, (same, different)


def test_shape_scores_a_pair_once_per_process_and_options():
    """A pair compared again (another knowledge level, S-norm's cohort) gets the ICP's score without a new
    ICP; other match options compute their own."""
    from benchmark.attacks import shape

    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(2, 3000, 3)) * 80.0
    attack = get_attack("shape", use_cache=False)
    shape._SCORES.clear()
    first = attack.compare(u.ravel(), v.ravel())
    assert len(shape._SCORES) == 1
    assert attack.compare(u.ravel(), v.ravel()) == first and len(shape._SCORES) == 1
    assert attack.compare(v.ravel(), u.ravel()) != first  # the pair is ordered: trial aligned to enrollment
    loose = get_attack("shape", use_cache=False, match_keep=0.9)
    assert loose.compare(u.ravel(), v.ravel()) != first and len(shape._SCORES) == 3
    shape._SCORES.clear()
    assert attack.compare(u.ravel(), v.ravel()) == first  # computed afresh, the same


def test_privacy_summary_leaves_out_unranked_attacks():
    flat = {"mri2mri/anatomy/ignorant/eer": 0.0, "mri2mri/shape/ignorant/eer": 0.2,
            "mri2mri/arcface/ignorant/eer": 0.3, "mri2mri/anatomy/ignorant/linkability": 1.0,
            "mri2mri/shape/ignorant/linkability": 0.5}
    values, who = privacy_summary(flat, frozenset({"anatomy"}))
    assert values == {"privacy/worst_eer": 0.2, "privacy/worst_linkability": 0.5}
    assert who["worst_eer_attacker"] == "mri2mri/shape/ignorant"
    assert privacy_summary(flat)[0]["privacy/worst_eer"] == 0.0


@pytest.mark.realdata
def test_real_anatomy_ranks_every_mated_probe_first(real_scan_paths):
    """Every sub-A and sub-C scan's best own-person original outscores every other person's scan
    (sub-B and sub-D are impostors only). The full table over baselines: scripts/realdata_linkage.py."""
    from benchmark.data.volume import load_volume

    attack = get_attack("anatomy", use_cache=False)
    keys = sorted(real_scan_paths)
    emb = [attack.embed_volume(load_volume(real_scan_paths[k])) for k in keys]
    attack.fit(emb)
    person = [k.split("/")[0] for k in keys]
    for i, key in enumerate(keys):
        own = [attack.similarity(emb[j], emb[i]) for j in range(len(keys)) if j != i and person[j] == person[i]]
        if not own:
            continue
        others = [attack.similarity(emb[j], emb[i]) for j in range(len(keys)) if person[j] != person[i]]
        assert max(own) > max(others), (key, max(own), max(others))


@pytest.mark.realdata
def test_anatomy_places_the_brain_whatever_surrounds_it(real_scan_paths, masker):
    """The brain fit trusts nothing outside the brain: after ``erase`` (the head replaced by a fixed shell)
    and after skull stripping (the head removed), the template brain lands where it lands on the original
    scan, within 3 mm and 3 degrees (skull-stripped: 5 mm). The fit it replaces, started from the whole head's,
    missed by 12 mm after both."""
    from baselines.erase import Erase
    from benchmark.attacks.anatomy import brain_fit, polar_rotation
    from benchmark.data.volume import load_volume

    img = load_volume(real_scan_paths["sub-C/ses-2"])
    data = np.asarray(img.dataobj, dtype=np.float32)
    reference, _ = brain_fit(img, data)
    centre = np.array([0.0, -18.0, 18.0, 1.0])  # inside the template's brain (RAS mm)
    erased = nib.as_closest_canonical(Erase(masker=masker).anonymize(img))
    stripped = nib.Nifti1Image(np.where(masker(img), data, 0.0).astype(np.float32), img.affine)
    for name, other, limit_mm in (("erase", erased, 3.0), ("skull-stripped", stripped, 5.0)):
        fit, _ = brain_fit(other, np.asarray(other.dataobj, dtype=np.float32))
        shift = np.linalg.norm((np.linalg.inv(fit) @ centre - np.linalg.inv(reference) @ centre)[:3])
        r = polar_rotation(fit[:3, :3]) @ polar_rotation(reference[:3, :3]).T
        angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
        assert shift < limit_mm and angle < 3.0, (name, shift, angle)
