"""``erase``: everything outside the brain replaced by one fixed smooth head shell (a privacy reference).

The deepbet brain mask, dilated by ``margin_mm``, keeps its voxels where they lie at least ``guard_mm``
under the shell's surface (deeper than the renderer's smoothing and normals reach, so no skull or CSF
shows through as a dent); every other voxel becomes the shell: an ellipsoid of fixed half axes
``radii_mm`` along the scanner's R, A and S axes, centred ``offset_mm`` from the brain mask's centroid,
filled with one constant tissue intensity ``c`` (the median of the volume's head voxels, above Otsu's
threshold) and ``0`` outside. Its surface is a smooth ramp ``c * smoothstep(0.5 + d / edge_mm)``, with
``d`` the depth under the surface (first order, :meth:`Erase.depth`), so a renderer's threshold finds it
at sub-voxel precision. The face, ears, skull and scalp are gone and the head shape is the same for
everyone, up to its placement (the brain's centroid), where the field of view cuts it, and a growth where
a brain would come within ``guard_mm`` of it (:meth:`Erase.fitted_depth`): no face recogniser and no
shape attack should find an identity outside the brain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.errors import BenchmarkError
from benchmark.core.masks import within_mm

from baselines.base import Baseline, otsu_threshold, smoothstep, voxel_sizes

log = logging.getLogger(__name__)
MAX_GROWTH = 1.25  # a brain that needs a larger shell than this is not a head this shell is built for


@dataclass
class Erase(Baseline):
    """margin_mm: brain-mask dilation kept unchanged; radii_mm, offset_mm: the shell (R, A, S, mm);
    edge_mm: width of its surface ramp; masker: None uses :meth:`BrainMasker.default` (cached on disk)."""

    margin_mm: float = 14.0  # about CSF, skull and scalp: deepbet finds the same brain in a skull
    radii_mm: list[float] = field(default_factory=lambda: [85.0, 110.0, 100.0])
    offset_mm: list[float] = field(default_factory=lambda: [0.0, 5.0, -10.0])
    edge_mm: float = 4.0
    guard_mm: float = 10.0  # kept voxels lie at least this deep under the shell's surface
    masker: BrainMasker | None = None

    def check(self) -> None:
        """Raise BenchmarkError on a shell that cannot be built (checked before each volume)."""
        if len(self.radii_mm) != 3 or min(self.radii_mm) <= 0 or len(self.offset_mm) != 3:
            raise BenchmarkError(f"erase: radii_mm needs three positive values and offset_mm three values, got "
                                 f"{list(self.radii_mm)} and {list(self.offset_mm)}")
        if self.margin_mm < 0 or self.edge_mm <= 0 or self.guard_mm < 0.5 * self.edge_mm:
            raise BenchmarkError("erase: margin_mm must be >= 0, edge_mm > 0 and guard_mm >= edge_mm / 2")

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        self.check()
        if self.masker is None:
            self.masker = BrainMasker.default()
        x = np.asarray(img.dataobj, dtype=np.float32)
        brain = self.masker(img)
        if not brain.any():
            raise BenchmarkError("deepbet found no brain in this volume; erase needs one", img.get_filename())
        centre = nib.affines.apply_affine(img.affine, np.argwhere(brain).mean(axis=0)) + np.asarray(self.offset_mm)
        depth = self.fitted_depth(img, brain, centre)
        keep = within_mm(brain, voxel_sizes(img.affine), self.margin_mm)
        keep &= depth >= self.guard_mm
        tissue = float(np.median(x[x > otsu_threshold(x)]))
        return np.where(keep, x, tissue * self.weight(depth))

    def fitted_depth(self, img: nib.Nifti1Image, brain: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Depth under the shell of ``radii_mm``, or, where the brain comes within ``guard_mm`` of its
        surface, under the same shell scaled up just enough (by at most ``MAX_GROWTH``; logged: the size
        of a grown shell says a little about the brain's extent)."""
        scale = 1.0
        for _ in range(5):
            depth = self.depth(img.affine, brain.shape, centre, scale)
            shallow = float(depth[brain].min())
            if shallow >= self.guard_mm:
                if scale > 1.0:
                    log.info("erase: shell grown by %.3f to hold the brain %s mm under it (%s)", scale,
                             self.guard_mm, img.get_filename())
                return depth
            scale *= 1.0 + (self.guard_mm - shallow + 0.5) / (scale * min(self.radii_mm))
            if scale > MAX_GROWTH:
                break
        raise BenchmarkError(f"the brain does not fit {self.guard_mm} mm inside erase's head shell (radii "
                             f"{list(self.radii_mm)} mm, grown by up to {MAX_GROWTH}); give larger "
                             "baseline.radii_mm", img.get_filename())

    def weight(self, depth: np.ndarray) -> np.ndarray:
        """Weight in [0, 1] of the shell at ``depth`` mm under its surface (1 inside, the smooth ramp at
        its surface, 0 outside)."""
        return smoothstep(0.5 + depth / self.edge_mm).astype(np.float32)

    def depth(self, affine: np.ndarray, shape: tuple[int, ...], centre: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Depth (mm) under the shell's surface of every voxel, negative outside: the first-order distance
        ``(1 - rho) / |grad rho|`` to the surface ``rho = 1`` of the ellipsoidal radius
        ``rho = sqrt(sum_a (x_a / r_a)^2)``, with ``|grad rho| = sqrt(sum_a (x_a / r_a^2)^2) / rho``
        (exact for a sphere; ``r_min`` at the centre); the half axes are ``scale * radii_mm``."""
        radii = [scale * float(r) for r in self.radii_mm]
        rho2 = np.zeros(shape, np.float32)
        grad2 = np.zeros(shape, np.float32)
        for a in range(3):  # world coordinate a = sum_v affine[a, v] * index_v + affine[a, 3], separable in v
            axes = [affine[a, v] * np.arange(shape[v], dtype=np.float32).reshape([-1 if u == v else 1 for u in range(3)])
                    for v in range(3)]
            q = (axes[0] + axes[1] + axes[2] + np.float32(affine[a, 3] - centre[a])) / np.float32(radii[a])
            rho2 += q * q
            grad2 += (q / np.float32(radii[a])) ** 2
        rho = np.sqrt(rho2)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = (1.0 - rho) * rho / np.sqrt(grad2)
        return np.where(grad2 > 0, depth, np.float32(min(radii))).astype(np.float32)
