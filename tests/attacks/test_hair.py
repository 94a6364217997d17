"""Hair removal on photographs (benchmark.attacks.hair, attack.photo_hair): the mask finds the synthetic
photographs' painted hair, the fill brings them closer to the hairless person, the option is checked."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from benchmark.attacks import get_attack
from benchmark.attacks.hair import hair_regions, remove_hair
from benchmark.core.errors import BenchmarkError
import benchmark.data.synthetic as syn

# small photographs; the first bearded person of this configuration
CFG = syn.SyntheticCohort(n_persons=40, photo_size=160, photo_voxel_size=2.0)


@pytest.fixture(scope="module")
def attack():
    return get_attack("arcface", use_cache=False, photo_hair="remove").prepare()


@pytest.fixture(scope="module")
def bearded():
    index = next(i for i in range(CFG.n_persons) if syn.draw_person(CFG, i).beard)
    return syn.photo_pair(CFG, index, 0)


@pytest.mark.slow
def test_mask_finds_the_beard_and_the_fill_approaches_the_hairless_face(attack, bearded):
    photo, hairless, truth = bearded
    assert truth.sum() > 200  # the painted beard is visible
    got = attack.hairless(photo)
    precision = (got.mask & truth).sum() / max(got.mask.sum(), 1)
    recall = (got.mask & truth).sum() / truth.sum()
    assert precision > 0.4 and recall > 0.4, (precision, recall)
    before = np.abs(photo.astype(float) - hairless)[truth].mean()
    after = np.abs(got.image.astype(float) - hairless)[truth].mean()
    assert after < before
    far = ~ndi.binary_dilation(got.mask, iterations=6)  # beyond the mask's feathered edge nothing moves
    assert np.array_equal(got.image[far], photo[far])


@pytest.mark.slow
def test_photo_hair_option_changes_the_embedding_and_records_the_share(attack, bearded):
    photo = bearded[0]
    kept = get_attack("arcface", use_cache=False).embed_photo(photo)
    removed = attack.embed_photo(photo)
    assert 0.0 < removed.info["hair_fraction"] < 0.5
    assert "hair_fraction" not in kept.info
    assert not np.allclose(kept.vector, removed.vector)


def test_regions_exclude_the_features_and_lie_where_hair_grows():
    """On a face laid out like dlib's 68 points (a frontal face of eye distance 40 px), the beard region
    is below the nose, the scalp region above the brows, and neither covers eyes or lips."""
    lm = _frontal_landmarks()
    lower, scalp = hair_regions((200, 200), lm)
    yy, xx = np.mgrid[0:200, 0:200]
    inside = np.abs(xx - 100) < 0.9 * (lm[16, 0] - lm[0, 0]) / 2  # temples aside, within the face's width
    assert lower.any() and scalp.any()
    assert yy[lower].min() >= lm[31:36, 1].mean() - 1 and yy[scalp & inside].max() <= lm[17:27, 1].mean() + 1
    for idx in (range(36, 42), range(42, 48), range(48, 60)):
        x, y = np.round(lm[list(idx)].mean(0)).astype(int)
        assert not lower[y, x] and not scalp[y, x]


def test_bad_option_and_landmarks_are_named():
    with pytest.raises(BenchmarkError, match="photo_hair"):
        get_attack("arcface", use_cache=False, photo_hair="shave")
    with pytest.raises(BenchmarkError, match="68 finite landmarks"):
        remove_hair(np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)))


def _frontal_landmarks() -> np.ndarray:
    """A schematic frontal face in dlib's 68-point order, centred in a 200 px image (eyes 40 px apart)."""
    t = np.linspace(-1, 1, 17)
    jaw = np.stack([100 + 62 * t, 95 + 60 * np.sqrt(1 - 0.9 * t ** 2) * (np.abs(t) < 1) + 0 * t], 1)
    jaw[:, 1] = 90 + 65 * np.cos(t * np.pi / 2.2)
    brows = np.concatenate([np.stack([np.linspace(62, 92, 5), np.full(5, 68.0)], 1),
                            np.stack([np.linspace(108, 138, 5), np.full(5, 68.0)], 1)])
    nose = np.concatenate([np.stack([np.full(4, 100.0), np.linspace(80, 110, 4)], 1),
                           np.stack([np.linspace(90, 110, 5), np.full(5, 116.0)], 1)])
    angle = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], 1)
    eyes = np.concatenate([np.array([80.0, 82.0]) + ring * [9, 3], np.array([120.0, 82.0]) + ring * [9, 3]])
    mouth = np.array([100.0, 137.0]) + np.concatenate([ring * [18, 6], ring * [18, 6]])
    lips = np.concatenate([mouth, np.array([100.0, 137.0]) + ring * [10, 2]])[:20]
    return np.concatenate([jaw, brows, nose, eyes, lips]).astype(np.float64)
