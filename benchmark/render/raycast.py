"""Iso-surface ray casting on a :class:`PreparedVolume` with torch ``grid_sample``.

Rays are marched in world millimetres (``t`` is the depth along a unit world ray) but carried in
grid_sample's normalised coordinates (for trilinear samples) and in block coordinates (for the
empty-space-skipping occupancy grid). The surface is found by fine steps, then refined by regula
falsi between the last outside and first inside sample; normals are central differences of the
smoothed volume at the hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.render.volume import BLOCK, PreparedVolume

FINE_STEP = 0.7  # working voxels per fine step
GUIDE_STEP = 1.0  # working voxels per fine step of a guiding (low-resolution) pass: its depths are only guesses
FINE_CHUNK = 12  # fine samples per batch
FIRST_CHUNK = 4  # fine samples of a guided ray's first batch (its surface is expected within it)
SKIP_CHUNK = 24  # occupancy samples per batch
REFINE_ITERS = 2


@dataclass
class Rays:
    """Rays p(t) = origin + t * direction (t in world mm), in grid and in block coordinates."""

    origin_g: torch.Tensor  # (3,) grid_sample coordinates (x, y, z in [-1, 1]) of the camera
    dir_g: torch.Tensor  # (N, 3) grid coordinates per mm
    origin_b: torch.Tensor  # (3,) padded block coordinates of the camera
    dir_b: torch.Tensor  # (N, 3)
    t_near: torch.Tensor  # (N,) entry into the head's box (mm)
    t_far: torch.Tensor  # (N,) exit (mm); t_far < t_near where the ray misses

    def subset(self, idx: torch.Tensor) -> "Rays":
        return Rays(self.origin_g, self.dir_g[idx], self.origin_b, self.dir_b[idx], self.t_near[idx], self.t_far[idx])

    def points_g(self, idx: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Grid coordinates of rays ``idx`` at depths ``t`` ((n,) or (n, k)) -> (..., 3)."""
        d = self.dir_g[idx]
        if t.ndim == 2:
            return torch.addcmul(self.origin_g, t[..., None], d[:, None, :])
        return torch.addcmul(self.origin_g, t[:, None], d)


class Caster:
    """Casts rays into one prepared volume at one threshold."""

    def __init__(self, prep: PreparedVolume, threshold: float):
        self.prep = prep
        self.threshold = float(threshold)
        self.vol = prep.data[None, None]
        occ = prep.occupancy(threshold)
        self.inv = np.linalg.inv(prep.affine)
        shape = np.array(prep.shape, dtype=np.float64)
        # voxel (i, j, k) -> grid (x, y, z) = (k, j, i) * 2 / (n - 1) - 1, as a 4x4 map
        to_grid = np.zeros((4, 4))
        scale = 2.0 / np.maximum(shape - 1, 1)
        for a in range(3):
            to_grid[2 - a, a] = scale[a]
        to_grid[:3, 3] = -1.0
        to_grid[3, 3] = 1.0
        self.world_to_grid = to_grid @ self.inv
        self.grid_step = torch.tensor(scale[::-1].copy(), dtype=torch.float32)  # one voxel, in grid units (x, y, z)
        padded = F.pad(occ, (1, 1, 1, 1, 1, 1))  # a ring of empty blocks catches points outside
        self._occ_flat = padded.reshape(-1)
        self._omax = torch.tensor(padded.shape, dtype=torch.float32) - 1
        self._ostride = torch.tensor([padded.shape[1] * padded.shape[2], padded.shape[2], 1], dtype=torch.float32)
        to_block = np.eye(4) / BLOCK
        to_block[:3, 3] = 1.0
        to_block[3, 3] = 1.0
        self.world_to_block = to_block @ self.inv
        zooms = np.sqrt((prep.affine[:3, :3] ** 2).sum(axis=0))
        self.skip_step = 0.5 * BLOCK * float(zooms.min())  # <= half a block along every axis
        self.fine_step = FINE_STEP * prep.spacing
        nz = occ.nonzero()
        if len(nz):  # box of occupied blocks, in block coordinates (padded)
            lo = nz.min(0).values.float() + 1.0
            hi = nz.max(0).values.float() + 2.0
            self.box = (lo, hi)
        else:
            self.box = None

    # -- geometry -----------------------------------------------------------------------------
    def make_rays(self, origin_world: np.ndarray, dirs_world: np.ndarray) -> Rays:
        def lin(m, o, d):
            return (
                torch.tensor(m[:3, :3] @ o + m[:3, 3], dtype=torch.float32),
                torch.from_numpy((dirs_world @ m[:3, :3].T).astype(np.float32)),
            )

        og, dg = lin(self.world_to_grid, origin_world, dirs_world)
        ob, db = lin(self.world_to_block, origin_world, dirs_world)
        n = dg.shape[0]
        if self.box is None:
            return Rays(og, dg, ob, db, torch.zeros(n), torch.full((n,), -1.0))
        lo, hi = self.box
        safe = torch.where(db.abs() < 1e-12, torch.full_like(db, 1e-12), db)
        t1 = (lo - ob) / safe
        t2 = (hi - ob) / safe
        t_near = torch.minimum(t1, t2).max(dim=1).values.clamp(min=0.0)
        t_far = torch.maximum(t1, t2).min(dim=1).values
        return Rays(og, dg, ob, db, t_near, t_far)

    def sample(self, g: torch.Tensor) -> torch.Tensor:
        """Trilinear samples at grid coordinates (..., 3); zero outside the volume."""
        out = F.grid_sample(self.vol, g.reshape(1, 1, 1, -1, 3), mode="bilinear", padding_mode="zeros", align_corners=True)
        return out.reshape(g.shape[:-1])

    def occupied(self, rays: Rays, idx: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Whether rays ``idx`` at depths ``t`` (n, k) lie in an occupied block."""
        b = torch.addcmul(rays.origin_b, t[..., None], rays.dir_b[idx][:, None, :]).floor_()
        b = torch.minimum(b.clamp_(min=0.0), self._omax)
        return self._occ_flat[(b @ self._ostride).long()]

    # -- marching -----------------------------------------------------------------------------
    def cast(
        self,
        rays: Rays,
        t_start: torch.Tensor | None = None,
        t_end: torch.Tensor | None = None,
        max_iters: int = 64,
        step: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth of the first surface crossing along each ray (inf where none) and a flag for rays
        whose ``t_start`` guess was already inside the head (to be recast from a safer start).

        Without ``t_start`` rays start at the box entry with empty-space skipping; with it they
        start with fine steps from the guess. ``t_end`` stops rays early (default: the box exit).
        ``step`` is the fine step in mm (default ``FINE_STEP`` working voxels).
        """
        fine_step = self.fine_step if step is None else float(step)
        n = rays.dir_g.shape[0]
        t_far = rays.t_far if t_end is None else torch.minimum(rays.t_far, t_end)
        t_hit = torch.full((n,), float("inf"))
        started_inside = torch.zeros(n, dtype=torch.bool)
        alive = t_far > rays.t_near
        guided = t_start is not None
        t = (torch.maximum(t_start, rays.t_near) if guided else rays.t_near).clone()
        checked = t.clone()  # everything before it is known to be outside
        fine_phase = torch.full((n,), guided, dtype=torch.bool)
        first_fine = torch.full((n,), guided, dtype=torch.bool)
        thr = self.threshold
        fine_offsets = torch.arange(FINE_CHUNK, dtype=torch.float32) * fine_step
        first_offsets = fine_offsets[:FIRST_CHUNK]
        skip_offsets = torch.arange(SKIP_CHUNK, dtype=torch.float32) * self.skip_step
        for _ in range(max_iters):
            idx = torch.nonzero(alive & ~fine_phase).squeeze(1)
            if len(idx):  # empty-space skipping
                ts = t[idx, None] + skip_offsets
                occ = self.occupied(rays, idx, ts) & (ts <= t_far[idx, None])
                found = occ.any(1)
                j = occ.byte().argmax(1)
                back = torch.maximum(t[idx] + (j - 1) * self.skip_step, checked[idx])
                t[idx] = torch.where(found, back, t[idx] + SKIP_CHUNK * self.skip_step)
                fine_phase[idx] = found
                alive[idx[~found & (t[idx] > t_far[idx])]] = False
            idx = torch.nonzero(alive & fine_phase).squeeze(1)
            if len(idx):  # fine steps
                first = guided and bool(first_fine[idx].all())
                offsets = first_offsets if first else fine_offsets
                ts = t[idx, None] + offsets
                v = self.sample(rays.points_g(idx, ts))
                inside = (v >= thr) & (ts <= t_far[idx, None] + fine_step)
                found = inside.any(1)
                k = inside.byte().argmax(1)
                if guided:
                    si = found & (k == 0) & first_fine[idx]
                    started_inside[idx[si]] = True
                    alive[idx[si]] = False
                    found &= ~si
                    first_fine[idx] = False
                sel = torch.nonzero(found).squeeze(1)
                if len(sel):
                    ks = k[sel]
                    vs = v[sel]
                    hi_t = ts[sel].gather(1, ks[:, None]).squeeze(1)
                    hi_v = vs.gather(1, ks[:, None]).squeeze(1)
                    lo_v = torch.where(ks > 0, vs.gather(1, (ks - 1).clamp(min=0)[:, None]).squeeze(1), torch.zeros_like(hi_v))
                    hit = idx[sel]
                    t_hit[hit] = self._refine(rays, hit, hi_t - fine_step, lo_v, hi_t, hi_v)
                    alive[hit] = False
                rest = idx[~found & alive[idx]]
                checked[rest] = t[rest] + (len(offsets) - 1) * fine_step
                t[rest] += len(offsets) * fine_step
                fine_phase[rest] = False
                alive[rest[t[rest] > t_far[rest]]] = False
            if not alive.any():
                break
        return t_hit, started_inside

    def _refine(self, rays: Rays, idx, lo_t, lo_v, hi_t, hi_v) -> torch.Tensor:
        """Regula falsi between an outside (lo) and inside (hi) sample: sub-voxel surface depth."""
        thr = self.threshold
        for _ in range(REFINE_ITERS):
            w = ((thr - lo_v) / (hi_v - lo_v).clamp(min=1e-12)).clamp(0.05, 0.95)
            tm = lo_t + w * (hi_t - lo_t)
            vm = self.sample(rays.points_g(idx, tm))
            inside = vm >= thr
            hi_t, hi_v = torch.where(inside, tm, hi_t), torch.where(inside, vm, hi_v)
            lo_t, lo_v = torch.where(inside, lo_t, tm), torch.where(inside, lo_v, vm)
        w = ((thr - lo_v) / (hi_v - lo_v).clamp(min=1e-12)).clamp(0.0, 1.0)
        return lo_t + w * (hi_t - lo_t)

    def normals(self, g: torch.Tensor) -> torch.Tensor:
        """Outward unit world normals (N, 3) at grid points (N, 3): minus the normalised gradient
        (central differences one voxel apart, sampled from the prepared gradient volume)."""
        grad = F.grid_sample(self.prep.gradient(), g.reshape(1, 1, 1, -1, 3), mode="bilinear", padding_mode="zeros",
                             align_corners=True)
        g_vox = 0.5 * grad.reshape(3, -1).T.flip(1)  # per voxel along i, j, k
        g_world = g_vox @ torch.from_numpy(self.inv[:3, :3].astype(np.float32))  # A^-T grad, row vectors
        return -g_world / g_world.norm(dim=1, keepdim=True).clamp(min=1e-12)
