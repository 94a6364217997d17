import numpy as np
import pytest
import scipy.ndimage as ndi

from benchmark.core.masks import bounding_box, dilate, fill_holes, largest_component, within_mm


def blobs(rng, shape, n):
    """A few smoothed-noise blobs: masks with holes, thin parts and several components."""
    field = ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
    return field > np.quantile(field, 1.0 - n)


@pytest.mark.parametrize("zooms", [(1.0, 1.0, 1.0), (1.0, 1.0, 2.0), (0.9, 1.2, 2.5), (2.0, 2.0, 2.0)])
@pytest.mark.parametrize("limit", [0.0, 3.0, 4.0, 7.3])  # whole multiples of the voxel sizes: ties at the limit
def test_within_mm_is_the_thresholded_distance_map(zooms, limit):
    rng = np.random.default_rng(int(10 * limit) + int(10 * sum(zooms)))
    shape = (40, 36, 30)
    mask = np.zeros(shape, bool)
    mask[8:22, 10:25, 9:17] = blobs(rng, (14, 15, 8), 0.3)
    distance = ndi.distance_transform_edt(~mask, sampling=zooms)
    np.testing.assert_array_equal(within_mm(mask, zooms, limit), distance <= limit)
    np.testing.assert_array_equal(within_mm(mask, zooms, limit, strict=True), distance < limit)
    where = np.zeros(shape, bool)
    where[20:35, 3:12, 14:29] = rng.random((15, 9, 15)) < 0.1
    box = bounding_box(where)
    expected = np.zeros(shape, bool)
    expected[box] = (distance <= limit)[box]
    np.testing.assert_array_equal(within_mm(mask, zooms, limit, where=where), expected)


def test_within_mm_of_nothing_or_asked_nowhere():
    mask = np.zeros((11, 11, 11), bool)
    assert not within_mm(mask, (1, 1, 1), 5.0).any()
    mask[5, 5, 5] = True
    assert within_mm(mask, (1, 1, 1), 5.0).sum() == 515  # the lattice points of a ball of radius 5
    assert not within_mm(mask, (1, 1, 1), 5.0, where=np.zeros_like(mask)).any()
    far = np.zeros_like(mask)
    far[0, 0, 0] = True  # 8.7 voxels away: asked, but nothing of the mask lies within reach
    assert not within_mm(mask, (1, 1, 1), 5.0, where=far).any()
    assert within_mm(mask, (1, 1, 1), 9.0, where=far)[0, 0, 0]


def test_bounding_box_grows_and_clips():
    mask = np.zeros((10, 8, 6), bool)
    mask[2:4, 5, 1:3] = True
    assert bounding_box(mask) == (slice(2, 4), slice(5, 6), slice(1, 3))
    assert bounding_box(mask, (1, 3, 2)) == (slice(1, 5), slice(2, 8), slice(0, 5))
    assert bounding_box(np.zeros((3, 3, 3), bool)) is None


@pytest.mark.parametrize("shape", [(30, 40, 20), (120, 90)])
def test_fast_morphology_matches_scipy(shape):
    rng = np.random.default_rng(3)
    field = ndi.gaussian_filter(rng.random(shape), 2)
    for q in (0.3, 0.6, 0.9):
        m = field > np.quantile(field, q)
        assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m))
        for k in (1, 3, 7):
            assert np.array_equal(dilate(m, k), ndi.binary_dilation(m, iterations=k))
        labels, n = ndi.label(m)  # face-connected, as largest_component
        assert n > 1
        expected = labels == 1 + np.argmax(np.bincount(labels.ravel())[1:])
        assert np.array_equal(largest_component(m), expected)
    assert not largest_component(np.zeros(shape, bool)).any()
