"""The face region grown up to the brows on the subject's own anatomy (``FaceRegion.to_brows``).

pydeface's face mask, carried over by an affine registration, follows the template's face; on a real
face whose brows, eyes or nose sit higher or further forward than the template's (a fit that is good
on the skull can be off by a centimetre on the face) the brow ridge and the upper eyelids stay out of
it, and a face detector still finds the face. The extension adds, on the subject's own grid, every voxel

- above the registered face region in the template's frame: its upward extension over its footprint
  (the same width and front-to-back extent, so it never reaches the ears or the scalp behind the face);
- below the height of the subject's frontal pole (the front of its deepbet brain mask) raised by
  ``above_pole_mm``: the brows lie below the frontal pole, which sits behind the lower forehead;
- at least ``brain_margin_mm`` (mm on the subject's grid) from the subject's brain: from its sagittal
  profile (the deepbet mask projected along the template's left-right axis), which is never farther than
  the brain itself, so the brain, the fluid and the skull around it are never touched however the
  template was fitted, and the cut is the same from ear to ear (a cut that follows the brain's own
  surface shows, once the face in front is gone, the orbits' roofs as two sockets under a brow, which a
  face detector takes for eyes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.resample import resample_voxels
from benchmark.core.errors import BenchmarkError

POLE_QUANTILE = 0.995  # the frontal pole: brain voxels in front of this quantile of the anterior coordinate


def upward(face: np.ndarray) -> np.ndarray:
    """A template-grid face weight extended upward over its footprint (axis 2 points up):
    ``out[i, j, k] = max over k' <= k of face[i, j, k']``."""
    return np.maximum.accumulate(face, axis=2)


def pole_height(brain: np.ndarray, voxel_matrix: np.ndarray, name: str | None = None) -> float:
    """Height (template voxel index along axis 2) of the frontal pole of a subject's brain mask: the
    median height of the brain voxels in front of the :data:`POLE_QUANTILE` of their anterior coordinate
    (axis 1), for ``voxel_matrix``: subject voxel -> template voxel."""
    points = np.argwhere(brain)
    if len(points) == 0:
        raise BenchmarkError("deepbet found no brain in this volume; the face region is bounded by it", name)
    t = points @ voxel_matrix[:3, :3].T + voxel_matrix[:3, 3]
    front = t[:, 1] >= np.quantile(t[:, 1], POLE_QUANTILE)
    return float(np.median(t[front, 2]))


def height_field(vox: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Template height (voxel index along axis 2) of every voxel of a grid; ``vox``: grid -> template voxel."""
    i, j, k = (np.arange(n, dtype=np.float32) for n in shape)
    r = np.asarray(vox, dtype=np.float32)[2]
    return r[0] * i[:, None, None] + r[1] * j[None, :, None] + r[2] * k[None, None, :] + r[3]


@dataclass(eq=False)
class BrowExtension:
    """The extension on one subject's grid. up: :func:`upward` of the template's face weight;
    voxel_matrix: subject voxel -> template voxel; top: the height cap (template voxels, axis 2);
    brain: the subject's brain mask; zooms: its voxel sizes (mm); brain_margin_mm: kept from the brain."""

    up: np.ndarray
    voxel_matrix: np.ndarray
    top: float
    brain: np.ndarray
    zooms: np.ndarray
    brain_margin_mm: float
    step_mm: float = 1.0  # pixel of the brain's sagittal profile

    def box(self, margin_mm: float = 0.0, stride: int = 4) -> tuple[slice, ...] | None:
        """Bounding box (subject grid) of the extension before the brain margin, grown by ``margin_mm``."""
        coarse = tuple(-(-n // stride) for n in self.brain.shape)
        vox = self.voxel_matrix @ np.diag([stride, stride, stride, 1.0])
        inside = (resample_voxels(self.up, vox, coarse, edge="border") > 1e-3) & (height_field(vox, coarse) < self.top)
        if not inside.any():
            return None
        grow = stride + np.ceil(margin_mm / self.zooms).astype(int)
        out = []
        for axis in range(3):
            idx = np.nonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))[0]
            lo, hi = idx[0] * stride - grow[axis], idx[-1] * stride + 1 + grow[axis]
            out.append(slice(max(0, int(lo)), min(self.brain.shape[axis], int(hi))))
        return tuple(out)

    def weight(self, box: tuple[slice, ...]) -> np.ndarray:
        """The extension's face weight (1 inside) on the sub-box ``box`` of the subject grid."""
        start = np.eye(4)
        start[:3, 3] = [b.start for b in box]
        shape = tuple(b.stop - b.start for b in box)
        vox = self.voxel_matrix @ start
        up = resample_voxels(self.up, vox, shape, edge="border")
        return (up * (height_field(vox, shape) < self.top) * self._far(box)).astype(np.float32)

    def _far(self, box: tuple[slice, ...]) -> np.ndarray:
        """Voxels of ``box`` at least ``brain_margin_mm`` from the brain's sagittal profile (see the module
        docstring), by the profile's 2D distance map, interpolated."""
        profile, origin, frame = self.profile()
        distance = ndi.distance_transform_edt(~profile, sampling=self.step_mm)
        mm = [np.arange(b.start, b.stop, dtype=np.float32) * z for b, z in zip(box, self.zooms)]
        coords = [(mm[0][:, None, None] * frame[0, c] + mm[1][None, :, None] * frame[1, c]
                   + mm[2][None, None, :] * frame[2, c] - o) / self.step_mm for c, o in zip((1, 2), origin)]
        return ndi.map_coordinates(distance, coords, order=1, mode="nearest") >= self.brain_margin_mm

    def profile(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The brain's sagittal profile: a 2D mask every ``step_mm`` over (anterior, superior) mm of the
        template's orthonormalised frame, the mm of its first pixel, and the frame (columns: left-right,
        anterior, superior, in mm along the voxel axes)."""
        to_subject = np.linalg.inv(self.voxel_matrix[:3, :3]) * self.zooms[:, None]  # template axes in mm
        frame, _ = np.linalg.qr(to_subject)
        frame *= np.sign(np.sum(frame * to_subject, axis=0))
        stride = np.maximum(1, np.floor(self.step_mm / self.zooms)).astype(int)
        points = (np.argwhere(self.brain[::stride[0], ::stride[1], ::stride[2]]) * stride * self.zooms) @ frame[:, 1:]
        pad = int(np.ceil(self.brain_margin_mm / self.step_mm)) + 2  # beyond it, distances are >= the margin
        origin = points.min(axis=0) - pad * self.step_mm
        pixels = np.floor((points - origin) / self.step_mm).astype(int)
        profile = np.zeros(pixels.max(axis=0) + pad + 1, bool)
        profile[pixels[:, 0], pixels[:, 1]] = True
        gaps = int(np.ceil(stride.max() * self.zooms.max() / self.step_mm))  # between projected voxels
        return ndi.binary_fill_holes(ndi.binary_closing(profile, iterations=gaps)), origin, frame


def union_box(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    """The smallest box holding both (None counts as empty)."""
    if a is None or b is None:
        return a if b is None else b
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))
