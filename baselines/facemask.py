"""``facemask``: pydeface's method without FSL, with the cut sealed.

Register the template head to the subject, carry its face mask over, zero the face. pydeface's mask
stops under the brows, and on a real face the registered mask can stop lower still, so the brow ridge
and the upper eyelids survive it; ``region`` grows the mask (on the template, and with ``to_brows`` on
the subject up to its brows, kept clear of its own brain: :class:`benchmark.anatomy.template.FaceRegion`).

The cut goes through the orbits and the nasal cavity. Zeroed as they are, they leave two dark sockets
and a hole under them in the cut surface, which a face detector takes for eyes and a nose (SCRFD found
a face on two of the real test scans, scores 0.55-0.56). ``seal_mm`` closes the cut: the kept voxels
within that distance of it and inside the convex hull of the head's tissue are raised to at least the
head's typical tissue intensity (its ``seal_quantile``), so the cut surface is one closed smooth shell
whatever the contrast (the hull keeps the seal off the air beside the face).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy.spatial import ConvexHull, Delaunay

from benchmark.anatomy.head import otsu_threshold
from benchmark.anatomy.placement import PlacementCheck
from benchmark.anatomy.template import FaceRegion, RegistrationConfig
from benchmark.core.errors import BenchmarkError
from benchmark.core.masks import largest_component, within_mm

from baselines.base import TemplateBaseline, voxel_sizes

#: grid step (mm) of the tissue points whose convex hull bounds the seal
HULL_STEP_MM = 4.0


@dataclass
class FaceMask(TemplateBaseline):
    """threshold: face-weight level (0..1) above which a voxel is zeroed; region: the face region
    (None: pydeface's mask as shipped); seal_mm: depth (mm) of the seal behind the cut (0: none);
    seal_quantile: the head's tissue intensity quantile the seal raises voxels to."""

    threshold: float = 0.5
    region: FaceRegion | None = None
    registration: RegistrationConfig | None = None
    placement: PlacementCheck | None = None  # thresholds for placing the face region (None: the defaults)
    seal_mm: float = 3.0
    seal_quantile: float = 0.6

    def __post_init__(self):
        super().__post_init__()
        margin = self.region.brain_margin_mm if self.region is not None else None
        if self.seal_mm < 0 or not 0.0 < self.seal_quantile < 1.0 or (margin is not None and self.seal_mm >= margin):
            raise BenchmarkError(f"config: baseline facemask: need 0 <= seal_mm < region.brain_margin_mm "
                                 f"({margin}) and 0 < seal_quantile < 1; got seal_mm={self.seal_mm}, "
                                 f"seal_quantile={self.seal_quantile}")

    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        out = np.array(np.asanyarray(img.dataobj))
        patch = self.face_patch(img, margin_mm=self.seal_mm)
        cut = patch.face > self.threshold
        if self.seal_mm > 0 and cut.any():
            seal_cut(out, patch.box, cut, voxel_sizes(img.affine), self.seal_mm, self.seal_quantile)
        out[patch.box][cut] = 0
        return out


def seal_cut(out: np.ndarray, box: tuple[slice, ...], cut: np.ndarray, zooms: np.ndarray, depth_mm: float,
             quantile: float) -> None:
    """Raise, in place, the voxels of ``out[box]`` that are not ``cut``, lie within ``depth_mm`` of it and
    inside the convex hull of the head's tissue (Otsu's threshold, the largest component, on a grid of
    about ``HULL_STEP_MM``) to at least the tissue's ``quantile``."""
    step = np.maximum(1, np.round(HULL_STEP_MM / zooms)).astype(int)
    coarse = out[::step[0], ::step[1], ::step[2]].astype(np.float32)
    threshold = otsu_threshold(coarse)
    tissue = largest_component(coarse > threshold)  # not specks
    points = np.argwhere(tissue) * step * zooms
    if len(points) < 4 or np.linalg.matrix_rank(points - points.mean(0)) < 3:
        raise BenchmarkError("facemask: no head to seal the cut against (its tissue above Otsu's threshold "
                             "spans no volume)")
    level = float(np.quantile(coarse[tissue], quantile))
    hull = Delaunay(points[ConvexHull(points).vertices])  # inside the hull: in one of its simplices
    # the distance to the cut on a grid of about 1 mm (exact enough for a seal a few mm deep)
    f = np.maximum(1, np.floor(1.0 / zooms)).astype(int)
    small = cut[::f[0], ::f[1], ::f[2]]
    near = within_mm(small, zooms * f, depth_mm).repeat(f[0], 0).repeat(f[1], 1).repeat(f[2], 2)
    near = near[:cut.shape[0], :cut.shape[1], :cut.shape[2]]
    shell = np.argwhere(near & ~cut)
    if not len(shell):
        return
    origin = np.array([s.start for s in box])
    inside = hull.find_simplex((shell + origin) * zooms) >= 0
    idx = tuple(shell[inside].T)
    region = out[box]
    region[idx] = np.maximum(region[idx], level)  # cast back to the volume's dtype
