"""``none``: no anonymisation, the reference row of every table."""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from baselines.base import Baseline


@dataclass
class NoAnonymisation(Baseline):
    """Returns the input voxels unchanged (a new image with the same affine and header)."""

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        return np.asanyarray(img.dataobj)
