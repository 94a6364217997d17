"""``facemask``: pydeface's method without FSL.

Register the template head to the subject, carry its face mask over, zero the face. pydeface's mask
stops under the brows, and on a real face the registered mask can stop lower still, so the brow ridge
and the upper eyelids survive it; ``region`` grows the mask (on the template, and with ``to_brows`` on
the subject up to its brows, kept clear of its own brain: :class:`benchmark.anatomy.template.FaceRegion`).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from benchmark.anatomy.placement import PlacementCheck
from benchmark.anatomy.template import FaceRegion, RegistrationConfig

from baselines.base import TemplateBaseline


@dataclass
class FaceMask(TemplateBaseline):
    """threshold: face-weight level (0..1) above which a voxel is zeroed; region: the face region
    (None: pydeface's mask as shipped)."""

    threshold: float = 0.5
    region: FaceRegion | None = None
    registration: RegistrationConfig | None = None
    placement: PlacementCheck | None = None  # thresholds for placing the face region (None: the defaults)

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        out = np.array(np.asanyarray(img.dataobj))
        patch = self.face_patch(img)
        out[patch.box][patch.face > self.threshold] = 0
        return out
