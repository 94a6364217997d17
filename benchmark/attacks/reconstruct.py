"""The attacker's face reconstruction (``fill``): paint the template's face into a defaced volume.

As the "advanced reconstruction" of Schwarz et al. (NeuroImage 2021): register the template head
(pydeface's mean head) to the anonymised volume, and where tissue was cut away (by quickshear,
zeroed by a face mask) fill in the template's tissue, intensity-matched to the subject on the head
around the face.

"Cut away" is told from the ordinary misfit of an affinely registered template by its size: voxels
inside the (generously grown) face region where the template holds tissue and the volume holds
background are *missing*; a connected piece of them is filled only when it reaches at least
``seed_mm`` away from the subject's tissue. A removed face leaves a hole centimetres deep; an intact
face differs from the template by a few millimetres (a longer nose, fuller lips), so it passes
through unchanged, and so does a face that was only blurred or replaced.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.template import FaceRegion, face_patch, load_template, match_intensities
from benchmark.core.masks import within_mm

#: The template's tissue: above this multiple of its head/background split. The mean head has a faint
#: halo in front of the face (the averaged faces differ), which is not tissue.
_TEMPLATE_TISSUE = 1.25


@dataclass
class FaceFill:
    ring_mm: float = 20.0  # head region around the face where intensities are matched
    blend_mm: float = 3.0  # smooth the filled boundary over this distance
    seed_mm: float = 10.0  # a missing piece is filled only if it reaches this far from the subject's tissue
    core_mm: float = 3.0  # ... at a point this deep in the template's tissue (not a thin speck or streak)
    region: FaceRegion = field(default_factory=lambda: FaceRegion(grow_mm=15.0))  # where filling may happen

    def __call__(self, img: nib.spatialimages.SpatialImage) -> nib.spatialimages.SpatialImage:
        """The volume with its removed face filled in, or ``img`` itself (the same object) when nothing was
        cut away or the face region lies outside the field of view."""
        patch = face_patch(img, margin_mm=self.ring_mm, region=self.region)
        if patch is None:
            return img
        zooms, xc = patch.zooms, patch.data
        face = patch.face > 0.5
        ring = within_mm(face, zooms, self.ring_mm) & ~face
        head = xc > _background_level(patch.volume)
        tissue = patch.template > _template_tissue_level()  # not its halo
        missing = removed_tissue(face & tissue & ~head, head, tissue, zooms, self.seed_mm, self.core_mm)
        if not missing.any():  # nothing was cut away: the volume as it is
            return img
        mapped = match_intensities(patch.template, xc, ring)
        weight = ndi.gaussian_filter(missing.astype(np.float32), self.blend_mm / zooms)
        weight = np.maximum(weight, missing)  # filled voxels take the template fully, edges blend
        out = patch.paste(xc + np.where(head & ~missing, 0.0, weight) * (mapped - xc))
        return nib.Nifti1Image(out, img.affine, img.header)


def removed_tissue(missing: np.ndarray, head: np.ndarray, tissue: np.ndarray, zooms: np.ndarray, seed_mm: float,
                   core_mm: float) -> np.ndarray:
    """The connected pieces of ``missing`` holding a point at least ``seed_mm`` away from ``head`` (the
    subject's tissue) and at least ``core_mm`` inside ``tissue`` (the template's)."""
    if not missing.any():
        return missing
    labels, _ = ndi.label(missing)
    near_head = within_mm(head, zooms, seed_mm, strict=True, where=missing)  # the distances at missing voxels only
    shallow = within_mm(~tissue, zooms, core_mm, strict=True, where=missing)
    deep = np.unique(labels[missing & ~shallow & ~near_head])
    return np.isin(labels, deep[deep > 0])


@functools.lru_cache(maxsize=1)
def _template_tissue_level() -> float:
    """The template head's tissue threshold (computed once: the template never changes)."""
    return _TEMPLATE_TISSUE * _background_level(load_template().head)


def _background_level(x: np.ndarray) -> float:
    """A head/background intensity split: a fifth of the robust head intensity."""
    v = x[x > 0]
    if v.size == 0:
        return 0.0
    return 0.2 * float(np.percentile(v, 90))
