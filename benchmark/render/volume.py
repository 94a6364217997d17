"""Volume preparation shared by every view: RAS grid, near-isotropic resampling, light smoothing.

The working grid is the canonical (RAS-closest) voxel grid of the input, with any thick axis
upsampled by cubic interpolation so that voxels are near-isotropic; its affine maps working
voxel indices to RAS mm and travels with the array. Voxels need not be axis-aligned in world space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError

from .threshold import surface_threshold

BLOCK = 4  # voxels per side of an empty-space-skipping block
CROP_FRACTION = 0.25  # the grid is cropped to what exceeds this fraction of the automatic threshold


@dataclass
class PreparedVolume:
    """A volume ready for ray casting: smoothed float32 data on a near-isotropic RAS grid."""

    data: torch.Tensor  # (I, J, K) float32, smoothed, working grid
    affine: np.ndarray  # (4, 4) working voxel (i, j, k) -> RAS mm
    spacing: float  # working voxel size, mm (the smallest of the three)
    threshold: float  # automatic head/air threshold, in the input's intensity units
    source_affine: np.ndarray  # the input image's own affine (albedo grids use it)
    source_shape: tuple[int, int, int]
    blockmax: torch.Tensor  # (I/B, J/B, K/B) max of data over BLOCK^3 voxel blocks
    _occupancy: dict[float, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    def occupancy(self, threshold: float) -> torch.Tensor:
        """Blocks that may hold surface at ``threshold``: the head's connected blocks, dilated by one."""
        key = float(threshold)
        if key not in self._occupancy:
            self._occupancy[key] = _head_blocks(self.blockmax, key)
        return self._occupancy[key]


def load_canonical(img: nib.spatialimages.SpatialImage) -> tuple[np.ndarray, np.ndarray]:
    """The image's data (float32) and affine in the closest canonical (RAS) voxel order."""
    if img.ndim == 4 and img.shape[3] == 1:
        img = img.slicer[..., 0]
    if img.ndim != 3:
        raise BenchmarkError(
            f"expected a 3-D volume, got shape {img.shape}; pass one 3-D head scan",
            getattr(img, "get_filename", lambda: None)(),
        )
    can = nib.as_closest_canonical(img)
    return np.ascontiguousarray(can.get_fdata(dtype=np.float32)), can.affine.astype(np.float64)


def prepare_volume(img: nib.spatialimages.SpatialImage, *, max_ratio: float = 1.5) -> PreparedVolume:
    """Canonicalise, crop to the head, resample thick axes, smooth lightly, pre-compute block maxima.

    The automatic threshold is taken on the canonical data (before cropping, so it does not depend
    on the crop). The grid is cropped to the blocks holding anything above a quarter of it (so a
    threshold override down to that level still finds the whole surface). An axis whose spacing
    exceeds ``max_ratio`` times the finest one is then smoothed across slices by a [1, 2, 1] / 4
    filter (which removes the odd/even slice intensity alternation of multi-slice scans, seen as
    stripes) and upsampled by the integer factor that brings it closest to the finest spacing with
    the cubic B-spline basis (no terraces, no ripples between slices). Every axis is finally
    smoothed by a [1, 2, 1] / 4 filter (a Gaussian of sigma 0.7 working voxels).
    """
    data, affine = load_canonical(img)
    if not np.all(np.isfinite(data)):
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    threshold = surface_threshold(data[::2, ::2, ::2])
    vol = torch.from_numpy(data)
    vol, affine = _crop(vol, affine, CROP_FRACTION * threshold)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    fine = float(zooms.min())
    for axis in range(3):
        factor = int(round(zooms[axis] / fine))
        if zooms[axis] > max_ratio * fine and factor > 1 and vol.shape[axis] > 3:
            # [1, 2, 1] across thick slices cancels slice-to-slice intensity alternation (stripes)
            n = vol.shape[axis]
            vol = _upsample_axis(_binomial_axis(vol, axis), axis, factor)
            scale = np.eye(4)
            scale[axis, axis] = (n - 1) / (vol.shape[axis] - 1)
            affine = affine @ scale
    vol = binomial_smooth(vol, (1, 1, 1))
    spacing = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).min())
    blockmax = block_max(vol)
    return PreparedVolume(
        data=vol.contiguous(),
        affine=affine,
        spacing=spacing,
        threshold=threshold,
        source_affine=np.asarray(img.affine, dtype=np.float64),
        source_shape=tuple(int(s) for s in img.shape[:3]),
        blockmax=blockmax.contiguous(),
    )


def _crop(vol: torch.Tensor, affine: np.ndarray, level: float) -> tuple[torch.Tensor, np.ndarray]:
    """The box of BLOCK-sized blocks holding values >= ``level``, plus one block, and its affine."""
    nz = torch.nonzero(block_max(vol) >= level)
    if len(nz) == 0:
        return vol, affine
    lo = np.maximum((nz.min(0).values.numpy() - 1) * BLOCK, 0)
    hi = np.minimum((nz.max(0).values.numpy() + 2) * BLOCK, np.array(vol.shape))
    if np.prod(hi - lo) > 0.9 * vol.numel():
        return vol, affine
    shift = np.eye(4)
    shift[:3, 3] = lo
    return vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], affine @ shift


def block_max(vol: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Maximum over block^3 voxel blocks (the last partial blocks included)."""
    pad = [(-s) % block for s in vol.shape]
    if any(pad):
        vol = F.pad(vol[None], (0, pad[2], 0, pad[1], 0, pad[0]), value=float("-inf"))[0]
    I, J, K = vol.shape
    out = vol.reshape(I, J, K // block, block).amax(3)
    out = out.reshape(I, J // block, block, K // block).amax(2)
    return out.reshape(I // block, block, J // block, K // block).amax(1)


def _upsample_axis(vol: torch.Tensor, axis: int, factor: int) -> torch.Tensor:
    """Upsample one axis by ``factor`` with the cubic B-spline basis (C2, no overshoot; a light
    smoothing, unlike interpolating cubics whose iso-surfaces ripple between thick slices).
    Output sample ``k * factor + p`` lies at input position ``k + p / factor``."""
    moved = vol.movedim(axis, -1)
    n = moved.shape[-1]
    padded = torch.cat([moved[..., :1], moved, moved[..., -1:], moved[..., -1:]], -1)  # samples i-1 .. i+2
    phases = []
    for p in range(factor):
        t = p / factor
        weights = ((1 - t) ** 3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6, t**3 / 6)
        out = padded[..., 0:n] * weights[0]
        for j in range(1, 4):
            out.add_(padded[..., j : j + n], alpha=weights[j])
        phases.append(out)
    up = torch.stack(phases, -1).reshape(*moved.shape[:-1], n * factor)[..., : (n - 1) * factor + 1]
    return up.movedim(-1, axis).contiguous()


def binomial_smooth(vol: torch.Tensor, passes: tuple[int, int, int] = (1, 1, 1)) -> torch.Tensor:
    """Separable [1, 2, 1] / 4 blur (a Gaussian of sigma sqrt(passes / 2) voxels), edges replicated."""
    out = vol
    for axis, count in enumerate(passes):
        for _ in range(count):
            out = _binomial_axis(out, axis)
    return out


def _binomial_axis(v: torch.Tensor, axis: int) -> torch.Tensor:
    n = v.shape[axis]
    if n < 2:
        return v.clone()
    out = v * 0.5
    out.narrow(axis, 1, n - 1).add_(v.narrow(axis, 0, n - 1), alpha=0.25)
    out.narrow(axis, 0, n - 1).add_(v.narrow(axis, 1, n - 1), alpha=0.25)
    out.narrow(axis, 0, 1).add_(v.narrow(axis, 0, 1), alpha=0.25)
    out.narrow(axis, n - 1, 1).add_(v.narrow(axis, n - 1, 1), alpha=0.25)
    return out


def _head_blocks(blockmax: torch.Tensor, threshold: float) -> torch.Tensor:
    """Blocks above threshold in the head's connected component(s), dilated by one block.

    Small detached islands (noise, ghosting, markers) smaller than 5% of the largest component
    are dropped, so rays pass through them.
    """
    from scipy import ndimage

    above = (blockmax >= threshold).numpy()
    labels, n = ndimage.label(above, structure=np.ones((3, 3, 3), bool))
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
        above = np.isin(labels, keep)
    occ = torch.from_numpy(above.astype(np.float32))[None, None]
    occ = F.max_pool3d(occ, 3, 1, 1)[0, 0] > 0
    return occ.contiguous()


def block_mean(vol: torch.Tensor, f: int) -> torch.Tensor:
    """Mean over f^3 voxel blocks (partial blocks at the far edges averaged over what they hold)."""
    if f == 1:
        return vol
    return F.avg_pool3d(vol[None, None], f, f, ceil_mode=True, count_include_pad=False)[0, 0]
