"""The one interface of a defacing baseline, and the volume helpers the baselines share.

A baseline maps a volume to a volume on exactly the same grid: same shape, same affine, header kept,
voxel values in the input's dtype. Subclasses implement :meth:`Baseline.deface` on the image's own
voxel array (any orientation, anisotropic voxels); :meth:`Baseline.anonymize` checks and wraps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import cc3d
import nibabel as nib
import numpy as np

from benchmark.core.errors import BenchmarkError


class Baseline(ABC):
    """``anonymize(img) -> img`` on the input grid."""

    def anonymize(self, img: nib.Nifti1Image) -> nib.Nifti1Image:
        check_volume(img)
        return on_input_grid(img, self.deface(img))

    @abstractmethod
    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        """The anonymised voxel array, in ``img``'s voxel order and shape (any real dtype)."""


def check_volume(img) -> None:
    """Raise BenchmarkError unless ``img`` is a 3D nibabel image."""
    path = img.get_filename() if hasattr(img, "get_filename") else None
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise BenchmarkError(f"expected a nibabel image, got {type(img).__name__}; load it with nibabel.load")
    if len(img.shape) != 3:
        raise BenchmarkError(f"expected a 3D volume, got shape {img.shape}; pass one volume at a time", path)


def stored_dtype(img: nib.spatialimages.SpatialImage) -> np.dtype:
    """dtype of ``np.asanyarray(img.dataobj)``: the on-disk dtype, or float32 when the header scales values."""
    obj = img.dataobj
    if isinstance(obj, np.ndarray):
        return obj.dtype
    if getattr(obj, "slope", 1.0) != 1.0 or getattr(obj, "inter", 0.0) != 0.0:
        return np.dtype(np.float32)
    return np.dtype(img.get_data_dtype())


def on_input_grid(img: nib.spatialimages.SpatialImage, data: np.ndarray) -> nib.Nifti1Image:
    """Wrap ``data`` with ``img``'s affine and a copy of its header, cast (rounded, clipped) to its dtype."""
    if tuple(data.shape) != tuple(img.shape):
        raise BenchmarkError(f"baseline returned shape {data.shape} for a volume of shape {img.shape}")
    dtype = stored_dtype(img)
    if data.dtype != dtype:
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = np.clip(np.rint(data), info.min, info.max)
        data = data.astype(dtype)
    header = img.header.copy() if isinstance(img.header, nib.Nifti1Header) else None
    out = nib.Nifti1Image(data, img.affine.copy(), header)
    out.set_data_dtype(data.dtype)
    return out


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Length in mm of one step along each voxel axis."""
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def otsu_threshold(x: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold on a subsample of ``x`` clipped to its 99.5th percentile."""
    v = x.ravel()[:: max(1, x.size // 2_000_000)]
    hi = float(np.percentile(v, 99.5))
    hist, edges = np.histogram(np.clip(v, 0.0, hi), bins=bins, range=(0.0, hi))
    p = hist / max(hist.sum(), 1)
    w = np.cumsum(p)
    centers = (edges[:-1] + edges[1:]) / 2
    mu = np.cumsum(p * centers)
    between = (mu[-1] * w - mu) ** 2 / np.maximum(w * (1 - w), 1e-12)
    return float(centers[int(np.argmax(between[:-1]))])


def head_mask(x: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Head (tissue and the cavities it encloses): everything not connected to the air at the volume border."""
    tissue = x > (otsu_threshold(x) if threshold is None else threshold)
    labels = cc3d.connected_components(~tissue, connectivity=6)
    border = np.unique(
        np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()])
    )
    border = border[border != 0]
    return ~np.isin(labels, border)


def bounding_box(mask: np.ndarray, margin_vox: np.ndarray | int = 0) -> tuple[slice, ...] | None:
    """Slices of ``mask``'s bounding box grown by ``margin_vox`` (per axis), or None when empty."""
    if not mask.any():
        return None
    margin = np.broadcast_to(np.asarray(margin_vox, dtype=int), (mask.ndim,))
    out = []
    for axis in range(mask.ndim):
        idx = np.nonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))[0]
        out.append(slice(max(0, idx[0] - margin[axis]), min(mask.shape[axis], idx[-1] + 1 + margin[axis])))
    return tuple(out)


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, 3t^2 - 2t^3 between: a weight with zero slope at both ends."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
