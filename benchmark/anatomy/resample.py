"""Trilinear resampling of a voxel array through a voxel-to-voxel affine (torch, in slabs)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resample_voxels(
    src: np.ndarray, vox: np.ndarray, shape: tuple[int, ...], edge: str = "zeros", slab: int = 32
) -> np.ndarray:
    """Trilinear ``out[v] = src[vox @ v]`` for a 4x4 voxel-to-voxel matrix (torch, in slabs to bound memory).

    ``edge``: "zeros" pads with 0 outside ``src``, "border" repeats its edge values.
    """
    source = torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32))[None, None]
    m = torch.from_numpy(np.asarray(vox, dtype=np.float64)[:3]).float()
    scale = torch.tensor([2.0 / max(n - 1, 1) for n in src.shape])
    j = torch.arange(shape[1], dtype=torch.float32)[None, :, None, None]
    k = torch.arange(shape[2], dtype=torch.float32)[None, None, :, None]
    out = np.empty(shape, dtype=np.float32)
    with torch.no_grad():
        jk = m[:, 1] * j + m[:, 2] * k + m[:, 3]  # (1, J, K, 3)
        for start in range(0, shape[0], slab):
            i = torch.arange(start, min(start + slab, shape[0]), dtype=torch.float32)[:, None, None, None]
            coords = (m[:, 0] * i + jk) * scale - 1.0  # source voxel index -> [-1, 1], axes (a0, a1, a2)
            grid = coords.flip(-1)[None]  # grid_sample wants (x, y, z) = (a2, a1, a0)
            res = F.grid_sample(source, grid, mode="bilinear", padding_mode=edge, align_corners=True)
            out[start : start + i.shape[0]] = res[0, 0].numpy()
    return out
