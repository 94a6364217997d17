"""Affine registration of pydeface's template head to a subject, without FSL.

``register_template(img)`` fits the template shipped in the PyPI ``pydeface`` package
(``data/mean_reg2mean.nii.gz``) to a subject with SimpleITK: Mattes mutual information, a similarity
stage then a full affine stage, multi-resolution on images shrunk to about 4 mm. It returns the
template and pydeface's face mask (``data/facemask.nii.gz``) resampled onto the subject's own voxel
grid, in any orientation and with anisotropic voxels; the affine travels with each array.

The face region is pydeface's mask, optionally grown (:class:`FaceRegion`: by ``grow_mm`` in every
direction, but never closer than ``brain_margin_mm`` to the template's own brain), because pydeface's
mask stops under the brows and keeps the brow ridge and the upper eyelids. :func:`face_patch` is the
one entry point of the face-region methods (blur, refacing, the attacker's fill): register, find the
face's bounding box, and hand over the volume, its voxel sizes, the face weight and the template there.

Fits are memoised in memory (the last four volumes) and on disk (stage ``registration`` of the brain
masks' cache, :func:`benchmark.anatomy.brainmask.default_cache_dir`) by voxel-array hash, config and
this module's code, so the baselines and attacks that register the same volume pay once, in any process.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from benchmark.anatomy.brainmask import BrainMasker, array_hash, default_cache_dir
from benchmark.anatomy.brows import BrowExtension, pole_height, union_box, upward
from benchmark.anatomy.resample import resample_voxels
from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.core.masks import within_mm
from benchmark.core.memo import Recent
from benchmark.core.files import config_hash
from benchmark.core.provenance import code_hash

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS (nibabel) <-> LPS (ITK), its own inverse


@dataclass(frozen=True)
class RegistrationConfig:
    """Knobs of :func:`register_template`; the defaults fit a 256^3 head in a few seconds."""

    spacing_mm: float = 4.0  # images are block-averaged to about this spacing before registering
    shrink_factors: tuple[int, ...] = (2, 1)  # pyramid on top of that
    smoothing_sigmas: tuple[float, ...] = (1.0, 0.0)  # voxels, per level
    histogram_bins: int = 32
    sampling: float = 0.1  # fraction of voxels sampled by the metric
    iterations: tuple[int, int] = (100, 100)  # similarity stage, affine stage
    seed: int = 1234

    def __post_init__(self):  # lists (from YAML) become tuples, so equal configs print and hash alike
        for name in ("shrink_factors", "smoothing_sigmas", "iterations"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class FaceRegion:
    """Which part of the template is face.

    grow_mm: pydeface's face mask is grown by this distance (mm, on the template) in every direction;
      0 is pydeface's mask as shipped.
    brain_margin_mm: the growth never comes closer than this to the template's brain (deepbet's mask
      of the template head). pydeface's own mask keeps about 9 mm from it.
    to_brows: on each subject, the region also covers what lies above it (in the template's frame, over
      its footprint) up to ``above_pole_mm`` above the subject's frontal pole, at least
      ``brain_margin_mm`` from the subject's own brain (deepbet, its sagittal profile): the brows and
      upper eyelids of a real face that the registered mask misses (:mod:`benchmark.anatomy.brows`).
    """

    grow_mm: float = 0.0
    brain_margin_mm: float = 12.0
    to_brows: bool = False
    above_pole_mm: float = 10.0

    def __post_init__(self):
        if min(self.grow_mm, self.brain_margin_mm, self.above_pole_mm) < 0:
            raise BenchmarkError(f"face region: grow_mm, brain_margin_mm and above_pole_mm must be >= 0, got {self}")


def _region(region: FaceRegion | None) -> FaceRegion:
    return region if region is not None else FaceRegion()


@dataclass(frozen=True, eq=False)
class TemplateFit:
    """The template fitted to one subject; the resampled volumes are computed on first access.

    transform: ITK affine mapping subject physical points (LPS mm) to template physical points.
    world_matrix: the same map as a 4x4 in nibabel's RAS mm convention (template = M @ subject).
    voxel_matrix: subject voxel index -> template voxel index (4x4).
    affine, shape: the subject grid.
    metric: final Mattes mutual-information value (lower is better), for diagnostics.
    """

    transform: sitk.Transform
    world_matrix: np.ndarray
    voxel_matrix: np.ndarray
    affine: np.ndarray
    shape: tuple[int, int, int]
    metric: float

    @functools.cached_property
    def template_on_subject(self) -> nib.Nifti1Image:
        """Template intensities (float32) on the subject grid, 0 outside the template's field of view."""
        return _on_grid(self.template_array(), self.affine)

    @functools.cached_property
    def facemask_on_subject(self) -> nib.Nifti1Image:
        """Face weight (float32 in [0, 1]) on the subject grid, **1 inside the face**, linear at the edge.

        That is the region pydeface zeroes (pydeface's file stores the complement); it extends past the
        template's field of view by repeating its edge.
        """
        return _on_grid(self.facemask_array(), self.affine)

    def face(self, threshold: float = 0.5) -> np.ndarray:
        """Boolean face region on the subject grid."""
        return np.asarray(self.facemask_on_subject.dataobj) > threshold

    def template_array(self, box: tuple[slice, ...] | None = None) -> np.ndarray:
        """Template intensities on the subject grid, or on its sub-box ``box`` (cheaper)."""
        vox, shape = self._sub(box)
        return resample_voxels(load_template().head, vox, shape, edge="zeros")

    def facemask_array(self, box: tuple[slice, ...] | None = None, region: FaceRegion | None = None) -> np.ndarray:
        """Face weight (1 inside the face) on the subject grid, or on its sub-box ``box``."""
        vox, shape = self._sub(box)
        return np.clip(1.0 - resample_voxels(keep_mask(region), vox, shape, edge="border"), 0.0, 1.0)

    def face_box(self, margin_mm: float = 0.0, stride: int = 4,
                 region: FaceRegion | None = None) -> tuple[slice, ...] | None:
        """Bounding box (slices of the subject grid) of the face region grown by ``margin_mm``; None if empty.

        Found on a grid ``stride`` times coarser, then grown by one coarse step.
        """
        step = np.diag([stride, stride, stride, 1.0])
        coarse = tuple(-(-n // stride) for n in self.shape)
        vox = self.voxel_matrix @ step
        face = resample_voxels(keep_mask(region), vox, coarse, edge="border") < 0.999
        if not face.any():
            return None
        zooms = np.linalg.norm(self.affine[:3, :3], axis=0)
        grow = stride + np.ceil(margin_mm / zooms).astype(int)
        out = []
        for axis in range(3):
            idx = np.nonzero(face.any(axis=tuple(a for a in range(3) if a != axis)))[0]
            lo, hi = idx[0] * stride - grow[axis], idx[-1] * stride + 1 + grow[axis]
            out.append(slice(max(0, int(lo)), min(self.shape[axis], int(hi))))
        return tuple(out)

    def _sub(self, box: tuple[slice, ...] | None) -> tuple[np.ndarray, tuple[int, int, int]]:
        if box is None:
            return self.voxel_matrix, self.shape
        start = np.eye(4)
        start[:3, 3] = [b.start or 0 for b in box]
        shape = tuple(len(range(*b.indices(n))) for b, n in zip(box, self.shape))
        return self.voxel_matrix @ start, shape


@dataclass(frozen=True)
class _Template:
    head: np.ndarray  # float32
    keep: np.ndarray  # float32, pydeface's mask: 1 keep, 0 face
    affine: np.ndarray


def template_paths() -> tuple[Path, Path]:
    """Paths of pydeface's template head and face mask."""
    data = resources.files("pydeface") / "data"
    head, mask = Path(str(data / "mean_reg2mean.nii.gz")), Path(str(data / "facemask.nii.gz"))
    for p in (head, mask):
        if not p.is_file():
            raise BenchmarkError("pydeface's template file is missing; reinstall pydeface==2.1.0", p)
    return head, mask


@functools.lru_cache(maxsize=1)
def load_template() -> _Template:
    head_path, mask_path = template_paths()
    head, mask = nib.load(head_path), nib.load(mask_path)
    # C order (NIfTI arrays load in Fortran order): every resampling hands torch a C-ordered copy otherwise
    keep = np.ascontiguousarray(mask.dataobj, dtype=np.float32)
    keep[:, -1] = keep[:, -2]  # the file's most anterior slice is cut lower than its neighbours
    return _Template(
        head=np.ascontiguousarray(head.dataobj, dtype=np.float32),
        keep=keep,
        affine=head.affine.copy(),
    )


def template_image() -> nib.Nifti1Image:
    """The template head as a nibabel image (float32)."""
    t = load_template()
    return nib.Nifti1Image(t.head, t.affine)


@functools.lru_cache(maxsize=1)
def template_brain() -> np.ndarray:
    """deepbet's brain mask of the template head (bool, template grid; cached on disk like any mask)."""
    return BrainMasker.default()(template_image())


@functools.lru_cache(maxsize=4)
def keep_mask(region: FaceRegion | None = None) -> np.ndarray:
    """The complement of the face region on the template grid (float32, 1 keep, 0 face, linear at the edge).

    Without growth it is pydeface's mask. Grown: a voxel within ``grow_mm`` of pydeface's face and at
    least ``brain_margin_mm`` from the template's brain is face too (edge softened over a voxel).
    """
    region = _region(region)
    tpl = load_template()
    if region.grow_mm == 0:
        return tpl.keep
    zooms = np.linalg.norm(tpl.affine[:3, :3], axis=0)
    face = tpl.keep < 0.5
    near_face = within_mm(face, zooms, region.grow_mm)
    far_from_brain = ~within_mm(template_brain(), zooms, region.brain_margin_mm, strict=True)
    grown = ndi.gaussian_filter((near_face & far_from_brain).astype(np.float32), 0.6)
    keep = np.minimum(tpl.keep, 1.0 - grown).astype(np.float32)
    return keep


@functools.lru_cache(maxsize=4)
def upward_face(region: FaceRegion | None = None) -> np.ndarray:
    """The face weight of ``region`` on the template grid extended upward (:func:`benchmark.anatomy.brows.upward`)."""
    return upward(1.0 - keep_mask(region))


@dataclass(eq=False)
class FacePatch:
    """A volume's face region, as the face-region methods (blur, refacing, fill) work on it.

    volume: the whole voxel array (float32, the image's own voxel order); zooms: mm per voxel axis;
    fit: the template registered to it; box: slices of the face's bounding box (grown by the margin
    asked for); face: the face weight on the box (1 inside, linear at the edge).
    """

    volume: np.ndarray
    zooms: np.ndarray
    fit: TemplateFit
    box: tuple[slice, ...]
    face: np.ndarray

    @property
    def data(self) -> np.ndarray:
        """The volume on the box (a view)."""
        return self.volume[self.box]

    @functools.cached_property
    def template(self) -> np.ndarray:
        """The registered template's intensities on the box."""
        return self.fit.template_array(self.box)

    def paste(self, patch: np.ndarray) -> np.ndarray:
        """A copy of the whole volume with ``patch`` in the box."""
        out = self.volume.copy()
        out[self.box] = patch
        return out


def face_patch(
    img: nib.spatialimages.SpatialImage,
    config: RegistrationConfig | None = None,
    *,
    margin_mm: float = 0.0,
    region: FaceRegion | None = None,
) -> FacePatch | None:
    """Register the template to ``img`` and cut out its face region grown by ``margin_mm``; None when
    the face is outside the field of view."""
    fit = register_template(img, config)
    region = _region(region)
    zooms = np.linalg.norm(np.asarray(img.affine)[:3, :3], axis=0)
    box = fit.face_box(margin_mm=margin_mm, region=region)
    brows = brow_extension(img, fit, region, zooms) if region.to_brows else None
    if brows is not None:
        box = union_box(box, brows.box(margin_mm))
    if box is None:
        return None
    face = fit.facemask_array(box, region)
    if brows is not None:
        face = np.maximum(face, brows.weight(box))
    volume = np.asarray(img.dataobj, dtype=np.float32)
    return FacePatch(volume=volume, zooms=zooms, fit=fit, box=box, face=face)


def brow_extension(img: nib.spatialimages.SpatialImage, fit: TemplateFit, region: FaceRegion,
                   zooms: np.ndarray) -> BrowExtension:
    """The face region's extension to the brows on ``img`` (:mod:`benchmark.anatomy.brows`)."""
    brain = BrainMasker.default()(img)
    height_mm = float(np.linalg.norm(load_template().affine[:3, 2]))  # template voxel size along axis 2
    top = pole_height(brain, fit.voxel_matrix, img.get_filename()) + region.above_pole_mm / height_mm
    return BrowExtension(up=upward_face(region), voxel_matrix=fit.voxel_matrix, top=top, brain=brain,
                         zooms=zooms, brain_margin_mm=region.brain_margin_mm)


_MEMO: Recent = Recent(4)


def register_template(
    img: nib.spatialimages.SpatialImage, config: RegistrationConfig | None = None, *, memo: bool = True
) -> TemplateFit:
    """Fit the template head to ``img`` (affine, mutual information) and resample it onto ``img``'s grid."""
    config = config or RegistrationConfig()
    if len(img.shape) != 3:
        raise BenchmarkError(f"expected a 3D volume, got shape {img.shape}; pass one volume at a time")
    key = f"{array_hash(img)}-{asdict(config)}"
    if not memo:
        return _register(img, config)
    fit = _MEMO.recall(key)
    return fit if fit is not None else _MEMO.keep(key, _register_cached(img, config, key))


def clear_memo() -> None:
    """Forget the fits memoised in memory (the disk cache stays)."""
    _MEMO.clear()


def _register_cached(img: nib.spatialimages.SpatialImage, cfg: RegistrationConfig, key: str) -> TemplateFit:
    """:func:`_register` through the disk cache: every field of the fit, the ITK transform as its parameters."""
    stage_key = f"{key[:32]}-{config_hash({'config': asdict(cfg), 'code': code_hash(__name__)})}"
    cache = DiskCache(default_cache_dir())
    return _unpack_fit(cache.get_or_compute("registration", stage_key, lambda: _pack_fit(_register(img, cfg))))


def _pack_fit(fit: TemplateFit) -> dict[str, np.ndarray]:
    out = {f.name: np.asarray(getattr(fit, f.name)) for f in fields(fit) if f.name != "transform"}
    out["transform_parameters"] = np.asarray(fit.transform.GetParameters())
    out["transform_fixed"] = np.asarray(fit.transform.GetFixedParameters())
    return out


def _unpack_fit(stored: dict[str, np.ndarray]) -> TemplateFit:
    transform = sitk.AffineTransform(3)
    transform.SetFixedParameters(stored.pop("transform_fixed").tolist())
    transform.SetParameters(stored.pop("transform_parameters").tolist())
    values = {k: (v.item() if v.ndim == 0 else v) for k, v in stored.items()}
    values["shape"] = tuple(int(n) for n in values["shape"])
    return TemplateFit(transform=transform, **values)


def _register(img: nib.spatialimages.SpatialImage, cfg: RegistrationConfig) -> TemplateFit:
    """Register with every SimpleITK filter on one thread: threaded sums vary with scheduling, and a
    benchmark must give the same numbers twice (registration runs on ~4 mm images, so this is cheap)."""
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        return _register_single_thread(img, cfg)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _register_single_thread(img: nib.spatialimages.SpatialImage, cfg: RegistrationConfig) -> TemplateFit:
    tpl = load_template()
    data = np.asarray(img.dataobj, dtype=np.float32)
    if not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    fixed = shrunk(data, img.affine, cfg.spacing_mm)
    moving = template_head_image(cfg.spacing_mm)
    try:
        sim = sitk.Similarity3DTransform(
            sitk.CenteredTransformInitializer(
                fixed, moving, sitk.Similarity3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
            )
        )
        run_registration(fixed, moving, sim, cfg, cfg.iterations[0])
        affine = as_affine(sim)
        metric = run_registration(fixed, moving, affine, cfg, cfg.iterations[1])
    except RuntimeError as err:  # ITK: empty image, too few overlapping samples, ...
        reason = next((ln.strip() for ln in str(err).splitlines() if "ITK ERROR" in ln), str(err).splitlines()[0])
        raise BenchmarkError(
            f"registering the template head failed ({reason}); is this a T1w head MRI?", img.get_filename()
        ) from None

    lps = as_matrix(affine)  # subject LPS -> template LPS
    world = LPS @ lps @ LPS  # subject RAS -> template RAS
    return TemplateFit(
        transform=affine,
        world_matrix=world,
        voxel_matrix=np.linalg.inv(tpl.affine) @ world @ img.affine,
        affine=np.asarray(img.affine, dtype=np.float64).copy(),
        shape=tuple(int(n) for n in img.shape),
        metric=metric,
    )


def run_registration(fixed, moving, transform, cfg: RegistrationConfig, iterations: int, moving_mask=None) -> float:
    """Optimise ``transform`` in place (the metric only where ``moving_mask`` is set, if given);
    return the final metric value."""
    reg = registration_method(transform, cfg, iterations)
    if moving_mask is not None:
        reg.SetMetricMovingMask(moving_mask)
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=cfg.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(cfg.sampling, cfg.seed)
    reg.Execute(fixed, moving)
    return float(reg.GetMetricValue())


def registration_method(transform: sitk.Transform, cfg: RegistrationConfig, iterations: int) -> sitk.ImageRegistrationMethod:
    """The optimiser and pyramid every registration here shares (gradient descent, scales from physical shift,
    ``cfg``'s shrink factors and smoothing), optimising ``transform`` in place; the caller sets the metric."""
    reg = sitk.ImageRegistrationMethod()
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=iterations, relaxationFactor=0.5
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(cfg.shrink_factors))
    reg.SetSmoothingSigmasPerLevel(list(cfg.smoothing_sigmas))
    reg.SetInitialTransform(transform, inPlace=True)
    return reg


def as_affine(transform: sitk.Similarity3DTransform) -> sitk.AffineTransform:
    """The same mapping as a general affine transform (same centre), to refine with 12 parameters."""
    affine = sitk.AffineTransform(3)
    affine.SetCenter(transform.GetCenter())
    affine.SetMatrix(transform.GetMatrix())
    affine.SetTranslation(transform.GetTranslation())
    return affine


def as_matrix(transform: sitk.Transform) -> np.ndarray:
    """4x4 matrix of an affine ITK transform, read off by mapping the origin and unit points."""
    o = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    m = np.eye(4)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1.0
        m[:3, i] = np.array(transform.TransformPoint(tuple(e))) - o
    m[:3, 3] = o
    return m


@functools.lru_cache(maxsize=2)
def template_head_image(spacing_mm: float) -> sitk.Image:
    """The template head as :func:`shrunk` makes it (once per process and spacing: the moving image of every
    registration; ITK's registration reads it and never writes it)."""
    tpl = load_template()
    return shrunk(tpl.head, tpl.affine, spacing_mm)


def shrunk(data: np.ndarray, affine: np.ndarray, spacing_mm: float) -> sitk.Image:
    """An ITK image of ``data`` (physical geometry from ``affine``), block-averaged to about ``spacing_mm``."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    lps = LPS @ affine
    zooms = np.linalg.norm(lps[:3, :3], axis=0)
    u, _, vt = np.linalg.svd(lps[:3, :3] / zooms)  # nearest orthonormal direction (drops any shear)
    image.SetSpacing(tuple(float(z) for z in zooms))
    image.SetDirection(tuple((u @ vt).ravel().tolist()))
    image.SetOrigin(tuple(float(v) for v in lps[:3, 3]))
    factors = [max(1, int(round(spacing_mm / z))) for z in zooms]
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def _on_grid(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    out = nib.Nifti1Image(data.astype(np.float32, copy=False), affine)
    out.set_qform(affine, 1)
    out.set_sform(affine, 1)
    return out


def match_intensities(source: np.ndarray, target: np.ndarray, where: np.ndarray, quantiles: int = 101) -> np.ndarray:
    """Map ``source`` intensities onto ``target``'s by quantile matching over the voxels ``where``.

    Used to paint the template's tissue into a subject (refacing, the attacker's ``fill``): the
    template's quantiles in a region are sent to the subject's quantiles in the same region.
    """
    if not where.any():
        where = np.ones_like(where, dtype=bool)
    q = np.linspace(0.0, 100.0, quantiles)
    qs = np.percentile(source[where], q)
    qt = np.percentile(target[where], q)
    qs = qs + 1e-6 * np.arange(q.size) * max(float(qs[-1] - qs[0]), 1.0)  # strictly increasing for interp
    return np.interp(source, qs, qt).astype(np.float32)
