"""Boolean masks on a pixel or voxel grid: bounding box, largest connected part, holes, dilation, and the
voxels within a distance of a mask. Exact equivalents of the scipy.ndimage operations they replace, faster.

:func:`within_mm` is ``scipy.ndimage.distance_transform_edt(~mask, sampling=zooms) <= limit_mm`` computed
only where it can be true: on the mask's bounding box grown by the limit (a voxel outside it lies farther
than the limit along one axis alone), cut to the box of the voxels asked about. On a 256^3 head and a
brain mask grown by 14 mm that is about a third of the grid; around a face, less.
"""

from __future__ import annotations

import cc3d
import numpy as np
import scipy.ndimage as ndi


def bounding_box(mask: np.ndarray, grow: np.ndarray | int = 0) -> tuple[slice, ...] | None:
    """Slices of ``mask``'s bounding box grown by ``grow`` voxels (per axis, clipped to the grid); None when
    ``mask`` is empty."""
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return _grown(tuple(box), grow, mask.shape)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of a 2D or 3D ``mask`` (pixels or voxels joined by a face: 4- or
    6-connectivity, as ``ndimage.label``'s default; of parts of equal size, the one cc3d numbers first);
    empty for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    labels = cc3d.connected_components(mask, connectivity=6 if mask.ndim == 3 else 4)
    sizes = np.bincount(labels.ravel())
    if sizes.size < 2:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(sizes[1:]))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes`` (face-connected background) by one labelling of the background (cc3d):
    the background components that touch the array's border stay, the others are holes."""
    mask = np.asarray(mask, bool)
    labels = cc3d.connected_components(~mask, connectivity=6 if mask.ndim == 3 else 4)
    n = int(labels.max())
    if n == 0:
        return mask.copy()
    border = np.zeros(n + 1, bool)
    for axis in range(mask.ndim):
        for index in (0, -1):
            border[np.take(labels, index, axis=axis)] = True
    border[0] = True  # label 0 is the mask itself
    return mask | ~border[labels]


def dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, iterations=k)`` with its default (face-connected) structure:
    the pixels within city-block distance k of the mask, by one chamfer distance transform."""
    mask = np.asarray(mask, bool)
    if iterations <= 0 or not mask.any():
        return mask.copy()
    return ndi.distance_transform_cdt(~mask, metric="taxicab") <= iterations


def _grown(box: tuple[slice, ...], grow: np.ndarray | int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    grow = np.broadcast_to(np.asarray(grow, dtype=int), (len(shape),))
    return tuple(slice(max(0, s.start - int(g)), min(n, s.stop + int(g))) for s, g, n in zip(box, grow, shape))


def _intersect(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...] | None:
    out = tuple(slice(max(x.start, y.start), min(x.stop, y.stop)) for x, y in zip(a, b))
    return None if any(s.start >= s.stop for s in out) else out


def within_mm(mask: np.ndarray, zooms, limit_mm: float, *, strict: bool = False,
              where: np.ndarray | None = None) -> np.ndarray:
    """Voxels whose Euclidean distance (between voxel centres, ``zooms`` mm per axis) to the nearest voxel
    of ``mask`` is at most ``limit_mm`` (less than it when ``strict``); a voxel of ``mask`` is at 0.

    Equal to ``distance_transform_edt(~mask, sampling=zooms) <= limit_mm`` (``<`` when strict) wherever
    ``mask`` has a voxel; an empty mask gives no voxel. With ``where`` (a boolean array of the same shape),
    only the voxels inside ``where``'s bounding box are answered, every other voxel is False: the distance
    map is then computed on the box of ``where`` and of ``mask``, each grown by the limit.
    """
    mask = np.asarray(mask, dtype=bool)
    zooms = np.asarray(zooms, dtype=np.float64)
    out = np.zeros(mask.shape, bool)
    grow = np.ceil(limit_mm / zooms).astype(int)  # one step more along an axis alone exceeds the limit
    box = answered = bounding_box(mask, grow)
    if box is not None and where is not None:
        asked = bounding_box(np.asarray(where, dtype=bool))
        if asked is None:
            return out
        answered, box = _intersect(box, asked), _intersect(box, _grown(asked, grow, mask.shape))
    if answered is None or not mask[box].any():
        return out
    distance = ndi.distance_transform_edt(~mask[box], sampling=zooms)
    near = distance < limit_mm if strict else distance <= limit_mm
    out[answered] = near[tuple(slice(a.start - b.start, a.stop - b.start) for a, b in zip(answered, box))]
    return out
