"""Three-point alignment (issue 15, the study's eye corners and chin) beside the 5-point one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.attacks import get_attack
from benchmark.attacks.align import (
    THREE_POINT_TEMPLATE,
    similarity_matrix,
    three_point_landmarks,
    warp_to_template,
)
from benchmark.attacks.base import cosine, read_photo
from benchmark.attacks.dlib_resnet import landmarks_of
from benchmark.core.errors import BenchmarkError

IMAGES = Path(__import__("insightface").__file__).parent / "data" / "images"


def _similarity(angle_deg: float, scale: float, shift) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("angle, scale, shift", [(0.0, 1.0, (0, 0)), (17.0, 2.3, (40, -12)), (-35.0, 0.6, (5, 90))])
def test_similarity_maps_three_points_onto_the_template(angle, scale, shift):
    seen = _apply(_similarity(angle, scale, shift), THREE_POINT_TEMPLATE)  # a face turned, scaled, moved
    m = similarity_matrix(seen, THREE_POINT_TEMPLATE)
    np.testing.assert_allclose(_apply(m, seen), THREE_POINT_TEMPLATE, atol=1e-9)


def test_warp_puts_the_eye_corners_at_their_template_pixels():
    """Dots drawn where a turned, scaled face has its eye corners land on the template's corners."""
    m = _similarity(-20.0, 1.8, (60, 30))
    seen = _apply(m, THREE_POINT_TEMPLATE)
    img = np.zeros((400, 400, 3), np.uint8)
    for x, y in seen[:2]:
        img[int(round(y)) - 2:int(round(y)) + 3, int(round(x)) - 2:int(round(x)) + 3] = 255
    crop = warp_to_template(img, seen, THREE_POINT_TEMPLATE, 112)[..., 0].astype(float)
    for x, y in THREE_POINT_TEMPLATE[:2]:
        win = crop[int(y) - 6:int(y) + 7, int(x) - 6:int(x) + 7]
        yy, xx = np.mgrid[int(y) - 6:int(y) + 7, int(x) - 6:int(x) + 7]
        centre = np.array([(xx * win).sum(), (yy * win).sum()]) / win.sum()
        assert np.linalg.norm(centre - [x, y]) < 1.0


@pytest.fixture(scope="module")
def three_point():
    return get_attack("arcface", align="three_point", use_cache=False).prepare()


def test_three_point_alignment_of_a_real_face_lands_its_landmarks_on_the_template(three_point):
    """On each face of insightface's t1.jpg, the dlib eye corners and chin the attack aligns on are mapped
    within a few pixels of the template (a similarity has 4 degrees of freedom for 6 coordinates)."""
    rgb = read_photo(IMAGES / "t1.jpg")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    faces = three_point._detector().get(bgr)
    assert len(faces) == 6
    for face in faces:
        points = three_point_landmarks(landmarks_of(three_point.dlib_shape(rgb, face)))
        mapped = _apply(similarity_matrix(points, THREE_POINT_TEMPLATE), points)
        assert np.abs(mapped - THREE_POINT_TEMPLATE).max() < 8.0
        assert three_point.aligned_crop(rgb, bgr, face).shape == (112, 112, 3)


def test_three_point_embeddings_recognise_a_mirrored_face(three_point):
    """The mirror image of a face is the same person for the three-point attack (and not another face)."""
    rgb = read_photo(IMAGES / "t1.jpg")
    e = three_point.embed_photo(rgb)
    mirrored = three_point.embed_photo(np.ascontiguousarray(rgb[:, ::-1]))
    other = three_point.embed_photo(read_photo(IMAGES / "Tom_Hanks_54745.png"))
    assert cosine(e.vector, mirrored.vector) > cosine(e.vector, other.vector) + 0.2


def test_unknown_alignment_is_refused():
    with pytest.raises(BenchmarkError, match="align must be one of"):
        get_attack("arcface", align="two_point")
