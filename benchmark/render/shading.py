"""Surface shading: Lambert or Phong with a light set relative to the camera; optional albedo."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.errors import BenchmarkError

SHININESS = 20.0


def phong(normals: torch.Tensor, to_eye: torch.Tensor, light: torch.Tensor, ambient: float, specular: float):
    """Diffuse factor (ambient + (1 - ambient) * max(0, n.l)) and specular term, per point (N,)."""
    ndl = normals @ light
    diffuse = ambient + (1.0 - ambient) * ndl.clamp(min=0.0)
    if specular <= 0:
        return diffuse, torch.zeros_like(diffuse)
    refl = 2.0 * ndl[:, None] * normals - light
    spec = specular * ((refl * to_eye).sum(1).clamp(min=0.0) ** SHININESS) * (ndl > 0)
    return diffuse, spec


class Albedo:
    """An (X, Y, Z, 3) colour volume on the input image's own voxel grid, sampled trilinearly; or one
    RGB colour (3,) everywhere (a skin albedo for a scan, which has no colour of its own)."""

    def __init__(self, albedo: np.ndarray, affine: np.ndarray, shape: tuple[int, int, int]):
        albedo = np.asarray(albedo, dtype=np.float32)
        self.uniform = torch.from_numpy(albedo.copy()) if albedo.shape == (3,) else None
        if self.uniform is not None:
            if not np.all((albedo >= 0) & (albedo <= 1)):
                raise BenchmarkError(f"albedo colour {albedo.tolist()} is not RGB in [0, 1]")
            return
        if albedo.shape != (*shape, 3):
            raise BenchmarkError(
                f"albedo has shape {albedo.shape}; expected {(*shape, 3)} "
                "(the input image's own voxel grid, in its own voxel order, with 3 colour channels)"
            )
        self.vol = torch.from_numpy(np.ascontiguousarray(np.moveaxis(albedo, -1, 0)))[None]  # (1, 3, X, Y, Z)
        self.inv = np.linalg.inv(affine)
        self.shape = np.array(shape, dtype=np.float64)

    def at(self, world: np.ndarray) -> torch.Tensor:
        """(N, 3) colours at world points (N, 3); points beyond the grid take the edge colour."""
        if self.uniform is not None:
            return self.uniform.expand(len(world), 3)
        ijk = np.clip(world @ self.inv[:3, :3].T + self.inv[:3, 3], 0, self.shape - 1)
        g = (ijk[:, ::-1] * (2.0 / np.maximum(self.shape[::-1] - 1, 1)) - 1.0).astype(np.float32)
        g = torch.from_numpy(np.ascontiguousarray(g)).reshape(1, 1, 1, -1, 3)
        return F.grid_sample(self.vol, g, align_corners=True).reshape(3, -1).T
