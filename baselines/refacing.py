"""``refacing``: mri_reface-style (Schwarz et al. 2021): replace the face with the registered template's face.

The template's intensities are mapped onto the subject's by quantile matching in a ring around the
face region, then blended in with a smooth weight that is 1 on the face and falls to 0 over
``blend_mm`` outside it, so the head still looks like a head but the face is the template's.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.placement import PlacementCheck
from benchmark.anatomy.template import FaceRegion, RegistrationConfig, match_intensities

from baselines.base import TemplateBaseline, smoothstep


@dataclass
class Refacing(TemplateBaseline):
    blend_mm: float = 8.0  # width of the blend outside the face region
    ring_mm: float = 20.0  # ring outside the face region where intensities are matched
    quantiles: int = 101
    region: FaceRegion | None = None  # the face region (None: pydeface's mask)
    registration: RegistrationConfig | None = None
    placement: PlacementCheck | None = None  # thresholds for placing the face region (None: the defaults)

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        patch = self.face_patch(img, margin_mm=max(self.blend_mm, self.ring_mm))
        face = patch.face > 0.5
        xc = patch.data
        dist = ndi.distance_transform_edt(~face, sampling=patch.zooms)  # mm outside the face region
        weight = smoothstep(1.0 - dist / self.blend_mm).astype(np.float32)

        ring = (dist > 0) & (dist <= self.ring_mm)
        mapped = match_intensities(patch.template, xc, ring, self.quantiles)
        return patch.paste(xc + weight * (mapped - xc))
