"""``quickshear``: the PyPI quickshear package (Schimke & Hale 2011) on a deepbet brain mask.

Quickshear finds the lower convex hull of the brain mask's sagittal profile and zeroes everything
below the plane through it, shifted ``buffer`` voxels away from the brain.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import quickshear as _qs

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.errors import BenchmarkError

from baselines.base import Baseline


@dataclass
class Quickshear(Baseline):
    """buffer: distance (voxels, as in quickshear) between the brain and the shearing plane.
    masker: brain masker; None uses :meth:`BrainMasker.default` (masks cached on disk)."""

    buffer: int = 10
    masker: BrainMasker | None = None

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        if self.masker is None:
            self.masker = BrainMasker.default()
        mask = self.masker.mask_image(img)
        if not np.asarray(mask.dataobj).any():
            raise BenchmarkError("deepbet found no brain in this volume; quickshear needs one", img.get_filename())
        with warnings.catch_warnings():  # quickshear's np.cross on 2-vectors, deprecated in NumPy 2
            warnings.simplefilter("ignore", DeprecationWarning)
            return np.asanyarray(_qs.quickshear(img, mask, buff=self.buffer).dataobj)
