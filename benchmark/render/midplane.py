"""Images of the head on its mid-sagittal plane (and planes parallel to it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .symmetry import outside_volume, sample_world
from .volume import PreparedVolume


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

    def sample(self, prep: PreparedVolume, offsets: tuple[float, ...] = (0.0,)) -> tuple[np.ndarray, np.ndarray]:
        """Intensities (S, size, size) on the plane shifted by each offset (mm), and where they lie
        outside the volume's field of view."""
        base = self.world(self.pixels())
        pts = np.stack([base + s * self.normal for s in offsets])
        vals = sample_world(prep.data[None, None], prep.affine, pts)
        return vals, outside_volume(prep.shape, prep.affine, pts)
