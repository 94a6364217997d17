"""Facial and scalp hair removal on photographs, from the 68 dlib landmarks, the face's skin colour and texture.

The seed study removed beards, moustaches and hair from its volunteers' photographs before matching
them with MRI reconstructions (which show no hair): the deep attack got stronger. No hair segmentation
model ships offline, so the mask is built from what does (``attack.photo_hair=remove``):

1. *Where hair may be* (:func:`hair_regions`), from the 68 landmarks (Sagonas et al., 300-W, the
   iBUG layout dlib's predictor uses): the lower face below the nose (jaw polygon 2..14 extended below
   the chin by a third of the eye distance ``d``: beard, moustache, neck) and the scalp (an ellipse over
   the brows, 1.35 face half-widths across and 1.6 ``d`` high, plus the temples outside the jaw line),
   less the eyes, brows, nose and lips (dilated); in the scalp, pixels of the background colour (the
   median of the image border, when the border is plain) are left out.
2. *Which pixels are hair* (:func:`hair_mask`), against the skin of the cheeks and nose bridge at nose
   level (three patches of radius 0.15 ``d``, above any beard, below any fringe): a pixel is hair when
   its chromaticity (r, g) = (R, G) / (R + G + B), invariant to shading, is more than
   ``chroma_z`` robust standard deviations (1.4826 MAD, at least 0.01) from the skin's median, or when
   its texture (local energy of the luminance minus its Gaussian-smoothed self, sigma 1 px, averaged
   over 2 px) is ``texture_ratio`` times the skin's, or when it is darker than ``dark`` times the skin's
   median luminance and rougher than 1.5 times its texture (a shadow is smooth); the mask is then closed and opened (3 px) and small specks (< 0.2% of the face)
   dropped. The thresholds were set on 20 synthetic photographs (persons 0..) and checked on 20
   others.
3. *Fill* (:func:`fill_skin`): a quadratic surface in (x, y) fitted per channel, by least squares, to
   the face's clear skin (the face polygon less the mask and the features, chromaticity within 2
   robust deviations, texture under twice the skin's, not dark), clipped to that skin's 2nd..98th percentiles, gives colour and
   smooth shading; masked pixels take it, blended over a 1.5 px feathered edge.

Measured on the synthetic photographs, whose painted hair is known
(:func:`benchmark.data.synthetic.photo_pair`; ``scripts/check_hair.py``, ``tests/attacks/test_hair.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.core.errors import BenchmarkError

JAW = list(range(0, 17))
BROWS = (list(range(17, 22)), list(range(22, 27)))
NOSE = list(range(27, 36))
EYES = (list(range(36, 42)), list(range(42, 48)))
LIPS = list(range(48, 60))


@dataclass(frozen=True)
class HairParams:
    """Thresholds of :func:`hair_mask` (see the module docstring)."""

    chroma_z: float = 3.0
    texture_ratio: float = 5.0
    dark: float = 0.55
    background_tol: float = 10.0


@dataclass
class HairResult:
    """The photograph with hair replaced, the hair mask (H, W) bool and the skin statistics used."""

    image: np.ndarray
    mask: np.ndarray
    skin_rg: np.ndarray  # (2,) median chromaticity of the skin patches


def _frame(lm: np.ndarray) -> tuple[float, np.ndarray]:
    """(eye distance d, unit 'up' vector of the face in image coordinates)."""
    eyes = [lm[e].mean(0) for e in EYES]
    d = float(np.linalg.norm(eyes[1] - eyes[0]))
    up = (eyes[0] + eyes[1]) / 2 - lm[8]
    return max(d, 1.0), up / max(np.linalg.norm(up), 1e-6)


def _poly(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(pts).astype(np.int32)], 1)
    return out.astype(bool)


def _hull(shape: tuple[int, int], pts: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Filled convex hull of ``pts`` scaled about its centre by (1 + grow)."""
    c = pts.mean(0)
    return _poly(shape, cv2.convexHull(np.float32(c + (pts - c) * (1.0 + grow)))[:, 0])


def features(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """Eyes, brows, nose and lips (slightly grown): never hair to remove."""
    out = np.zeros(shape, bool)
    for idx, grow in [(EYES[0], 0.5), (EYES[1], 0.5), (BROWS[0], 0.3), (BROWS[1], 0.3), (NOSE, 0.1), (LIPS, 0.2)]:
        out |= _hull(shape, lm[idx], grow)
    return out


def hair_regions(shape: tuple[int, int], lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower face where a beard may be, scalp where hair may be), (H, W) bool each, features excluded."""
    d, up = _frame(lm)
    nose_bottom = lm[31:36].mean(0)
    jaw = lm[2:15]
    below = jaw - up * d / 3.0  # the polygon reaches a third of d below the jaw line (under the chin)
    lower = _poly(shape, np.concatenate([jaw, below[::-1]]))
    lower |= _poly(shape, np.concatenate([jaw[[0, -1]], below[[-1, 0]]]))
    lower |= _poly(shape, lm[[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]])
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    rel = np.stack([xx, yy], -1) - nose_bottom
    lower &= (rel @ up) < 0  # below the nose
    brow = np.concatenate(BROWS)
    centre = lm[brow].mean(0)
    right = np.array([-up[1], up[0]])
    half_w = 1.35 * abs(float((lm[16] - lm[0]) @ right)) / 2
    r = np.stack([xx, yy], -1) - centre
    u, v = r @ up, r @ right
    scalp = (u > 0) & ((v / half_w) ** 2 + (u / (1.6 * d)) ** 2 <= 1.0)
    temples = (np.abs(v) > abs(float((lm[0] - centre) @ right))) & (np.abs(v) < half_w) & (
        u > (lm[0] - centre) @ up)
    scalp |= temples
    feat = features(shape, lm)
    return lower & ~feat, scalp & ~feat & ~lower


def skin_patches(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """Cheeks and nose bridge at the level of landmark 29 (nose middle): skin in nearly every face."""
    d, _ = _frame(lm)
    level = lm[29]
    out = np.zeros(shape, np.uint8)
    for eye in EYES:
        c = np.array([lm[eye].mean(0)[0], level[1]])
        cv2.circle(out, tuple(int(round(x)) for x in c), max(1, int(round(0.15 * d))), 1, -1)
    cv2.circle(out, tuple(int(round(x)) for x in lm[28]), max(1, int(round(0.08 * d))), 1, -1)
    return out.astype(bool) & ~_hull(shape, lm[np.concatenate(EYES)], 0.5)


def _texture(lum: np.ndarray) -> np.ndarray:
    high = lum - cv2.GaussianBlur(lum, (0, 0), 1.0)
    return cv2.GaussianBlur(high * high, (0, 0), 2.0)


def _background(rgb: np.ndarray, tol: float) -> np.ndarray:
    """Pixels of the border's colour connected to the border, when the border is plain (its spread
    under ``tol``), else none; on the image smoothed at 1.5 px (sensor noise)."""
    smooth = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.5)
    border = np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]])
    med = np.median(border, 0)
    if np.median(np.abs(border - med).max(1)) > tol / 2:
        return np.zeros(rgb.shape[:2], bool)
    close = (np.abs(smooth - med).max(2) < tol).astype(np.uint8)
    n, labels = cv2.connectedComponents(close, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def hair_mask(rgb: np.ndarray, lm: np.ndarray, params: HairParams = HairParams()
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hair mask, clear skin, skin chromaticity median) of an RGB uint8 photograph with 68 landmarks;
    clear skin: (H, W) bool, chromaticity within 2 robust deviations, texture under twice the skin's,
    not dark: where the fill is fitted."""
    shape = rgb.shape[:2]
    lower, scalp = hair_regions(shape, lm)
    rim = 2 * max(1, int(round(0.05 * _frame(lm)[0]))) + 1  # the silhouette's grazing, mixed pixels
    bg = cv2.dilate(_background(rgb, params.background_tol).astype(np.uint8), np.ones((rim, rim), np.uint8)) > 0
    lower &= ~bg
    scalp &= ~bg
    patches = skin_patches(shape, lm)
    if patches.sum() < 5:
        raise BenchmarkError(f"hair removal: the face is too small for skin statistics ({int(patches.sum())} px)")
    f = rgb.astype(np.float32) + 1.0
    total = f.sum(2)
    rg = np.stack([f[..., 0] / total, f[..., 1] / total], -1)
    med = np.median(rg[patches], 0)
    mad = np.maximum(1.4826 * np.median(np.abs(rg[patches] - med), 0), 0.01)
    chroma = np.sqrt((((rg - med) / mad) ** 2).sum(-1))
    lum = total / 3.0
    tex = _texture(lum)
    skin_tex = max(float(np.median(tex[patches])), 1.0)
    hair = (chroma > params.chroma_z) | (tex > params.texture_ratio * skin_tex)
    hair |= (lum < params.dark * np.median(lum[patches])) & (tex > 1.5 * skin_tex)  # dark and rough: not a shadow
    hair &= lower | scalp
    clear = (chroma < 2.0) & (tex < 2.0 * skin_tex) & (lum > params.dark * np.median(lum[patches]))
    return _clean(hair, lm), clear, med


def _clean(mask: np.ndarray, lm: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, k)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    face_area = max(cv2.contourArea(cv2.convexHull(np.float32(lm))), 1.0)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.002 * face_area
    return keep[labels]


def fill_skin(rgb: np.ndarray, mask: np.ndarray, lm: np.ndarray, clear: np.ndarray | None = None) -> np.ndarray:
    """The photograph with masked pixels replaced by a quadratic skin surface fitted on the face's skin
    (within the face polygon, outside the mask and the features, and ``clear`` skin when given)."""
    shape = rgb.shape[:2]
    skin = _hull(shape, lm[JAW + list(range(17, 27))], 0.0) & ~mask & ~features(shape, lm)
    if clear is not None:
        skin &= clear
    if skin.sum() < 12:
        raise BenchmarkError(f"hair removal: {int(skin.sum())} skin pixels left to fit the skin colour")
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    s = float(max(shape))
    x, y = xx / s, yy / s
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], -1)
    coef, *_ = np.linalg.lstsq(basis[skin], rgb[skin].astype(np.float64), rcond=None)
    lo, hi = np.percentile(rgb[skin], 2, axis=0), np.percentile(rgb[skin], 98, axis=0)
    fill = np.clip(basis @ coef, lo, hi)  # no extrapolation beyond the face's own skin
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)
    soft = np.maximum(soft, mask.astype(np.float32))[..., None]
    return np.round(rgb * (1.0 - soft) + fill * soft).astype(np.uint8)


def remove_hair(rgb: np.ndarray, lm: np.ndarray, params: HairParams = HairParams()) -> HairResult:
    """:func:`hair_mask`, then :func:`fill_skin` (``lm``: (68, 2) dlib landmarks in pixels)."""
    lm = np.asarray(lm, np.float64)
    if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
        raise BenchmarkError(f"hair removal needs 68 finite landmarks, got shape {lm.shape}")
    mask, clear, med = hair_mask(rgb, lm, params)
    return HairResult(image=fill_skin(rgb, mask, lm, clear) if mask.any() else rgb.copy(), mask=mask, skin_rg=med)
