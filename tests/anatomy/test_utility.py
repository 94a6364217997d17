"""Brain preservation figures (benchmark.anatomy.preservation) and the cached deepbet masker (benchmark.anatomy.brainmask)."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.anatomy.preservation import BRAIN_MARGIN_MM, PSNR_CAP_DB, brain_preservation, changes_near, summarise


class ThresholdMasker:
    """Stand-in for deepbet: brain = voxels above 50."""

    def __call__(self, img, *, cached=True):
        return np.asarray(img.dataobj) > 50


class CountingMasker(ThresholdMasker):
    """The threshold stand-in, counting the volumes it masks."""

    def __init__(self):
        self.seen = []

    def __call__(self, img, *, cached=True):
        self.seen.append(np.asarray(img.dataobj).copy())
        return super().__call__(img, cached=cached)


def volume(data, zooms=(2.0, 2.0, 2.0)):
    return nib.Nifti1Image(np.asarray(data, dtype=np.int16), np.diag([*zooms, 1.0]))


def test_figures_by_hand():
    a = np.zeros((10, 10, 10), np.int16)
    a[2:8, 2:8, 2:8] = 100  # 216 brain voxels of 8 mm^3
    b = a.copy()
    b[2, 2:8, 2:8] = 0  # 36 brain voxels removed
    b[3, 3, 3] = 90  # one more changed, still brain
    r = brain_preservation(volume(a), volume(b), masker=ThresholdMasker())
    assert r["brain_dice"] == pytest.approx(2 * 180 / (216 + 180))
    assert r["brain_changed_fraction"] == pytest.approx(37 / 216)
    assert r["tiv_original_ml"] == pytest.approx(216 * 8 / 1000)
    assert r["tiv_change_ml"] == pytest.approx(-36 * 8 / 1000)
    assert r["tiv_change_fraction"] == pytest.approx(-36 / 216)
    mse = (36 * 100**2 + 10**2) / 216
    assert r["brain_psnr_db"] == pytest.approx(10 * math.log10(100**2 / mse))
    assert r["failure"] is True


def test_identical_volumes():
    a = np.zeros((8, 8, 8), np.int16)
    a[2:6, 2:6, 2:6] = 100
    r = brain_preservation(volume(a), volume(a.copy()), masker=ThresholdMasker())
    assert r["brain_dice"] == 1.0 and r["brain_changed_fraction"] == 0.0 and r["tiv_change_ml"] == 0.0
    assert r["brain_psnr_db"] == PSNR_CAP_DB and r["failure"] is False


def test_failure_from_changed_voxels_alone():
    a = np.zeros((10, 10, 10), np.int16)
    a[1:9, 1:9, 1:9] = 100  # 512 voxels; change 6 of them (> 1%) without leaving the mask
    b = a.copy()
    b[4, 4, 1:7] = 120
    r = brain_preservation(volume(a), volume(b), masker=ThresholdMasker())
    assert r["brain_dice"] == 1.0 and r["failure"] is True


def test_grid_mismatch_and_paths(tmp_path):
    a = np.zeros((8, 8, 8), np.int16)
    a[2:6, 2:6, 2:6] = 100
    nib.save(volume(a), tmp_path / "a.nii.gz")
    nib.save(volume(a, zooms=(1.0, 2.0, 2.0)), tmp_path / "b.nii.gz")
    with pytest.raises(BenchmarkError, match="b.nii.gz: anonymised volume is not on the original's grid"):
        brain_preservation(tmp_path / "a.nii.gz", tmp_path / "b.nii.gz", masker=ThresholdMasker())
    same = brain_preservation(tmp_path / "a.nii.gz", str(tmp_path / "a.nii.gz"), masker=ThresholdMasker())
    assert same["brain_dice"] == 1.0


def test_summarise():
    rows = [
        {"brain_dice": 1.0, "brain_changed_fraction": 0.0, "tiv_change_ml": 0.5, "tiv_change_fraction": 0.001,
         "brain_psnr_db": 100.0, "failure": False},
        {"brain_dice": 0.9, "brain_changed_fraction": 0.2, "tiv_change_ml": -3.0, "tiv_change_fraction": -0.01,
         "brain_psnr_db": 30.0, "failure": True},
    ]
    s = summarise(rows)
    assert s["n"] == 2 and s["failure_rate"] == 0.5
    assert s["brain_dice_mean"] == pytest.approx(0.95) and s["brain_dice_worst"] == 0.9
    assert s["brain_changed_fraction_worst"] == 0.2
    assert s["tiv_change_ml_worst"] == -3.0 and s["brain_psnr_db_worst"] == 30.0
    assert summarise([]) == {"n": 0}


def test_deepbet_mask_of_the_template_is_cached(template_img, masker):  # noqa: F811
    before = masker.computed
    mask = masker(template_img)
    assert mask.shape == template_img.shape and mask.dtype == bool
    assert 1100 < mask.sum() * np.prod(template_img.header.get_zooms()) / 1000 < 1700  # mL, an adult brain
    assert masker.computed <= before + 1
    hits = masker.cache.hits
    assert np.array_equal(masker(template_img), mask)
    assert masker.computed <= before + 1 and masker.cache.hits == hits + 1


class StubBet:
    """deepbet's interface without the network: 'brain' = bright voxels of the canonical (RAS) array."""

    def __init__(self):
        self.seen = None

    def probability(self, x, no_gpu=True, cache=None):  # stands in for brainmask._probability: (probability, bbox)
        self.seen = x.copy()
        return (x > 50).astype(np.float32), tuple(slice(0, n) for n in x.shape)

    def postprocess(self, mask, n_dilate=0):
        return mask


def test_masks_come_back_in_the_input_voxel_order(monkeypatch, tmp_path):
    stub = StubBet()
    monkeypatch.setattr("benchmark.anatomy.brainmask._deepbet", lambda no_gpu: stub)
    monkeypatch.setattr("benchmark.anatomy.brainmask._probability", stub.probability)
    rng = np.random.default_rng(0)
    data = (rng.random((6, 7, 8)) * 100).astype(np.int16)
    ras = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    # the same voxels stored P-I-R with a flipped axis: new[a, b, c] = old[c, n1 - 1 - a, n2 - 1 - b]
    new = np.ascontiguousarray(data[:, ::-1, ::-1].transpose(1, 2, 0))
    perm = np.array([[0, 0, 1, 0], [-1, 0, 0, 6], [0, -1, 0, 7], [0, 0, 0, 1.0]])
    pir = nib.Nifti1Image(new, ras.affine @ perm)
    masker = BrainMasker(cache=DiskCache(tmp_path))
    m_pir = masker(pir)
    assert np.array_equal(stub.seen, data)  # deepbet saw the RAS array
    assert np.array_equal(m_pir, new > 50)
    assert np.array_equal(masker(pir), m_pir) and masker.computed == 1 and masker.cache.hits == 1
    # the RAS copy holds the same canonical array: same cache entry, mask in its own voxel order
    assert np.array_equal(masker(ras), data > 50) and masker.computed == 1 and masker.cache.hits == 2
    assert np.array_equal(masker(pir, cached=False), m_pir) and masker.computed == 2


def brain_and_face(shape=(40, 40, 40)):
    a = np.zeros(shape, np.int16)
    a[10:30, 10:30, 15:35] = 100  # brain (above 50)
    a[2:8, 10:30, 2:10] = 30  # 'face' tissue, below the threshold: not brain
    return a


@pytest.mark.parametrize("zooms", [(2.0, 2.0, 2.0), (1.0, 1.0, 4.0)])
def test_the_original_mask_stands_when_nothing_near_the_brain_changed(zooms):
    a = brain_and_face()
    b = a.copy()
    b[2:8, 10:30, 2:10] = 0  # the face removed, > 10 mm from the brain on either grid
    masker = CountingMasker()
    r = brain_preservation(volume(a, zooms), volume(b, zooms), masker=masker)
    assert len(masker.seen) == 1 and np.array_equal(masker.seen[0], a)  # deepbet ran on the original only
    assert r["brain_dice"] == 1.0 and r["tiv_change_ml"] == 0.0 and r["brain_changed_fraction"] == 0.0


def test_a_change_within_the_margin_runs_the_extractor_on_the_anonymised_volume():
    a = brain_and_face()
    b = a.copy()
    b[9, 12, 20] = 99  # one voxel beside the brain (2 mm away), itself no brain
    masker = CountingMasker()
    r = brain_preservation(volume(a), volume(b), masker=masker)
    assert len(masker.seen) == 2 and np.array_equal(masker.seen[1], b)
    assert r["brain_dice"] < 1.0 and r["tiv_change_ml"] == pytest.approx(8 / 1000)


def test_changes_near_measures_millimetres_from_the_mask():
    mask = np.zeros((40, 40, 40), bool)
    mask[10:20, 10:20, 10:20] = True
    for offset, zooms, near in [(5, (2.0, 2.0, 2.0), True), (6, (2.0, 2.0, 2.0), False),
                                (10, (1.0, 1.0, 1.0), True), (11, (1.0, 1.0, 1.0), False)]:
        changed = np.zeros_like(mask)
        changed[19 + offset, 15, 15] = True  # `offset` voxels beyond the mask's last slice
        assert changes_near(mask, changed, np.array(zooms), BRAIN_MARGIN_MM) is near, (offset, zooms)
    assert changes_near(mask, np.zeros_like(mask), np.ones(3), BRAIN_MARGIN_MM) is False
    assert changes_near(mask, mask.copy(), np.ones(3), BRAIN_MARGIN_MM) is True
