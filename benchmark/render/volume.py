"""Volume preparation shared by every view: working grid, near-isotropic resampling, light smoothing.

The working grid is the input's voxel grid, decimated where its voxels are finer than the
recogniser needs (:data:`WORK_MM`; read in the array's memory order, so a Fortran-ordered NIfTI is
never transposed at full size), put in the closest canonical (RAS) voxel order, and with any thick
axis upsampled by cubic B-splines so that voxels are near-isotropic; its affine maps working voxel
indices to RAS mm and travels with the array. Voxels need not be axis-aligned in world space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.errors import BenchmarkError
from benchmark.core.memo import Recent
from benchmark.core.files import sha256_array

from benchmark.render.threshold import surface_threshold

BLOCK = 4  # voxels per side of an empty-space-skipping block
CROP_FRACTION = 0.25  # the grid is cropped to what exceeds this fraction of the automatic threshold (above the floor)
WORK_MM = 2.0  # working voxel size (mm) that finer inputs are decimated to (see prepare_volume)


@dataclass
class PreparedVolume:
    """A volume ready for ray casting: smoothed float32 data on a near-isotropic grid (affine to RAS mm)."""

    data: torch.Tensor  # (I, J, K) float32, smoothed, working grid
    affine: np.ndarray  # (4, 4) working voxel (i, j, k) -> RAS mm
    spacing: float  # working voxel size, mm (the smallest of the three)
    threshold: float  # automatic head/air threshold, in the input's intensity units
    floor: float  # the input's minimum (a subsample's), subtracted from ``data``: the air is near 0
    source_affine: np.ndarray  # the input image's own affine (albedo grids use it)
    source_shape: tuple[int, int, int]
    blockmax: torch.Tensor  # (I/B, J/B, K/B) max of data over BLOCK^3 voxel blocks
    _occupancy: dict[float, torch.Tensor] = field(default_factory=dict, repr=False)
    _gradient: torch.Tensor | None = field(default=None, repr=False)
    _poses: dict = field(default_factory=dict, repr=False)  # head poses by threshold (benchmark.render.pose)

    @property
    def level(self) -> float:
        """The automatic threshold in ``data``'s units (above the floor)."""
        return self.threshold - self.floor

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    def gradient(self) -> torch.Tensor:
        """(1, 3, I, J, K) central differences v[n + 1] - v[n - 1] along k, j, i (grid_sample's x, y, z
        order), zero outside the grid: trilinear samples of it equal the central differences of
        trilinear samples one voxel apart, at a third of the cost (computed once, shared by views)."""
        if self._gradient is None:
            v = self.data
            out = torch.zeros((1, 3, *v.shape), dtype=v.dtype)
            for channel, axis in enumerate((2, 1, 0)):
                n = v.shape[axis]
                d = out[0, channel]
                if n > 1:
                    d.narrow(axis, 0, n - 1).add_(v.narrow(axis, 1, n - 1))
                    d.narrow(axis, 1, n - 1).sub_(v.narrow(axis, 0, n - 1))
            self._gradient = out
        return self._gradient

    def occupancy(self, threshold: float) -> torch.Tensor:
        """Blocks that may hold surface at ``threshold``: the head's connected blocks, dilated by one."""
        key = float(threshold)
        if key not in self._occupancy:
            self._occupancy[key] = _head_blocks(self.blockmax, key)
        return self._occupancy[key]


def load_array(img: nib.spatialimages.SpatialImage) -> tuple[np.ndarray, np.ndarray]:
    """The image's data (float32) in its memory order, without a copy where possible, and its affine.

    Axes are permuted and flipped so that the array is C-ordered with positive strides (a NIfTI's
    Fortran-ordered array becomes its transpose); the affine follows, so the voxel order does not
    matter (a transposing copy of a 256^3 volume costs as much as decompressing it).
    """
    if img.ndim == 4 and img.shape[3] == 1:
        img = img.slicer[..., 0]
    if img.ndim != 3:
        raise BenchmarkError(
            f"expected a 3-D volume, got shape {img.shape}; pass one 3-D head scan",
            getattr(img, "get_filename", lambda: None)(),
        )
    arr = img.get_fdata(dtype=np.float32)
    affine = np.asarray(img.affine, dtype=np.float64)
    for axis in range(3):
        if arr.strides[axis] < 0:
            arr = np.flip(arr, axis)
            flip = np.eye(4)
            flip[axis, axis], flip[axis, 3] = -1.0, arr.shape[axis] - 1
            affine = affine @ flip
    order = [int(a) for a in np.argsort([-s for s in arr.strides], kind="stable")]
    arr = arr.transpose(order)
    perm = np.zeros((4, 4))
    for new, old in enumerate(order):
        perm[old, new] = 1.0
    perm[3, 3] = 1.0
    return np.ascontiguousarray(arr), affine @ perm


def to_canonical(vol: torch.Tensor, affine: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The volume in the closest canonical (RAS) voxel order (``nibabel.as_closest_canonical``'s),
    contiguous, with its affine: the head pose's sampling follows the voxel order."""
    ornt = nib.orientations.io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return vol, affine
    t_aff = nib.orientations.inv_ornt_aff(ornt, tuple(vol.shape))
    order = [int(a) for a in np.argsort(ornt[:, 0])]  # input axis that becomes output axis n
    out = vol.permute(*order)
    flips = [n for n, a in enumerate(order) if ornt[a, 1] < 0]
    if flips:
        out = out.flip(flips)
    return out.contiguous(), affine @ t_aff


def working_factors(zooms: np.ndarray, spacing: float) -> list[int]:
    """Integer decimation factor per axis: the one bringing the voxel size closest to ``spacing``,
    without exceeding it by more than a quarter (1 where the voxels are already that coarse)."""
    out = []
    for z in zooms:
        f = max(1, int(round(spacing / z)))
        while f > 1 and f * z > 1.25 * spacing:
            f -= 1
        out.append(f)
    return out


def prepare_volume(
    img: nib.spatialimages.SpatialImage, *, max_ratio: float = 1.5, spacing: float | None = None
) -> PreparedVolume:
    """Smooth and decimate to the working grid, crop to the head, resample thick axes, pre-compute block maxima.

    The working grid (``spacing`` mm, default :data:`WORK_MM`) matches what the recogniser can
    see: a 256-pixel view spans the head at about 1 mm per pixel and ArcFace's 112-pixel aligned
    crop samples the face at about 1.6 mm per pixel, so finer voxels only cost time. An axis finer
    than that is smoothed by the [1, 2, 1] / 4 filter's f-fold extension (a triangle of half-width
    f voxels, an antialiasing linear filter) and decimated by the integer factor f, in one pass
    over the array in its memory order (the affine follows); only the decimated grid is then put in
    RAS voxel order (the head pose's point sampling follows the voxel order: keeping nibabel's
    canonical order keeps the pose as it was).

    The automatic threshold is taken on a strided subsample of the input (before cropping, so it
    does not depend on the crop). The grid is cropped to the blocks holding anything above a
    quarter of it above the input's minimum (so a threshold override down to that level still finds the whole surface). An
    axis whose spacing exceeds ``max_ratio`` times the finest one is then smoothed across slices by
    a [1, 2, 1] / 4 filter (which removes the odd/even slice intensity alternation of multi-slice
    scans, seen as stripes) and upsampled by the integer factor that brings it closest to the
    finest spacing with the cubic B-spline basis (no terraces, no ripples between slices). Every
    axis that was not decimated is finally smoothed by a [1, 2, 1] / 4 filter (a Gaussian of sigma
    0.7 working voxels).
    """
    data, affine = load_array(img)
    key = (sha256_array(data), affine.tobytes(), np.asarray(img.affine, np.float64).tobytes(),
           tuple(int(n) for n in img.shape[:3]), float(max_ratio), spacing)
    prep = _PREPARED.recall(key)  # the same voxels prepared for another attack (shape after the renders, say)
    return prep if prep is not None else _PREPARED.keep(key, _prepare(img, data, affine, max_ratio, spacing))


#: :func:`prepare_volume`'s last results by content, in this process: a volume's attacks (the renders, ``shape``)
#: prepare the same voxels one after another, and the prepared volume keeps what they compute from it (head
#: pose, occupancy, gradient). Its users only read it.
_PREPARED: Recent = Recent(2)


def clear_prepared_memo() -> None:
    """Forget the prepared volumes (and their head poses) kept for the next caller (benchmarks; tests)."""
    _PREPARED.clear()


def _prepare(img, data: np.ndarray, affine: np.ndarray, max_ratio: float, spacing: float | None) -> PreparedVolume:
    step = max(2, int(round((data.size / 500_000) ** (1 / 3))))
    sample = data[::step, ::step, ::step]
    threshold = surface_threshold(sample)
    finite = sample[np.isfinite(sample)]
    floor = float(finite.min()) if finite.size else 0.0
    vol = torch.from_numpy(data)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    factors = working_factors(zooms, WORK_MM if spacing is None else float(spacing))
    vol, affine = decimate(vol, affine, factors)
    if not math.isfinite(float(vol.sum(dtype=torch.float64))):  # NaN and Inf survive the filter: clean the input
        clean = torch.from_numpy(np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0))
        vol, _ = decimate(clean, np.asarray(img.affine), factors)
    vol = vol - floor  # the air near 0 whatever the input's offset (samples outside the grid are 0 too)
    vol, affine = to_canonical(vol, affine)  # RAS voxel order, as nibabel's, on the small grid (cheap)
    vol, affine = _crop(vol, affine, CROP_FRACTION * (threshold - floor))
    vol, affine = _resample_thick_axes(vol, affine, max_ratio)
    vol = binomial_smooth(vol, tuple(int(f == 1) for f in factors))
    spacing = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).min())
    blockmax = block_max(vol)
    return PreparedVolume(
        data=vol.contiguous(),
        affine=affine,
        spacing=spacing,
        threshold=threshold,
        floor=floor,
        source_affine=np.asarray(img.affine, dtype=np.float64),
        source_shape=tuple(int(s) for s in img.shape[:3]),
        blockmax=blockmax.contiguous(),
    )


def _resample_thick_axes(vol: torch.Tensor, affine: np.ndarray, max_ratio: float) -> tuple[torch.Tensor, np.ndarray]:
    """Each axis thicker than ``max_ratio`` times the finest: smoothed across slices by [1, 2, 1] / 4 and
    upsampled by the integer factor closest to the finest spacing (cubic B-spline); the affine follows."""
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
    return vol, affine


def decimate(vol: torch.Tensor, affine: np.ndarray, factors) -> tuple[torch.Tensor, np.ndarray]:
    """Smooth each axis by a triangle of half-width f (weights (f - |k|) / f^2, edges replicated) and
    keep every f-th voxel, the first axis first (the largest reduction on contiguous planes)."""
    for axis, f in enumerate(factors):
        if f > 1 and vol.shape[axis] > 1:
            vol = _decimate_axis(vol, axis, int(f))
    scale = np.diag([float(f) for f in factors] + [1.0])
    return vol, affine @ scale


def _decimate_axis(v: torch.Tensor, axis: int, f: int) -> torch.Tensor:
    n = v.shape[axis]
    m = (n - 1) // f + 1  # output o lies on input f * o

    def taps(start: int, count: int) -> torch.Tensor:
        idx = [slice(None)] * v.ndim
        idx[axis] = slice(start, start + f * (count - 1) + 1, f)
        return v[tuple(idx)]

    out = taps(0, m) * (1.0 / f)
    for k in range(1, f):
        w = (f - k) / f**2
        for sign in (-1, 1):
            off = sign * k
            lo = -(-max(0, -off) // f)  # first o with f * o + off >= 0
            hi = min(m - 1, (n - 1 - off) // f)  # last o with f * o + off <= n - 1
            if hi >= lo:
                out.narrow(axis, lo, hi - lo + 1).add_(taps(f * lo + off, hi - lo + 1), alpha=w)
            for o in list(range(0, min(lo, m))) + list(range(max(hi + 1, 0), m)):
                edge = 0 if f * o + off < 0 else n - 1
                out.narrow(axis, o, 1).add_(v.narrow(axis, edge, 1), alpha=w)
    return out.contiguous()


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
