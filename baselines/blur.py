"""``blur``: FaceMasking-style (Milchenko & Marcus 2013): blur and noise in a band under the face surface.

The face region comes from the registered template's face mask; the band is the part of it within
``depth_mm`` under the head surface (and ``outside_mm`` of air above it). There the volume is replaced
by a strongly smoothed copy plus spatially correlated noise, so the face keeps its outline but loses
its detail. All distances are in mm on the image's own (possibly anisotropic) grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.template import FaceRegion, RegistrationConfig, face_patch

from baselines.base import Baseline, head_mask, smoothstep


@dataclass
class Blur(Baseline):
    depth_mm: float = 12.0  # band thickness under the head surface
    outside_mm: float = 4.0  # band thickness in the air above it
    edge_mm: float = 4.0  # width of the smooth fall-off of the band and of the face region
    sigma_mm: float = 4.0  # Gaussian smoothing inside the band
    noise: float = 0.3  # noise standard deviation, as a fraction of the median head intensity
    noise_sigma_mm: float = 2.0  # spatial correlation of the noise
    seed: int = 0
    region: FaceRegion | None = None  # the face region (None: pydeface's mask)
    registration: RegistrationConfig | None = None

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        patch = face_patch(img, self.registration, margin_mm=self.edge_mm + 3 * self.sigma_mm, region=self.region)
        if patch is None:  # no face in the field of view
            return np.asarray(img.dataobj, dtype=np.float32)
        x, zooms, box = patch.volume, patch.zooms, patch.box
        head_full = head_mask(x)
        head, xc = head_full[box], patch.data
        face = ndi.gaussian_filter(patch.face, self.edge_mm / 2 / zooms)
        inside = ndi.distance_transform_edt(head, sampling=zooms)
        outside = ndi.distance_transform_edt(~head, sampling=zooms)
        depth = np.where(head, inside, -outside)  # mm under the surface (negative in the air)
        band = smoothstep((depth + self.outside_mm + self.edge_mm) / self.edge_mm) * smoothstep(
            (self.depth_mm + self.edge_mm - depth) / self.edge_mm
        )
        weight = (face * band).astype(np.float32)

        rng = np.random.default_rng(self.seed)
        noise = ndi.gaussian_filter(rng.standard_normal(xc.shape, dtype=np.float32), self.noise_sigma_mm / zooms)
        noise /= max(float(noise.std()), 1e-6)
        level = float(np.median(x[head_full])) if head_full.any() else float(x.max())
        tissue = ndi.gaussian_filter(head.astype(np.float32), self.sigma_mm / zooms)
        blurred = ndi.gaussian_filter(xc, self.sigma_mm / zooms) + self.noise * level * tissue * noise
        blurred = np.maximum(blurred, float(x.min()))
        return patch.paste(xc + weight * (blurred - xc))
