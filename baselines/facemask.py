"""``facemask``: pydeface's method without FSL.

Register the template head to the subject, carry its face mask over, zero the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from benchmark.template import RegistrationConfig, register_template

from .base import Baseline


@dataclass
class FaceMask(Baseline):
    """threshold: face-weight level (0..1) above which a voxel is zeroed."""

    threshold: float = 0.5
    registration: RegistrationConfig | None = None

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        fit = register_template(img, self.registration)
        out = np.array(np.asanyarray(img.dataobj))
        box = fit.face_box()
        if box is not None:
            out[box][fit.facemask_array(box) > self.threshold] = 0
        return out
