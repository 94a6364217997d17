"""``facemask``: pydeface's method without FSL.

Register the template head to the subject, carry its face mask over, zero the face. pydeface's mask
stops under the brows, so the brow ridge and the upper eyelids survive it; ``region`` grows the mask
(on the template, kept clear of the template's brain, see :class:`benchmark.anatomy.template.FaceRegion`).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from benchmark.anatomy.template import FaceRegion, RegistrationConfig, face_patch

from baselines.base import Baseline


@dataclass
class FaceMask(Baseline):
    """threshold: face-weight level (0..1) above which a voxel is zeroed; region: the face region
    (None: pydeface's mask as shipped)."""

    threshold: float = 0.5
    region: FaceRegion | None = None
    registration: RegistrationConfig | None = None

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        out = np.array(np.asanyarray(img.dataobj))
        patch = face_patch(img, self.registration, region=self.region)
        if patch is not None:  # None: no face in the field of view
            out[patch.box][patch.face > self.threshold] = 0
        return out
