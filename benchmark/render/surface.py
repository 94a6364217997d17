"""Image points back to the head's surface: a pixel's ray and the depth buffer give its 3-D point."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from benchmark.core.errors import BenchmarkError
from benchmark.render.datatypes import Camera


def surface_points(camera: Camera, depth: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The surface points (N, 3, RAS mm) seen at image points ``xy`` (N, 2 pixels), and which were moved.

    A point takes the camera-frame depth (z) of its nearest pixel, or, where that ray missed the head (a
    landmark just outside the silhouette), of the nearest pixel that hit it, and lies on its own ray at
    that z (on the hit pixel's ray when moved): on the iso-surface the renderer drew, to within the
    surface's slope over half a pixel. ``moved`` marks the points read at another pixel.
    """
    depth = np.asarray(depth, np.float64)
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    hit = np.isfinite(depth)
    if not hit.any():
        raise BenchmarkError("surface points: the render shows no surface (every ray missed the head)")
    if not np.all(np.isfinite(xy)):
        raise BenchmarkError("surface points: an image point is not finite")
    h, w = depth.shape
    col = np.clip(np.rint(xy[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.rint(xy[:, 1]).astype(int), 0, h - 1)
    moved = ~hit[row, col]
    if moved.any():
        _, (near_row, near_col) = ndimage.distance_transform_edt(~hit, return_indices=True)
        row, col = near_row[row, col], near_col[row, col]
    axis = camera.rotation[2]  # the viewing direction
    pixel_dirs, origin = camera.rays(col.astype(np.float64), row.astype(np.float64))
    z = depth[row, col] * (pixel_dirs @ axis)
    at = np.where(moved[:, None], np.stack([col, row], axis=1).astype(np.float64), xy)
    dirs, _ = camera.rays(at[:, 0], at[:, 1])
    return origin[None] + (z / (dirs @ axis))[:, None] * dirs, moved
