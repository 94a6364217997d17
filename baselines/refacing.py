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

from benchmark.template import RegistrationConfig, match_intensities, register_template

from .base import Baseline, smoothstep, voxel_sizes


@dataclass
class Refacing(Baseline):
    blend_mm: float = 8.0  # width of the blend outside the face region
    ring_mm: float = 20.0  # ring outside the face region where intensities are matched
    quantiles: int = 101
    registration: RegistrationConfig | None = None

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        x = np.asarray(img.dataobj, dtype=np.float32)
        zooms = voxel_sizes(img.affine)
        fit = register_template(img, self.registration)
        box = fit.face_box(margin_mm=max(self.blend_mm, self.ring_mm))
        if box is None:  # no face in the field of view
            return x
        face = fit.facemask_array(box) > 0.5
        xc, tc = x[box], fit.template_array(box)
        dist = ndi.distance_transform_edt(~face, sampling=zooms)  # mm outside the face region
        weight = smoothstep(1.0 - dist / self.blend_mm).astype(np.float32)

        ring = (dist > 0) & (dist <= self.ring_mm)
        mapped = match_intensities(tc, xc, ring, self.quantiles)
        out = x.copy()
        out[box] = xc + weight * (mapped - xc)
        return out
