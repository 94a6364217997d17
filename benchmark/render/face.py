"""Face geometry on the mid-sagittal plane: nose tip by protrusion, cranial vault, facial profile line."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from benchmark.core.masks import dilate, fill_holes, largest_component
from benchmark.render.midplane import PlaneGrid
from benchmark.render.volume import PreparedVolume

SLAB_MM = (-4.0, 0.0, 4.0)  # the midline mask is the union over this thin slab
LATERAL_FRACTION = 0.25  # side planes of the nose test, as a fraction of the head's half-breadth


@dataclass
class Midline:
    """Head mask on the mid-sagittal plane and its outer contour."""

    grid: PlaneGrid
    mask: np.ndarray  # (size, size) bool, largest component, holes filled
    outside: np.ndarray  # (size, size) bool, beyond the field of view
    contour: np.ndarray  # (M, 2) pixel x, y of the outer contour
    cut: np.ndarray  # (M,) contour points on the edge of the field of view (not skin)


@dataclass
class Nose:
    xy: np.ndarray  # pixel position on the midline grid of the most protruding point
    depth: float  # protrusion beyond the tissue on both sides, mm
    region: np.ndarray  # (size, size) bool, the nose on the midline grid

    def tip(self, grid: PlaneGrid, forward: np.ndarray) -> np.ndarray:
        """World position of the nose pixel farthest along ``forward`` (the tip seen from the front)."""
        rc = np.argwhere(self.region)
        pts = grid.world(rc[:, ::-1].astype(np.float64))
        return pts[int(np.argmax(pts @ forward))]


def midline(prep: PreparedVolume, threshold: float, grid: PlaneGrid) -> Midline | None:
    vals, outside = grid.sample(prep, SLAB_MM)
    mask = (vals >= threshold).any(0)
    if not mask.any():
        return None
    mask = fill_holes(largest_component(mask))
    out = outside[len(SLAB_MM) // 2]
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=len)[:, 0, :].astype(np.float64)
    cut_map = dilate(out, 3)
    cut = cut_map[contour[:, 1].astype(int), contour[:, 0].astype(int)]
    return Midline(grid=grid, mask=mask, outside=out, contour=contour, cut=cut)


def find_nose(prep: PreparedVolume, threshold: float, mid: Midline, half_width: float) -> Nose | None:
    """The midline tissue that protrudes farthest beyond the tissue present on both sides.

    Side planes at +-``LATERAL_FRACTION * half_width`` cut the cheeks but miss the nose, so the
    nose tip is the midline pixel farthest from where both side planes hold tissue (holes filled).
    Where a side plane leaves the field of view nothing can be said: those pixels (and a margin)
    are not candidates, so heads cut by the field of view raise no false nose.
    """
    d = LATERAL_FRACTION * half_width
    vals, outside = mid.grid.sample(prep, (-d, d))
    both = fill_holes(vals[0] >= threshold) & fill_holes(vals[1] >= threshold)
    if not both.any():
        return None
    margin = max(1, int(round(d / mid.grid.pixel)))
    unknown = dilate(outside[0] | outside[1], margin)
    unknown |= dilate(mid.outside, 2)
    depth = ndimage.distance_transform_edt(~both) * (mid.mask & ~unknown)
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    if depth[r, c] <= 0:
        return None
    labels, _ = ndimage.label(depth >= 0.3 * depth[r, c])
    region = labels == labels[r, c]
    return Nose(xy=np.array([c, r], dtype=np.float64), depth=float(depth[r, c]) * mid.grid.pixel, region=region)


def vault_circle(mid: Midline, iters: int = 400):
    """Circle (centre px, radius px, inlier points) through the longest arc of the contour (the
    cranial vault), fitted by RANSAC to contour points off the field of view's edge."""
    xy = mid.contour[~mid.cut]
    scale = mid.grid.pixel
    n = len(xy)
    if n < 40:
        return None
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, size=(iters, 3))
    p1, p2, p3 = xy[idx[:, 0]], xy[idx[:, 1]], xy[idx[:, 2]]
    d = 2 * (p1[:, 0] * (p2[:, 1] - p3[:, 1]) + p2[:, 0] * (p3[:, 1] - p1[:, 1]) + p3[:, 0] * (p1[:, 1] - p2[:, 1]))
    ok = np.abs(d) > 1e-6
    d = np.where(ok, d, 1.0)
    s1, s2, s3 = (p1**2).sum(1), (p2**2).sum(1), (p3**2).sum(1)
    ux = (s1 * (p2[:, 1] - p3[:, 1]) + s2 * (p3[:, 1] - p1[:, 1]) + s3 * (p1[:, 1] - p2[:, 1])) / d
    uy = (s1 * (p3[:, 0] - p2[:, 0]) + s2 * (p1[:, 0] - p3[:, 0]) + s3 * (p2[:, 0] - p1[:, 0])) / d
    centres = np.stack([ux, uy], 1)
    radii = np.linalg.norm(p1 - centres, axis=1)
    ok &= (radii * scale > 35.0) & (radii * scale < 160.0)
    if not ok.any():
        return None
    centres, radii = centres[ok], radii[ok]
    dist = np.linalg.norm(xy[None] - centres[:, None], axis=2)
    tol = np.maximum(2.0 / scale, 0.025 * radii)
    counts = (np.abs(dist - radii[:, None]) < tol[:, None]).sum(1)
    best = int(np.argmax(counts))
    inl = xy[np.abs(dist[best] - radii[best]) < 2 * tol[best]]
    if len(inl) < 0.2 * n:
        return None
    A = np.column_stack([2 * inl, np.ones(len(inl))])
    sol = np.linalg.lstsq(A, (inl**2).sum(1), rcond=None)[0]
    c = sol[:2]
    return c, float(np.sqrt(max(sol[2] + c @ c, 1e-9))), inl


def profile_frame(mid: Midline, nose_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Forward and up (pixel directions) from the face alone, used when no reference head is at hand.

    Up is perpendicular to the nose's direction from the vault centre, on the vault's side;
    forward is normal to the facial profile line (the common tangent of forehead and chin).
    """
    circle = vault_circle(mid)
    if circle is None:
        return None
    cxy, radius, inliers = circle
    nd = nose_xy - cxy
    if np.linalg.norm(nd) < 1e-6:
        return None
    nd /= np.linalg.norm(nd)
    perp = np.array([-nd[1], nd[0]])
    up = perp if perp @ (inliers - cxy).mean(0) > 0 else -perp
    xy = mid.contour[~mid.cut]
    rel = xy - cxy
    ang = np.degrees(np.arctan2(rel @ up, rel @ nd))  # 0 towards the nose, + towards the crown
    upper, lower = xy[(ang > 15) & (ang < 60)], xy[(ang < -15) & (ang > -60)]
    fwd = nd.copy()
    if len(upper) and len(lower):
        for _ in range(5):
            top, chin = upper[np.argmax(upper @ fwd)], lower[np.argmax(lower @ fwd)]
            line = (top - chin) / max(np.linalg.norm(top - chin), 1e-9)
            new = np.array([line[1], -line[0]])
            new = new if new @ nd > 0 else -new
            if np.allclose(new, fwd):
                break
            fwd = new
        if fwd @ nd < np.cos(np.deg2rad(60)):
            fwd = nd
    up = np.array([-fwd[1], fwd[0]]) * np.sign(np.array([-fwd[1], fwd[0]]) @ up)
    return fwd, up
