"""``blur``: FaceMasking-style (Milchenko & Marcus 2013): blur and noise in a band under the face surface.

The face region comes from the registered template's face mask; the band is the part of it within
``depth_mm`` under the head surface (and ``outside_mm`` of air above it). There the volume is replaced
by a strongly smoothed copy plus spatially correlated noise, so the face keeps its outline but loses
its detail.

The strength is physical, so a real face changes as much as a synthetic one whatever the scan:
every distance is in mm on the image's own (possibly anisotropic) grid, given for an average adult
head (pydeface's template) and scaled by the subject's head size (the registration's scale,
``|det M|^(-1/3)`` for template = M @ subject); the noise is set as a displacement of the surface:
an iso-surface of the blurred copy ``b`` moves by ``n / |grad b|`` under added intensity ``n``, so
``n = noise_mm * |grad b| * z`` (``z`` unit correlated noise) moves it by ``noise_mm * z`` mm whatever
the contrast, intensity scale, bias field or voxel size.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.placement import PlacementCheck
from benchmark.anatomy.template import FaceRegion, RegistrationConfig, register_template

from baselines.base import TemplateBaseline, head_mask, smoothstep


def head_scale(world_matrix: np.ndarray) -> float:
    """Subject head size over the template's from the template = M @ subject map: |det M|^(-1/3)."""
    return float(abs(np.linalg.det(np.asarray(world_matrix)[:3, :3])) ** (-1.0 / 3.0))


@dataclass
class Blur(TemplateBaseline):
    depth_mm: float = 12.0  # band thickness under the head surface (average adult head)
    outside_mm: float = 4.0  # band thickness in the air above it
    edge_mm: float = 4.0  # width of the smooth fall-off of the band and of the face region
    sigma_mm: float = 4.0  # Gaussian smoothing inside the band
    noise_mm: float = 4.0  # standard deviation of the surface's displacement by the noise
    noise_sigma_mm: float = 4.0  # spatial correlation of the noise
    seed: int = 0
    region: FaceRegion | None = None  # the face region (None: pydeface's mask)
    registration: RegistrationConfig | None = None
    placement: PlacementCheck | None = None  # thresholds for placing the face region (None: the defaults)

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        s = head_scale(register_template(img, self.registration).world_matrix)
        depth_mm, outside_mm, edge_mm, sigma_mm, noise_mm, noise_sigma_mm = (s * v for v in (
            self.depth_mm, self.outside_mm, self.edge_mm, self.sigma_mm, self.noise_mm, self.noise_sigma_mm))
        patch = self.face_patch(img, margin_mm=edge_mm + 3 * sigma_mm)
        x, zooms, box = patch.volume, patch.zooms, patch.box
        head_full = head_mask(x)
        head, xc = head_full[box], patch.data
        face = ndi.gaussian_filter(patch.face, edge_mm / 2 / zooms)
        inside = ndi.distance_transform_edt(head, sampling=zooms)
        outside = ndi.distance_transform_edt(~head, sampling=zooms)
        depth = np.where(head, inside, -outside)  # mm under the surface (negative in the air)
        band = smoothstep((depth + outside_mm + edge_mm) / edge_mm) * smoothstep((depth_mm + edge_mm - depth) / edge_mm)
        weight = (face * band).astype(np.float32)

        rng = np.random.default_rng(self.seed)
        noise = ndi.gaussian_filter(rng.standard_normal(xc.shape, dtype=np.float32), noise_sigma_mm / zooms)
        noise /= max(float(noise.std()), 1e-6)
        blurred = ndi.gaussian_filter(xc, sigma_mm / zooms)
        slope = np.sqrt(sum(g**2 for g in np.gradient(blurred, *zooms)))  # intensity per mm
        blurred = np.maximum(blurred + noise_mm * slope * noise, float(x.min()))
        return patch.paste(xc + weight * (blurred - xc))
