"""A reference head (pydeface's mean template) to orient a head in its mid-sagittal plane.

The template's mid-sagittal image, with its world anterior and superior axes, is matched to the
subject's by a search over rotation, mirror and scale (translation by normalised cross-correlation,
``cv2.matchTemplate``). Brain, skull and scalp drive the match, so the frame is the same for
defaced heads; the result maps the template's forward and up axes, and its nose, into the subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import nibabel as nib
from nibabel.filebasedimages import ImageFileError
import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.render.face import find_nose, midline
from benchmark.render.midplane import PlaneGrid
from benchmark.render.symmetry import coarse_head, symmetric_half_width, symmetry_plane
from benchmark.render.volume import PreparedVolume, prepare_volume

LEVELS = (6.0, 2.5)  # pixel sizes (mm) of the coarse search and the refinement
REF_HALF_MM = 120.0  # half side of the reference crop
SUBJECT_HALF_MM = 180.0  # half side of the subject image (the translation search range is the difference)
SLAB = (-2.0, 0.0, 2.0)
FACE_REACH_MM = 35.0
MIN_SEEN = 0.6  # a template placement is judged only where this fraction of it lies in the field of view  # search range of the face window once the head is aligned


@dataclass(frozen=True)
class Reference:
    images: dict  # pixel size -> (h, w) float32 normalised mid-sagittal crop (x = forward, y = down)
    nose: np.ndarray | None  # (2,) nose tip, mm from the crop centre (x forward, y down)


@dataclass
class Registration:
    forward: np.ndarray  # (3,) world
    up: np.ndarray  # (3,) world
    nose: np.ndarray | None  # (3,) world, the template's nose mapped into the subject
    score: float  # normalised cross-correlation of the best match


def template_path():
    import importlib.resources

    return importlib.resources.files("pydeface") / "data" / "mean_reg2mean.nii.gz"


@lru_cache(maxsize=1)
def reference() -> Reference:
    """The template's mid-sagittal images (cached). pydeface (a pinned dependency) ships the template: a
    missing or unreadable file is a broken installation, said in one line, not a quieter pose estimate."""
    path = template_path()
    try:
        img = nib.load(str(path))
    except (OSError, ImageFileError) as exc:
        raise BenchmarkError(f"{path}: the reference head for the head pose cannot be read ({exc}); "
                             "reinstall the project (make setup)") from exc
    prep = prepare_volume(img)
    thr = prep.level
    head = coarse_head(prep, thr)
    normal, offset, _ = symmetry_plane(head)
    forward = _orthogonal(np.array([0.0, 1.0, 0.0]), [normal])
    up = _orthogonal(np.array([0.0, 0.0, 1.0]), [normal, forward])
    centroid = head.points.mean(0)
    centre = centroid - (normal @ centroid - offset) * normal
    images = {}
    for px in LEVELS:
        size = int(round(2 * REF_HALF_MM / px)) + 1
        grid = PlaneGrid.centred(centre, forward, -up, px, size)
        images[px] = _normalise(grid.sample(prep, SLAB)[0].mean(0), thr)
    nose = None
    grid = PlaneGrid.centred(centre, forward, -up, 1.5, int(round(2 * REF_HALF_MM / 1.5)) + 1)
    mid = midline(prep, thr, grid)
    if mid is not None:
        half_width = symmetric_half_width(head.points @ normal, offset, 5.0)
        found = find_nose(prep, thr, mid, half_width)
        if found is not None:
            tip = found.tip(grid, forward)
            nose = np.array([(tip - centre) @ forward, -(tip - centre) @ up])
    return Reference(images=images, nose=nose)


def register(
    prep: PreparedVolume,
    threshold: float,
    centre: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ref: Reference,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
) -> Registration:
    """Match the subject's mid-sagittal plane (through ``centre``, spanned by unit ``a``, ``b``) to the
    reference. ``prior`` (forward, up as unit 2-D pixel directions) narrows the first search."""
    subject = {}
    for px in LEVELS:
        size = int(round(2 * SUBJECT_HALF_MM / px)) + 1
        grid = PlaneGrid.centred(centre, a, b, px, size)
        vals, outside = grid.sample(prep, SLAB)
        # the scanned field of view (the source grid, not the crop of the prepared one)
        seen = ~grid.outside(prep.source_shape, prep.source_affine)
        subject[px] = (grid, _normalise(vals.mean(0), threshold), None if seen.all() else seen.astype(np.float32))
    px = LEVELS[0]
    if prior is None:
        angles = np.arange(0.0, 360.0, 6.0)
        mirrors = (1.0, -1.0)
    else:
        theta, mirror = _prior_angle(*prior)
        angles = theta + np.arange(-45.0, 45.1, 5.0)
        mirrors = (mirror,)
    best = _search(subject[px][1], ref.images[px], angles, mirrors, (0.85, 1.0, 1.15), subject[px][2])
    if prior is not None and best[0] < 0.9 - 1e-3:  # guard against a wrong prior: a full search must not do
        # much better (it cannot beat a match of 0.9 by 0.1: a correlation is at most 1)
        full = _search(subject[px][1], ref.images[px], np.arange(0.0, 360.0, 12.0), (1.0, -1.0), (1.0,), subject[px][2])
        if full[0] > best[0] + 0.1:
            best = _search(subject[px][1], ref.images[px], full[1] + np.arange(-10.0, 10.1, 5.0), (full[2],), (0.85, 1.0, 1.15),
                           subject[px][2])
    score, theta, mirror, scale, _ = best
    px = LEVELS[1]
    score, theta, mirror, scale, shift = _search(
        subject[px][1], ref.images[px], theta + np.arange(-6.0, 6.1, 1.5), (mirror,), scale * np.array([0.94, 1.0, 1.06]),
        subject[px][2],
    )
    grid = subject[px][0]
    A = _linear(theta, mirror, scale)
    forward = grid.direction(A @ np.array([1.0, 0.0]))
    up = _orthogonal(grid.direction(A @ np.array([0.0, -1.0])), [forward])
    nose = None
    if ref.nose is not None:
        ref_img = ref.images[px]
        x_t = ref.nose / px + (np.array(ref_img.shape[::-1]) - 1) / 2.0
        c = (np.array(subject[px][1].shape[::-1]) - 1) / 2.0
        shift = shift + _face_shift(subject[px][1], ref_img, A, shift, x_t, px)
        nose = grid.world(c + A @ (x_t + shift - c))
    return Registration(forward=forward, up=up, nose=nose, score=float(score))


def _face_shift(subject: np.ndarray, template: np.ndarray, A: np.ndarray, shift: np.ndarray, nose: np.ndarray, px: float):
    """Translation (template pixels) that best aligns the template's face window once the whole
    head is aligned: faces sit differently on the skull from one person to the next."""
    h, w = subject.shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    M = np.hstack([A, (c - A @ c)[:, None]]).astype(np.float32)
    warped = cv2.warpAffine(subject, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    # face window: from 70 mm behind the nose tip to 10 mm in front, 60 mm above to 70 mm below
    x0, x1 = int(nose[0] - 70 / px), int(nose[0] + 10 / px)
    y0, y1 = int(nose[1] - 60 / px), int(nose[1] + 70 / px)
    th, tw = template.shape
    if x0 < 0 or y0 < 0 or x1 > tw or y1 > th:
        return np.zeros(2)
    patch = template[y0:y1, x0:x1]
    reach = int(round(FACE_REACH_MM / px))
    sx0, sy0 = int(shift[0]) + x0 - reach, int(shift[1]) + y0 - reach
    sx1, sy1 = int(shift[0]) + x1 + reach, int(shift[1]) + y1 + reach
    if sx0 < 0 or sy0 < 0 or sx1 > w or sy1 > h:
        return np.zeros(2)
    res = cv2.matchTemplate(warped[sy0:sy1, sx0:sx1], patch, cv2.TM_CCOEFF_NORMED)
    _, _, _, loc = cv2.minMaxLoc(res)
    return np.array(loc, dtype=np.float64) - reach


def _search(subject: np.ndarray, template: np.ndarray, angles, mirrors, scales, seen: np.ndarray | None = None):
    """Best (score, angle, mirror, scale, shift) of subject warps against the template.

    ``seen`` (subject pixels inside the scanned field of view, float 0/1; None = all) restricts the
    correlation to what was scanned: a head cut by the field of view is not pulled towards poses that
    put the missing part out of the template's sight."""
    h, w = subject.shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    best = (-np.inf, 0.0, 1.0, 1.0, np.zeros(2))
    for mirror in mirrors:
        for theta in angles:
            for scale in scales:
                A = _linear(theta, mirror, scale)
                M = np.hstack([A, (c - A @ c)[:, None]]).astype(np.float32)
                warped = cv2.warpAffine(subject, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
                if seen is None:
                    res = cv2.matchTemplate(warped, template, cv2.TM_CCOEFF_NORMED)
                else:
                    mask = cv2.warpAffine(seen, M, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
                    res = _masked_ncc(warped, mask, template)
                _, score, _, loc = cv2.minMaxLoc(res)
                if score > best[0]:
                    best = (float(score), float(theta), float(mirror), float(scale), np.array(loc, dtype=np.float64))
    return best


def _masked_ncc(image: np.ndarray, mask: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every offset in ``image`` over the pixels where
    ``mask`` is 1 (equal to ``TM_CCOEFF_NORMED`` where the mask is all ones); offsets where less than
    ``MIN_SEEN`` of the window is seen score -1."""
    th, tw = template.shape
    im = image * mask
    n = cv2.boxFilter(mask, -1, (tw, th), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT)
    s_i = cv2.boxFilter(im, -1, (tw, th), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT)
    s_ii = cv2.boxFilter(im * image, -1, (tw, th), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT)
    oh, ow = image.shape[0] - th + 1, image.shape[1] - tw + 1
    n, s_i, s_ii = n[:oh, :ow].astype(np.float64), s_i[:oh, :ow].astype(np.float64), s_ii[:oh, :ow].astype(np.float64)
    s_t = cv2.matchTemplate(mask, template, cv2.TM_CCORR).astype(np.float64)
    s_tt = cv2.matchTemplate(mask, template * template, cv2.TM_CCORR).astype(np.float64)
    s_it = cv2.matchTemplate(im, template, cv2.TM_CCORR).astype(np.float64)
    safe = np.maximum(n, 1.0)
    cov = s_it - s_i * s_t / safe
    var = np.maximum(s_ii - s_i**2 / safe, 0.0) * np.maximum(s_tt - s_t**2 / safe, 0.0)
    out = np.where(var > 1e-9, cov / np.sqrt(np.maximum(var, 1e-18)), 0.0)
    return np.where(n >= MIN_SEEN * th * tw, out, -1.0).astype(np.float32)


def _linear(theta: float, mirror: float, scale: float) -> np.ndarray:
    """Subject pixel offset per template pixel offset: scale * rotation(theta) * diag(1, mirror)."""
    t = np.deg2rad(theta)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return scale * R @ np.diag([1.0, mirror])


def _prior_angle(forward: np.ndarray, up: np.ndarray) -> tuple[float, float]:
    """Angle and mirror of :func:`_linear` that send template forward (1, 0) and up (0, -1) to the prior's."""
    theta = float(np.degrees(np.arctan2(forward[1], forward[0])))
    t = np.deg2rad(theta)
    image_up = np.array([np.sin(t), -np.cos(t)])  # R(theta) @ (0, -1)
    return theta, (1.0 if image_up @ up > 0 else -1.0)


def _normalise(img: np.ndarray, threshold: float) -> np.ndarray:
    """Intensities relative to the head's median tissue, clipped, lightly blurred (float32)."""
    tissue = img[img >= threshold]
    scale = float(np.median(tissue)) if tissue.size else max(threshold, 1e-6)
    out = np.clip(img / max(scale, 1e-6), 0.0, 2.5).astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), 1.0)


def _orthogonal(v: np.ndarray, against: list[np.ndarray]) -> np.ndarray:
    for u in against:
        v = v - (v @ u) * u
    return v / np.linalg.norm(v)
