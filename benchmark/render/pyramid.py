"""Depth image of a view: a low-resolution pass guides the full-resolution rays."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.render.datatypes import Camera
from benchmark.render.raycast import GUIDE_STEP, Caster

def levels(size: int) -> list[int]:
    """Sampling factors of the pyramid, coarsest first: 4, 1 for 256 pixels (64, then 256 rays a side).

    (A third level at 1/8 saves little and loses thin silhouette features.)
    """
    return [4, 1] if size >= 64 else [1]


def cast_depth(caster: Caster, camera: Camera, size: int) -> torch.Tensor:
    """(size, size) depth along each pixel's ray (inf = miss), coarse to fine.

    The coarsest level casts from the head's box with empty-space skipping. Each finer level casts
    only the pixels whose coarser 3x3 neighbourhood hit anything, starting a little before the
    bilinear prediction where the four coarser neighbours hit (else before the nearest depth
    around), and stopping a little past the farthest; rays found to start inside the head are
    recast from the safe start, then from the box.
    """
    factors = levels(size)
    depth = None
    for i, f in enumerate(factors):
        n = -(-size // f)
        if depth is None:
            depth = _cast_grid(caster, camera, size, f, n)
        else:
            k = factors[i - 1] // f
            depth = _refine_level(caster, camera, size, f, n, depth, k)
    return depth


def _refine_level(caster, camera, size, f, n, coarse, k) -> torch.Tensor:
    t_lo = coarse[None, None]
    finite = torch.isfinite(t_lo)
    zeroed = torch.where(finite, t_lo, torch.zeros_like(t_lo))
    nearest = -F.max_pool2d(-t_lo, 3, 1, 1)  # min over the 3x3 neighbourhood (inf = miss)
    farthest = F.max_pool2d(zeroed, 3, 1, 1)

    def up(x: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
        if mode == "nearest":
            x = x.repeat_interleave(k, 2).repeat_interleave(k, 3)
        else:
            x = F.interpolate(x, scale_factor=k, mode="bilinear", align_corners=False)
        return x[0, 0, :n, :n]

    weight = up(finite.float(), "bilinear")
    predicted = up(zeroed, "bilinear") / weight.clamp(min=1e-6)
    safe = up(nearest)
    guess = torch.where(weight > 0.999, torch.maximum(predicted - 1.5 * caster.prep.spacing, safe), safe)
    return _cast_grid(caster, camera, size, f, n, guess, safe, up(farthest))


def _cast_grid(caster: Caster, camera: Camera, size: int, f: int, n: int, guess=None, safe=None, until=None):
    """Depth (n, n) of the rays through pixel positions u * f + (f - 1) / 2 (u < n) of the image."""
    depth = torch.full((n * n,), float("inf"))
    if guess is None:
        idx = torch.arange(n * n)
    else:
        idx = torch.nonzero(torch.isfinite(safe.reshape(-1))).squeeze(1)
    if len(idx) == 0:
        return depth.reshape(n, n)
    ys, xs = np.divmod(idx.numpy(), n)
    centre = lambda u: np.minimum(u * f + (f - 1) / 2.0, size - 1)  # noqa: E731
    dirs, origin = camera.rays(centre(xs).astype(np.float64), centre(ys).astype(np.float64))
    rays = caster.make_rays(origin, dirs)
    if guess is None:  # a pass that only guides finer ones steps more coarsely
        t, _ = caster.cast(rays, step=GUIDE_STEP * caster.prep.spacing if f > 1 else None)
    else:
        margin = 2.0 * caster.prep.spacing
        t_end = until.reshape(-1)[idx] + 2 * margin
        t, inside = caster.cast(rays, t_start=guess.reshape(-1)[idx], t_end=t_end)
        redo = torch.nonzero(inside).squeeze(1)
        if len(redo):
            sub = rays.subset(redo)
            t2, inside2 = caster.cast(sub, t_start=safe.reshape(-1)[idx[redo]] - margin, t_end=t_end[redo])
            again = torch.nonzero(inside2).squeeze(1)
            if len(again):
                t2[again], _ = caster.cast(sub.subset(again))
            t[redo] = t2
    depth[idx] = t
    return depth.reshape(n, n)
