"""Base heads of the synthetic cohort other than the template: any full-head scan, brought into the head frame.

By default every synthetic person is grown from pydeface's mean head (:mod:`benchmark.data.face_regions`),
the head that the template-based baselines register, the pose estimator matches and ``fill`` reconstructs
from. ``dataset.base_heads=[scan.nii.gz, ...]`` grows them from other heads instead. Each scan is

1. loaded with the checked loader (:func:`benchmark.data.volume.load_volume`, RAS, float32);
2. registered: pydeface's template is fitted to it (:func:`benchmark.anatomy.template.register_template`,
   affine, mutual information; a fit that the template-based baselines would refuse,
   :mod:`benchmark.anatomy.placement`, is refused: not a head, face outside the field of view), and the scan is resampled through that fit onto the conditioned template's
   grid (head frame, about 1 mm; Gaussian pre-smoothing of ``0.45 * sqrt(t^2 - z^2)`` mm per axis against
   aliasing, ``z`` the scan's voxel size, ``t`` the grid's), so the landmarks that place the identity
   features and paint the photographs sit on its face; the grid is later smoothed to the cohort's voxel
   size like the template;
3. scaled to the template's intensity units: the median inside the brain (deepbet,
   :class:`benchmark.anatomy.brainmask.BrainMasker`) is set to the template's brain median; a scan with
   no brain is refused;
4. completed where its field of view ends: within :data:`BLEND_MM` of the field of view's border the
   registered template (its intensities matched to the scan's by quantiles over the head both hold) is
   blended in, and beyond it the template alone fills the face, lower head or sides the scan cut off;
5. cleaned: the air outside the head (:func:`benchmark.anatomy.head.head_mask` at half the template's
   skin threshold, its largest connected part) is set to zero (the sessions add their own noise).

The result is cached on disk under the cohort's cache folder (stage ``base-heads``), keyed by the
scan's SHA-256 and this code. :func:`describe` reports how much of each base's head and face the scan
itself held (the rest is template).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.anatomy.head import head_mask
from benchmark.anatomy.placement import PlacementCheck, measure_placement
from benchmark.anatomy.template import keep_mask, load_template as pydeface_template, match_intensities
from benchmark.anatomy.template import register_template, resample_voxels, template_brain
from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import config_hash, sha256_file
from benchmark.core.masks import largest_component
from benchmark.core.provenance import code_hash
from benchmark.data import face_regions as fr
from benchmark.data.volume import load_volume, read_header

#: Bump when a prepared base head changes for the same scan (it enters the cohort's cache key).
BASE_HEADS_VERSION = 1
BLEND_MM = 10.0  # width of the blend from the scan to the template at its field of view's border
MIN_BRAIN_ML = 300.0  # a base head's brain (deepbet) must be at least this large
STAGE = "base-heads"


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def scan_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a base head's file, after checking that it is a readable 3D NIfTI (BenchmarkError naming it)."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError("base head not found (dataset.base_heads)", path)
    read_header(path)
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class BaseHead:
    """A prepared base head on the conditioned template's grid (template intensity units), and how much
    of it came from the scan: ``in_view`` weight (1: the scan, 0: the template), the same grid."""

    data: np.ndarray
    in_view: np.ndarray


def prepare(path: str | os.PathLike, cache_dir: str | os.PathLike) -> BaseHead:
    """The base head of the scan at ``path`` (see the module docstring), cached under ``cache_dir``."""
    key = f"{scan_digest(path)[:32]}-{config_hash({'version': BASE_HEADS_VERSION, 'code': code_hash(__name__)})}"
    stored = DiskCache(cache_dir).get_or_compute(STAGE, key, lambda: _pack(_prepare(Path(path))))
    return BaseHead(data=stored["data"], in_view=stored["in_view"].astype(np.float32) / 255.0)


def _pack(base: BaseHead) -> dict[str, np.ndarray]:
    return {"data": base.data.astype(np.float32), "in_view": np.round(base.in_view * 255.0).astype(np.uint8)}


def grid_affine() -> np.ndarray:
    """Voxel -> head-frame mm of the conditioned template's grid: ``p = (ijk - origin_vox) * spacing``."""
    t = fr.load_template()
    affine = np.diag(np.append(t.spacing, 1.0))
    affine[:3, 3] = -t.origin_vox * t.spacing
    return affine


def _prepare(path: Path) -> BaseHead:
    img = load_volume(path)
    try:
        data, in_view = _into_head_frame(img)
    except BenchmarkError as err:  # registration names no file: the loaded copy has none
        raise BenchmarkError(f"base head: {err}", path) from None
    data = data * _brain_scale(data, path)
    data = _complete(data, in_view)
    data = data * _head_weight(data)
    return BaseHead(data=data.astype(np.float32), in_view=in_view.astype(np.float32))


def _into_head_frame(img: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray]:
    """The scan resampled onto the conditioned template's grid through the template fitted to it, and the
    weight of its field of view there (0 outside, rising to 1 over :data:`BLEND_MM` inside)."""
    t = fr.load_template()
    fit = register_template(img)
    problem = measure_placement(fit, img).problem(PlacementCheck())
    if problem:
        raise BenchmarkError(f"the template does not fit it: {problem}")
    unpad = np.eye(4)
    unpad[2, 3] = -fr.PAD_BELOW  # conditioned grid voxel -> pydeface template voxel
    vox = np.linalg.inv(img.affine) @ np.linalg.inv(fit.world_matrix) @ pydeface_template().affine @ unpad
    zooms = np.linalg.norm(img.affine[:3, :3], axis=0)
    target = float(t.spacing.max())
    sigma = 0.45 * np.sqrt(np.maximum(target ** 2 - zooms ** 2, 0.0)) / zooms
    source = np.asarray(img.dataobj, dtype=np.float32)
    if sigma.max() > 0.05:
        source = ndi.gaussian_filter(source, sigma, mode="nearest")
    data = resample_voxels(source, vox, t.data.shape, edge="zeros")
    cover = resample_voxels(np.ones(img.shape, dtype=np.float32), vox, t.data.shape, edge="zeros") > 0.999
    depth = ndi.distance_transform_edt(cover, sampling=t.spacing)
    return data, np.clip(depth / BLEND_MM, 0.0, 1.0).astype(np.float32)


def _brain_scale(data: np.ndarray, path: Path) -> float:
    """Factor that brings the scan's brain median (deepbet) to the template's."""
    brain = BrainMasker.default()(nib.Nifti1Image(data, grid_affine()))
    t = fr.load_template()
    if brain.sum() * float(np.prod(t.spacing)) / 1000.0 < MIN_BRAIN_ML:
        raise BenchmarkError(f"base head: no brain found (deepbet, under {MIN_BRAIN_ML:.0f} ml); "
                             "a base head must be a full-head MRI", path)
    level = float(np.median(data[brain]))
    if level <= 0:
        raise BenchmarkError("base head: the brain's median intensity is not positive", path)
    return float(np.median(pydeface_template().head[template_brain()])) / level


def _complete(data: np.ndarray, in_view: np.ndarray) -> np.ndarray:
    """Blend the template (intensities matched to the scan's) in where the scan's field of view ends."""
    if in_view.min() >= 1.0:
        return data
    tpl = fr.load_template().data
    both = (in_view >= 1.0) & (tpl > fr.SKIN_THRESHOLD) & (data > 0)
    matched = match_intensities(tpl, data, both)
    return in_view * data + (1.0 - in_view) * matched


def _head_weight(data: np.ndarray) -> np.ndarray:
    """1 on the head (its largest connected part above half the skin threshold, with the cavities it
    encloses, grown by 2 voxels), 0 in the air and on specks apart from it, softened over a voxel."""
    head = ndi.binary_dilation(largest_component(head_mask(data, threshold=0.5 * fr.SKIN_THRESHOLD)), iterations=2)
    return ndi.gaussian_filter(head.astype(np.float32), 1.0)


def face_weight() -> np.ndarray:
    """pydeface's face region on the conditioned template's grid (bool)."""
    keep = keep_mask()
    pad = np.ones(keep.shape[:2] + (fr.PAD_BELOW,), dtype=keep.dtype)
    return np.concatenate([pad, keep], axis=2) < 0.5


def describe(base: BaseHead, path: str | os.PathLike) -> dict[str, object]:
    """What the organisers should know of a base head: its file's digest and the share of its head and of
    its face (pydeface's face region) that came from the scan rather than the template."""
    head = base.data > fr.SKIN_THRESHOLD
    face = face_weight() & head
    return {"file": Path(path).name, "sha256": scan_digest(path),
            "head_from_scan": round(float(base.in_view[head].mean()), 3),
            "face_from_scan": round(float(base.in_view[face].mean()), 3) if face.any() else 0.0}
