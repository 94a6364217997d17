"""Whether the registered template's face region can be trusted on a volume, measured.

A template-based defacer (facemask, blur, refacing) that cannot place the face must say so rather
than return the face untouched. After :func:`benchmark.anatomy.template.register_template`, four
figures are measured on a grid of about ``spacing_mm`` (all contrast-free, so T1w, T2w, FLAIR, PD
and GRE scans are judged alike):

- ``head_dice``: Dice 2|T n S| / (|T| + |S|) of the registered template's head mask T and the
  volume's head mask S (:func:`benchmark.anatomy.head.head_mask`), where both fields of view overlap;
  a diverged registration or a volume that is not a head scores low.
- ``structure``: symmetric uncertainty U = 2 I(T; S) / (H(T) + H(S)) of the template's and the
  volume's intensities (rank-binned) inside both heads, one voxel off their edges (Witten & Frank, Data
  Mining, 2005): near 0 when the volume has no anatomy that corresponds to the template's (a ball, noise).
- ``face_in_view``: fraction of pydeface's face region that lies inside the volume's field of view.
- ``face_tissue``: the fraction of that region (in view) inside the volume's head, over the same
  fraction for the template: about 1 for a face, near 0 for a skull-stripped or already defaced scan.

:func:`placed_face_patch` registers, measures, and raises :class:`BenchmarkError` naming the volume
and the failed figure when one is under its :class:`PlacementCheck` threshold.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.head import head_mask, otsu_threshold
from benchmark.anatomy.template import (FacePatch, FaceRegion, RegistrationConfig, TemplateFit, face_patch,
                                        load_template, register_template, resample_voxels)
from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class PlacementCheck:
    """Thresholds under which the face region is not placed (see the module docstring for the figures)."""

    min_head_dice: float = 0.7
    min_structure: float = 0.012
    min_face_in_view: float = 0.25
    min_face_tissue: float = 0.5
    spacing_mm: float = 4.0  # grid of the measurements


@dataclass(frozen=True)
class Placement:
    """The measured figures of one registration (recorded per volume in a baseline's submission)."""

    head_dice: float
    structure: float
    face_in_view: float
    face_tissue: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    def problem(self, check: PlacementCheck) -> str | None:
        """Why the face region cannot be placed, or None."""
        if self.face_in_view < check.min_face_in_view:
            return (f"the face lies outside the field of view ({self.face_in_view:.0%} of the template's face "
                    f"region is inside it, need {check.min_face_in_view:.0%})")
        if self.structure < check.min_structure:
            return (f"not a head: its intensities do not correspond to the template head's (symmetric "
                    f"uncertainty {self.structure:.3f} < {check.min_structure})")
        if self.head_dice < check.min_head_dice:
            return (f"the registration did not fit the head (head-mask Dice {self.head_dice:.2f} < "
                    f"{check.min_head_dice}); is this a whole-head scan?")
        if self.face_tissue < check.min_face_tissue:
            return (f"no face where the template's face lies (tissue there {self.face_tissue:.2f} of the template's "
                    f"< {check.min_face_tissue}); skull-stripped or already defaced?")
        return None


def measure_placement(fit: TemplateFit, img: nib.spatialimages.SpatialImage,
                      spacing_mm: float = 4.0) -> Placement:
    """The figures of the module docstring for ``fit`` (the template registered to ``img``)."""
    data = np.asarray(img.dataobj, dtype=np.float32)
    zooms = np.linalg.norm(np.asarray(img.affine)[:3, :3], axis=0)
    stride = np.maximum(1, np.round(spacing_mm / zooms)).astype(int)
    x = data[::stride[0], ::stride[1], ::stride[2]]
    vox = fit.voxel_matrix @ np.diag([*stride, 1.0])
    tpl = load_template()
    t_head = resample_voxels(_template_head(), vox, x.shape, edge="zeros") > 0.5
    t_view = resample_voxels(np.ones_like(tpl.head), vox, x.shape, edge="zeros") > 0.5
    t_int = resample_voxels(tpl.head, vox, x.shape, edge="zeros")
    s_head = _head(x)
    t, s = t_head & t_view, s_head & t_view
    dice = 2.0 * (t & s).sum() / max(t.sum() + s.sum(), 1)
    inner = ndi.binary_erosion(t & s)  # inside both heads, off their edges (a uniform ball holds nothing there)
    structure = _symmetric_uncertainty(t_int[inner], x[inner]) if inner.sum() > 10 else 0.0
    in_view, tissue = _face_figures(fit, s_head, stride)
    return Placement(float(dice), float(structure), in_view, tissue)


def _face_figures(fit: TemplateFit, s_head: np.ndarray, stride: np.ndarray) -> tuple[float, float]:
    """(fraction of the template's face region in view, the volume's head fraction there / the template's)."""
    face = _template_face_points()
    to_subject = np.linalg.inv(fit.voxel_matrix)
    ijk = face @ to_subject[:3, :3].T + to_subject[:3, 3]
    inside = np.all((ijk >= -0.5) & (ijk <= np.array(fit.shape) - 0.5), axis=1)
    if not inside.any():
        return 0.0, 0.0
    idx = np.clip(np.rint(ijk[inside] / stride).astype(int), 0, np.array(s_head.shape) - 1)
    subject = s_head[idx[:, 0], idx[:, 1], idx[:, 2]].mean()
    t_idx = face[inside].astype(int)
    template = _template_head()[t_idx[:, 0], t_idx[:, 1], t_idx[:, 2]].mean()
    return float(inside.mean()), float(subject / max(template, 1e-6))


def _symmetric_uncertainty(a: np.ndarray, b: np.ndarray, bins: int = 16) -> float:
    """U = 2 I(a; b) / (H(a) + H(b)) of rank-binned values (0: independent, 1: one determines the other)."""
    qa = _rank_bins(a, bins)
    qb = _rank_bins(b, bins)
    joint = np.bincount(qa * bins + qb, minlength=bins * bins).astype(float).reshape(bins, bins)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)

    def entropy(q):
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    ha, hb, hab = entropy(pa), entropy(pb), entropy(p.ravel())
    return 0.0 if ha + hb <= 0 else max(0.0, 2.0 * (ha + hb - hab) / (ha + hb))


def _rank_bins(v: np.ndarray, bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, v, side="right")


def _head(x: np.ndarray) -> np.ndarray:
    """The head mask at half Otsu's threshold: Otsu's split of air and tissue lands too high where a bias
    field or a dark tissue (muscle, bone) pulls part of the head down; half of it is still far above air."""
    return head_mask(x, 0.5 * otsu_threshold(x))


@functools.lru_cache(maxsize=1)
def _template_head() -> np.ndarray:
    """The template's head mask (float32 on its grid)."""
    return _head(load_template().head).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _template_face_points() -> np.ndarray:
    """Voxel indices (float, every second voxel) of pydeface's face region on the template grid."""
    face = np.zeros(load_template().keep.shape, bool)
    face[::2, ::2, ::2] = load_template().keep[::2, ::2, ::2] < 0.5
    return np.argwhere(face).astype(np.float64)


def placed_face_patch(img: nib.spatialimages.SpatialImage, config: RegistrationConfig | None = None, *,
                      margin_mm: float = 0.0, region: FaceRegion | None = None,
                      check: PlacementCheck | None = None, name: str | None = None,
                      placement: Placement | None = None) -> FacePatch:
    """:func:`benchmark.anatomy.template.face_patch`, refusing a face region it cannot place.

    ``placement``: the figures already measured for ``img`` (:func:`measure_placement` with ``check``'s
    spacing), else measured here. Raises BenchmarkError naming the volume (``name``, else the image's file)
    and the failed figure.
    """
    check = check or PlacementCheck()
    placement = placement or measure_placement(register_template(img, config), img, check.spacing_mm)
    problem = placement.problem(check)
    patch = None if problem else face_patch(img, config, margin_mm=margin_mm, region=region)
    if patch is None:
        problem = problem or "the face lies outside the field of view (no face region in it)"
        raise BenchmarkError(f"cannot place the template's face region: {problem}", name or img.get_filename())
    return patch
