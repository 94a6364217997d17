"""Anatomy linkage: the brain itself, which no face-only defacer changes (context, not ranked).

Published work links skull-stripped T1 scans of one person across datasets almost perfectly by the
brain alone (e.g. Wachinger et al., "BrainPrint", NeuroImage 2015; Valizadeh et al., "Identification of
individual subjects on the basis of their brain anatomical features", Sci. Rep. 2018). This attack
gives that upper bound of ``mri2mri`` linkage, reported beside the ranking:

1. The template's brain is placed on the volume's (:func:`brain_fit`): deepbet's coarse brain mask
   matched to the template's, then an affine fit with the metric restricted to the template's brain grown
   by 4 mm; nothing outside the brain is trusted (a head that a defacer replaced, removed or refaced does
   not pull it). The template's brain (deepbet's mask, :func:`benchmark.anatomy.template.template_brain`)
   mapped through the fit is the volume's brain, less what lies outside the field of view.
2. The volume is brought into the template frame *rigidly* (the rotation of the fit's polar
   decomposition, about the brain's centre): head and brain size stay part of the descriptor.
3. The brain-masked image is sampled on a ``spacing`` mm grid (2 mm samples averaged in 2^3 blocks),
   divided by its local mean (a Gaussian of ``bias_mm`` within the mask: scanners' smooth bias fields
   and coil sensitivities differ between sessions), log-transformed and z-scored within the mask, 0
   outside: one vector per volume.
4. Comparison: cosine of the vectors centred on the enrollment mean
   (:class:`~benchmark.attacks.volumetric.VolumetricAttack`): what
   is left once the average brain is removed, i.e. a correlation of individual anatomy.

A view (``{azimuth, elevation}``) turns the sampling grid about the brain centre (augmentation for the
semi-informed attacker). Photographs show no brain: ``mri2mri`` only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import ndimage
import torch
import torch.nn.functional as F

import SimpleITK as sitk

from benchmark.anatomy.brainmask import coarse_brain, default_cache_dir
from benchmark.anatomy.template import (
    LPS,
    RegistrationConfig,
    as_affine,
    as_matrix,
    registration_method,
    run_registration,
    shrunk,
    load_template,
    template_head_image,
    resample_voxels,
    template_brain,
)
from benchmark.attacks.base import Embedding
from benchmark.attacks.volumetric import VolumetricAttack, view_rotation
from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.core.masks import within_mm


@functools.lru_cache(maxsize=4)
def brain_box(spacing: float, margin_mm: float) -> tuple[np.ndarray, tuple[int, int, int], np.ndarray]:
    """(grid voxel -> template world 4x4, grid shape, template brain centre) of a box around the
    template's brain grown by ``margin_mm``, at ``spacing`` mm."""
    tpl = load_template()
    brain = template_brain()
    idx = np.argwhere(brain).astype(np.float64)
    world = idx @ tpl.affine[:3, :3].T + tpl.affine[:3, 3]
    lo, hi = world.min(0) - margin_mm, world.max(0) + margin_mm
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing) + 1)
    grid = np.diag([spacing, spacing, spacing, 1.0])
    grid[:3, 3] = lo
    return grid, shape, world.mean(0)


@functools.lru_cache(maxsize=1)
def _brain_region(grow_mm: float = 4.0) -> np.ndarray:
    """The template brain grown by ``grow_mm`` (float32 on the template grid): the refinement's metric region."""
    tpl = load_template()
    zooms = np.linalg.norm(tpl.affine[:3, :3], axis=0)
    return within_mm(template_brain(), zooms, grow_mm).astype(np.float32)


def brain_fit(img, data: np.ndarray, cache: DiskCache | None = None) -> tuple[np.ndarray, float]:
    """Subject RAS -> template RAS (4x4) placing the template's brain on the volume's, and the final
    metric (Mattes MI, negative: lower is better).

    Nothing outside the brain is trusted, so that a head a defacer replaced (``erase``'s shell), removed
    (skull stripping) or refaced does not pull the fit:

    1. deepbet's coarse brain mask of the volume (:func:`~benchmark.anatomy.brainmask.coarse_brain`) is
       matched to the template's brain mask: centres of mass, scale from the volume ratio
       ``(V_template / V_subject)^(1/3)``, then a similarity fit of the two masks (mean squares);
    2. an affine fit of the template head to the volume refines it, with the metric restricted to the
       template's brain grown by 4 mm (sulci and the brain's edge, little of the skull), on images divided
       by their local mean (:func:`_flattened`: a coil's bias field does not drive it).

    ``cache``: where deepbet's first stage is kept (:func:`~benchmark.anatomy.brainmask.coarse_brain`).
    """
    cfg = RegistrationConfig()
    tpl = load_template()
    mask, grid = coarse_brain(img, cache=cache)
    brain = template_brain()
    v_subject = mask.sum() * abs(np.linalg.det(grid[:3, :3]))
    v_template = brain.sum() * abs(np.linalg.det(tpl.affine[:3, :3]))
    fixed_mask = shrunk(mask.astype(np.float32), grid, cfg.spacing_mm)
    fixed = _flattened(shrunk(data, img.affine, cfg.spacing_mm))
    moving_mask, moving, region = _template_images(cfg.spacing_mm)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # reproducible sums (see template._register)
    try:
        sim = sitk.Similarity3DTransform(sitk.CenteredTransformInitializer(
            fixed_mask, moving_mask, sitk.Similarity3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))
        sim.SetScale(float(np.cbrt(v_template / v_subject)))
        _fit_masks(fixed_mask, moving_mask, sim, cfg)
        transform = as_affine(sim)
        metric = run_registration(fixed, moving, transform, cfg, cfg.iterations[1], moving_mask=region)
    except RuntimeError as err:  # ITK: too few samples where the two overlap
        raise BenchmarkError(f"anatomy: the template brain could not be registered ({str(err).splitlines()[0]})",
                             img.get_filename()) from None
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    return LPS @ as_matrix(transform) @ LPS, metric


@functools.lru_cache(maxsize=2)
def _template_images(spacing_mm: float) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """The template side of :func:`brain_fit`, once per process and spacing: its brain mask, its flattened
    head (:func:`_flattened`) and the metric region (:func:`_brain_region`), block-averaged to ``spacing_mm``."""
    tpl = load_template()
    brain = shrunk(template_brain().astype(np.float32), tpl.affine, spacing_mm)
    region = sitk.Cast(shrunk(_brain_region(), tpl.affine, spacing_mm) > 0.5, sitk.sitkUInt8)
    return brain, _flattened(template_head_image(spacing_mm)), region


def _fit_masks(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, cfg: RegistrationConfig) -> None:
    """Optimise ``transform`` in place on two (soft) masks by mean squares: smooth blobs, a wide capture range."""
    reg = registration_method(transform, cfg, cfg.iterations[0])
    reg.SetMetricAsMeanSquares()
    reg.Execute(fixed, moving)


def _flattened(image: sitk.Image, sigma_mm: float = 15.0) -> sitk.Image:
    """The image divided by its local mean over the foreground, 0 outside it: a coil's smooth bias field no
    longer drives the registration. Foreground: above 5% of the 99th percentile; local mean: a normalised
    Gaussian convolution ``G(x w) / G(w)`` of ``sigma_mm`` (w the foreground), so that the edge of a head,
    or of a brain with nothing around it (skull-stripped), is not brightened by the dark beyond it."""
    x = sitk.GetArrayFromImage(image).astype(np.float32)
    sigma = sigma_mm / np.asarray(image.GetSpacing())[::-1]
    w = (x > 0.05 * float(np.percentile(x, 99))).astype(np.float32)
    local = ndimage.gaussian_filter(x * w, sigma) / np.maximum(ndimage.gaussian_filter(w, sigma), 1e-3)
    out = sitk.GetImageFromArray(np.where(w > 0, x / np.maximum(local, 1e-6), 0.0).astype(np.float32))
    out.CopyInformation(image)
    return out


def polar_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation R of the polar decomposition ``matrix = R S`` (S symmetric positive)."""
    u, _, vt = np.linalg.svd(matrix)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


@dataclass
class AnatomyAttack(VolumetricAttack):
    """Options: spacing (mm of the descriptor grid), margin (mm around the template brain's box),
    bias_mm (sigma of the local mean that divides the intensities, mm), views (turns of the sampling
    grid). Not ranked: reported as context."""

    name: str = "anatomy"
    spacing: float = 4.0
    margin: float = 8.0
    bias_mm: float = 12.0

    skip_reason: ClassVar[str] = "a photograph shows no brain"
    ranked: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.spacing < 1.0 or self.margin < 0:
            raise BenchmarkError(f"attack '{self.name}': need spacing >= 1 mm and margin >= 0, "
                                 f"got spacing={self.spacing}, margin={self.margin}")

    def prepare(self) -> "AnatomyAttack":
        template_brain()
        return self

    def embed_volume(self, img) -> Embedding:
        data = np.asarray(img.dataobj, dtype=np.float32)
        coarse = DiskCache(default_cache_dir(), enabled=self.use_cache)  # deepbet's first stage, by content
        m, metric = brain_fit(img, data, coarse)  # subject RAS -> template RAS (affine)
        tpl = load_template()
        grid, shape, centre = brain_box(self.spacing, self.margin)
        fine = grid @ np.diag([0.5, 0.5, 0.5, 1.0])  # 2 samples per descriptor voxel and axis
        fine_shape = tuple(2 * n for n in shape)
        inv = np.linalg.inv(m)
        subject_centre = inv[:3, :3] @ centre + inv[:3, 3]
        inside = np.ones(data.shape, np.float32)  # the field of view: brain cut by it is left out
        vectors = []
        for view in self.views:
            r = polar_rotation(m[:3, :3]) @ view_rotation(view).T
            rigid = np.eye(4)  # template-frame point y -> subject point R^T (y - centre) + subject centre
            rigid[:3, :3], rigid[:3, 3] = r.T, subject_centre - r.T @ centre
            to_subject = np.linalg.inv(img.affine) @ rigid @ fine
            values = _pool(resample_voxels(data, to_subject, fine_shape))
            mask = _pool(resample_voxels(template_brain().astype(np.float32),
                                         np.linalg.inv(tpl.affine) @ m @ rigid @ fine, fine_shape)) >= 0.5
            mask &= _pool(resample_voxels(inside, to_subject, fine_shape)) >= 0.999
            vectors.append(_zscore(values, mask, self.bias_mm / self.spacing, img))
        views = np.stack(vectors)
        return Embedding(vector=views[0], detected=True, views=views, info={"registration_metric": metric})


def _pool(x: np.ndarray) -> np.ndarray:
    return F.avg_pool3d(torch.from_numpy(x)[None, None], 2, 2)[0, 0].numpy()


def _zscore(values: np.ndarray, mask: np.ndarray, sigma: float, img) -> np.ndarray:
    """log(values / local mean) within ``mask`` (the local mean a normalised Gaussian convolution of
    ``sigma`` voxels: removes the scanner's smooth bias field), z-scored within the mask, 0 outside."""
    if mask.sum() < 100:
        raise BenchmarkError("anatomy: the registered brain lies outside the field of view",
                             img.get_filename())
    w = mask.astype(np.float64)
    values = np.maximum(values, 0.0) * w
    local = ndimage.gaussian_filter(values, sigma) / np.maximum(ndimage.gaussian_filter(w, sigma), 1e-6)
    floor = 1e-3 * max(float(values[mask].max()), 1e-12)
    inside = np.log(np.maximum(values[mask], floor) / np.maximum(local[mask], floor))
    out = np.zeros_like(values, dtype=np.float64)
    out[mask] = (inside - inside.mean()) / max(float(inside.std()), 1e-6)
    return out.ravel()
