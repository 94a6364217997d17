"""Images of the head on its mid-sagittal plane (and planes parallel to it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.render.volume import PreparedVolume


@dataclass
class PlaneGrid:
    """A square pixel grid on a plane: pixel (x, y) -> origin + x * ax + y * ay (world mm)."""

    origin: np.ndarray  # world position of pixel (0, 0)
    ax: np.ndarray  # unit world direction of image x (columns)
    ay: np.ndarray  # unit world direction of image y (rows)
    normal: np.ndarray  # unit plane normal
    pixel: float  # mm
    size: int  # pixels per side

    @classmethod
    def centred(cls, centre: np.ndarray, ax: np.ndarray, ay: np.ndarray, pixel: float, size: int) -> "PlaneGrid":
        half = (size - 1) / 2.0 * pixel
        return cls(centre - half * (ax + ay), ax, ay, np.cross(ax, ay), pixel, size)

    def world(self, xy: np.ndarray, offset: float = 0.0) -> np.ndarray:
        """World points (..., 3) of pixel positions (..., 2), shifted ``offset`` mm along the normal."""
        xy = np.asarray(xy, dtype=np.float64)
        return self.origin + self.pixel * (xy[..., :1] * self.ax + xy[..., 1:2] * self.ay) + offset * self.normal

    def direction(self, v: np.ndarray) -> np.ndarray:
        """Unit world vector of an image-plane direction (2,)."""
        w = v[0] * self.ax + v[1] * self.ay
        return w / np.linalg.norm(w)

    def pixels(self) -> np.ndarray:
        yy, xx = np.mgrid[0 : self.size, 0 : self.size].astype(np.float64)
        return np.stack([xx, yy], -1)

    def outside(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        """(size, size) pixels of the plane outside the voxel grid ``shape`` with voxel->world ``affine``."""
        inv = np.linalg.inv(affine)
        m, t = inv[:3, :3], inv[:3, 3]
        r = np.arange(self.size, dtype=np.float64)
        hi = np.asarray(shape[:3], dtype=np.float64) - 0.5
        out = np.zeros((self.size, self.size), bool)
        for a in range(3):  # voxel coordinate a is affine in the pixel position: rows + columns
            rows = (m[a] @ self.origin + t[a]) + r * (m[a] @ (self.pixel * self.ay))
            cols = r * (m[a] @ (self.pixel * self.ax))
            v = rows[:, None] + cols[None, :]
            out |= (v < -0.5) | (v > hi[a])
        return out

    def sample(self, prep: PreparedVolume, offsets: tuple[float, ...] = (0.0,)) -> tuple[np.ndarray, np.ndarray]:
        """Intensities (S, size, size) on the plane shifted by each offset (mm), and where they lie
        outside the volume's field of view (the prepared grid).

        Voxel coordinates are affine in (x, y, offset), so they are built from three voxel-space steps
        (float32) and serve both the trilinear samples and the field-of-view test."""
        inv = np.linalg.inv(prep.affine)
        m, t = inv[:3, :3], inv[:3, 3]

        def vec(v) -> torch.Tensor:
            return torch.from_numpy(np.asarray(v, dtype=np.float32))

        c0, dn = vec(m @ self.origin + t), vec(m @ self.normal)
        dx, dy = vec(m @ (self.pixel * self.ax)), vec(m @ (self.pixel * self.ay))
        r = torch.arange(self.size, dtype=torch.float32)
        ijk = (c0 + r[:, None, None] * dy + r[None, :, None] * dx)[None] + vec(offsets)[:, None, None, None] * dn
        shape = np.array(prep.shape, dtype=np.float64)
        scale = vec(2.0 / np.maximum(shape - 1, 1))
        g = (ijk * scale - 1.0).flip(-1)  # grid_sample's (x, y, z) = (k, j, i)
        with torch.no_grad():
            vals = F.grid_sample(prep.data[None, None], g.reshape(1, 1, 1, -1, 3), align_corners=True)
        outside = ((ijk < -0.5) | (ijk > vec(shape - 0.5))).any(-1)
        return vals.reshape(ijk.shape[:-1]).numpy().astype(np.float64), outside.numpy()
