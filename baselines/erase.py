"""``erase``: everything outside the brain replaced by one fixed smooth head shell (a privacy reference).

The deepbet brain mask, dilated by ``margin_mm``, keeps its voxels; every other voxel becomes the
shell: an ellipsoid of fixed half axes ``radii_mm`` along the scanner's R, A and S axes, centred
``offset_mm`` from the brain mask's centroid, filled with one constant tissue intensity ``c`` (the
median of the volume's head voxels, above Otsu's threshold) and ``0`` outside. Its surface is a
smooth ramp ``c * smoothstep(0.5 + d / edge_mm)``, with ``d = r_min * (1 - rho)`` the approximate depth
under the surface (``rho`` the ellipsoidal radius, ``r_min`` the smallest half axis), so a renderer's
threshold finds it at sub-voxel precision. The face, ears, skull and scalp are gone and the head shape
is the same for everyone, up to its placement (the brain's centroid) and where the field of view cuts
it: no face recogniser and no shape attack should find an identity outside the brain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.errors import BenchmarkError

from baselines.base import Baseline, otsu_threshold, smoothstep, voxel_sizes


@dataclass
class Erase(Baseline):
    """margin_mm: brain-mask dilation kept unchanged; radii_mm, offset_mm: the shell (R, A, S, mm);
    edge_mm: width of its surface ramp; masker: None uses :meth:`BrainMasker.default` (cached on disk)."""

    margin_mm: float = 14.0  # about CSF, skull and scalp: deepbet finds the same brain in a skull
    radii_mm: list[float] = field(default_factory=lambda: [85.0, 110.0, 100.0])
    offset_mm: list[float] = field(default_factory=lambda: [0.0, 5.0, -10.0])
    edge_mm: float = 4.0
    masker: BrainMasker | None = None

    def check(self) -> None:
        """Raise BenchmarkError on a shell that cannot be built (checked before each volume)."""
        if len(self.radii_mm) != 3 or min(self.radii_mm) <= 0 or len(self.offset_mm) != 3:
            raise BenchmarkError(f"erase: radii_mm needs three positive values and offset_mm three values, got "
                                 f"{list(self.radii_mm)} and {list(self.offset_mm)}")
        if self.margin_mm < 0 or self.edge_mm <= 0:
            raise BenchmarkError("erase: margin_mm must be >= 0 and edge_mm > 0")

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        self.check()
        if self.masker is None:
            self.masker = BrainMasker.default()
        x = np.asarray(img.dataobj, dtype=np.float32)
        brain = self.masker(img)
        if not brain.any():
            raise BenchmarkError("deepbet found no brain in this volume; erase needs one", img.get_filename())
        centre = nib.affines.apply_affine(img.affine, np.argwhere(brain).mean(axis=0)) + np.asarray(self.offset_mm)
        weight = self.shell(img.affine, x.shape, centre)
        if (weight[brain] < 1.0).any():
            raise BenchmarkError(f"the brain reaches outside erase's head shell (radii {list(self.radii_mm)} mm); "
                                 "give larger baseline.radii_mm", img.get_filename())
        keep = (ndi.distance_transform_edt(~brain, sampling=voxel_sizes(img.affine)) <= self.margin_mm) & (weight == 1.0)
        tissue = float(np.median(x[x > otsu_threshold(x)]))
        return np.where(keep, x, tissue * weight)

    def shell(self, affine: np.ndarray, shape: tuple[int, ...], centre: np.ndarray) -> np.ndarray:
        """Weight in [0, 1] of the shell on the grid (1 inside, the smooth ramp at its surface, 0 outside)."""
        rho2 = np.zeros(shape, np.float32)
        for a in range(3):  # world coordinate a = sum_v affine[a, v] * index_v + affine[a, 3], separable in v
            axes = [affine[a, v] * np.arange(shape[v], dtype=np.float32).reshape([-1 if u == v else 1 for u in range(3)])
                    for v in range(3)]
            rho2 += ((axes[0] + axes[1] + axes[2] + np.float32(affine[a, 3] - centre[a])) / np.float32(self.radii_mm[a])) ** 2
        depth = min(self.radii_mm) * (1.0 - np.sqrt(rho2))
        return smoothstep(0.5 + depth / self.edge_mm).astype(np.float32)
