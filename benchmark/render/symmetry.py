"""Coarse head mask and the head's plane of left-right symmetry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.masks import fill_holes, largest_component
from benchmark.render.volume import PreparedVolume, block_mean

COARSE_MM = 4.0
MIN_MIRRORED = 0.5  # a symmetry plane is judged only when this fraction of mirrored samples is in view


@dataclass
class CoarseHead:
    """The head at ~4 mm: intensities, mask, and the mask's voxel centres in world mm."""

    data: np.ndarray  # coarse intensities
    mask: np.ndarray  # largest component above threshold, holes filled
    affine: np.ndarray  # coarse voxel -> world
    points: np.ndarray  # (N, 3) world positions of mask voxels
    fov_shape: tuple[int, int, int] | None = None  # the scanned field of view: the source image's grid
    fov_affine: np.ndarray | None = None


def coarse_head(prep: PreparedVolume, threshold: float) -> CoarseHead:
    f = max(1, int(round(COARSE_MM / prep.spacing)))
    data = block_mean(prep.data, f).numpy()
    affine = prep.affine.copy()
    affine[:3, :3] = prep.affine[:3, :3] * f
    affine[:3, 3] = prep.affine[:3, :3] @ np.full(3, (f - 1) / 2.0) + prep.affine[:3, 3]
    mask = data >= threshold
    mask = fill_holes(largest_component(mask))
    points = np.argwhere(mask).astype(np.float64) @ affine[:3, :3].T + affine[:3, 3]  # float: int @ float is slow
    return CoarseHead(data=data, mask=mask, affine=affine, points=points,
                      fov_shape=prep.source_shape, fov_affine=prep.source_affine)


def sample_world(vol: torch.Tensor, affine: np.ndarray, pts) -> np.ndarray:
    """Trilinear samples of a (1, 1, I, J, K) volume with voxel->world ``affine`` at world points (..., 3)."""
    return _sample_t(vol, affine, torch.as_tensor(np.asarray(pts), dtype=torch.float32)).numpy().astype(np.float64)


def _sample_t(vol: torch.Tensor, affine: np.ndarray, pts: torch.Tensor) -> torch.Tensor:
    """Same as :func:`sample_world` on a float32 tensor of points; returns a tensor."""
    inv = np.linalg.inv(affine)
    shape = np.array(vol.shape[2:], dtype=np.float64)
    scale = 2.0 / np.maximum(shape - 1, 1)
    # world -> grid (x, y, z) = (k, j, i) scaled to [-1, 1], as one affine map
    m = (inv[:3, :3] * scale[:, None])[::-1].copy()
    c = (inv[:3, 3] * scale - 1.0)[::-1].copy()
    g = torch.addmm(torch.from_numpy(c).float(), pts.reshape(-1, 3), torch.from_numpy(m.T.copy()).float())
    with torch.no_grad():
        out = F.grid_sample(vol, g.reshape(1, 1, 1, -1, 3), align_corners=True)
    return out.reshape(pts.shape[:-1])


def outside_volume(shape: tuple[int, int, int], affine: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Whether world points (..., 3) fall outside the voxel grid (the field of view)."""
    inv = np.linalg.inv(affine)
    ijk = pts @ inv[:3, :3].T + inv[:3, 3]
    return ((ijk < -0.5) | (ijk > np.array(shape) - 0.5)).any(-1)


def perpendiculars(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing ``n`` to a right-handed orthonormal frame."""
    helper = np.eye(3)[int(np.argmin(np.abs(n)))]
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(n, u)


def symmetry_plane(head: CoarseHead, samples: int = 2000) -> tuple[np.ndarray, float, float]:
    """Unit normal, offset (n . x = offset) and score (mirror correlation) of the head's mid-sagittal plane.

    A body symmetric about a plane has the plane's normal among its principal axes, so the three
    axes of the head mask are tried; the one whose mirror image best correlates with the volume's
    intensities is refined by a coarse-to-fine search over tilt and offset.
    """
    pts = head.points
    centroid = pts.mean(0)
    rng = np.random.default_rng(0)
    sample_np = pts[rng.choice(len(pts), size=min(len(pts), samples), replace=False)]
    sample = torch.from_numpy(sample_np.astype(np.float32))
    vol = torch.from_numpy(np.ascontiguousarray(head.data, dtype=np.float32))[None, None]
    a = _sample_t(vol, head.affine, sample)
    a = a - a.mean()

    fov_shape = head.data.shape if head.fov_shape is None else head.fov_shape
    inv = np.linalg.inv(head.affine if head.fov_affine is None else head.fov_affine)
    inv_m = torch.from_numpy(inv[:3, :3].T.astype(np.float32))
    inv_t = torch.from_numpy(inv[:3, 3].astype(np.float32))
    hi = torch.tensor(fov_shape, dtype=torch.float32) - 0.5

    def scores(normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        # correlation over the points whose mirror image lies inside the field of view: a head cut by
        # the field of view is judged on what was scanned on both sides, not on the missing part
        n = torch.from_numpy(normals.astype(np.float32))
        dist = sample @ n.T - torch.from_numpy(offsets.astype(np.float32))  # (S, C)
        refl = sample[None] - 2.0 * dist.T[..., None] * n[:, None, :]  # (C, S, 3)
        b = _sample_t(vol, head.affine, refl)
        ijk = refl @ inv_m + inv_t
        w = ((ijk >= -0.5) & (ijk <= hi)).all(-1).float()  # (C, S)
        cnt = w.sum(1).clamp(min=1.0)
        ma = (w * a).sum(1) / cnt
        mb = (w * b).sum(1) / cnt
        da, db = (a[None] - ma[:, None]) * w, (b - mb[:, None]) * w
        r = (da * db).sum(1) / (da.norm(dim=1) * db.norm(dim=1) + 1e-12)
        # too few mirrored points inside the field of view: no evidence for that plane
        return torch.where(w.mean(1) >= MIN_MIRRORED, r, torch.full_like(r, -1.0)).numpy()

    axes = np.linalg.eigh(np.cov((pts - centroid).T))[1].T
    start = scores(axes, axes @ centroid)
    normal = axes[int(np.argmax(start))]
    offset = float(normal @ centroid)
    best = float(start.max())
    for span, steps in ((16.0, 5), (6.0, 3), (2.0, 3)):
        u, v = perpendiculars(normal)
        angles = np.deg2rad(np.linspace(-span, span, steps))
        ta, tb = np.meshgrid(np.tan(angles), np.tan(angles), indexing="ij")
        cands = normal + ta.ravel()[:, None] * u + tb.ravel()[:, None] * v
        cands /= np.linalg.norm(cands, axis=1, keepdims=True)
        shifts = np.linspace(-span / 2, span / 2, 3)
        normals = np.repeat(cands, len(shifts), axis=0)
        base = offset - normal @ centroid  # keep the current offset relative to the centroid
        offs = np.repeat(cands @ centroid + base, len(shifts)) + np.tile(shifts, len(cands))
        s = scores(normals, offs)
        i = int(np.argmax(s))
        if s[i] > best:
            best, normal, offset = float(s[i]), normals[i], float(offs[i])
    return normal / np.linalg.norm(normal), offset, best


def symmetric_half_width(side: np.ndarray, mid: float, percent: float) -> float:
    """Half the head's breadth from positions ``side`` (mm along the left-right axis) of its voxels and
    the mid-sagittal plane's position ``mid``: the wider of the two sides between the ``percent`` and
    ``100 - percent`` percentiles, so a head cut on one side by the field of view keeps its breadth."""
    lo, hi = np.percentile(side, [percent, 100.0 - percent])
    return float(max(hi - mid, mid - lo, 0.5 * (hi - lo)))
