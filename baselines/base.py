"""The one interface of a defacing baseline, and the volume helpers the baselines share.

A baseline maps a volume to a volume on exactly the same grid: same shape, same affine, header kept,
voxel values in the input's dtype. Subclasses implement :meth:`Baseline.deface` on the image's own
voxel array (any orientation, anisotropic voxels); :meth:`Baseline.anonymize` checks and wraps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

from benchmark.anatomy.head import head_mask, otsu_threshold  # noqa: F401 (the baselines' helpers)
from benchmark.anatomy.placement import Placement, PlacementCheck, measure_placement, placed_face_patch
from benchmark.anatomy.template import FacePatch, register_template
from benchmark.core.errors import BenchmarkError


ON_FAILURE = ("error", "copy")


@dataclass
class Baseline(ABC):
    """``anonymize(img) -> img`` on the input grid.

    on_failure: what ``anonymize`` (the command) does with a volume the method cannot deface (it raises
      BenchmarkError): ``error`` lists every such volume and exits non-zero; ``copy`` submits the volume
      unchanged and marks it in the submission, so scoring and the leaderboard list it.
    """

    on_failure: str = field(default="error", kw_only=True)

    def __post_init__(self):
        if self.on_failure not in ON_FAILURE:
            raise BenchmarkError(f"config: 'baseline.on_failure': {self.on_failure!r}, choose one of {list(ON_FAILURE)}")

    def anonymize(self, img: nib.Nifti1Image) -> nib.Nifti1Image:
        check_volume(img)
        return on_input_grid(img, self.deface(img))

    @abstractmethod
    def deface(self, img: nib.Nifti1Image) -> np.ndarray:
        """The anonymised voxel array, in ``img``'s voxel order and shape (any real dtype)."""

    def quality(self, img: nib.Nifti1Image) -> dict[str, float]:
        """Figures of how well the method could place itself on ``img``, recorded per volume by
        ``anonymize``; none for a method that places nothing."""
        return {}


class TemplateBaseline(Baseline):
    """A baseline working on the registered template's face region; subclasses (dataclasses) declare
    ``region`` (FaceRegion), ``registration`` (RegistrationConfig) and ``placement`` (PlacementCheck).

    The face region is never skipped: a volume where it cannot be placed (registration diverged, face
    outside the field of view, not a head) raises BenchmarkError (:mod:`benchmark.anatomy.placement`).
    """

    def face_patch(self, img: nib.Nifti1Image, margin_mm: float = 0.0) -> FacePatch:
        return placed_face_patch(img, self.registration, margin_mm=margin_mm, region=self.region,
                                 check=self.placement, placement=self.measured(img))

    def quality(self, img: nib.Nifti1Image) -> dict[str, float]:
        return self.measured(img).as_dict()

    def measured(self, img: nib.Nifti1Image) -> Placement:
        """The placement figures of ``img`` (:func:`measure_placement`), measured once for the image last
        asked about: ``anonymize`` checks them, then the command records them (:meth:`quality`)."""
        last = self.__dict__.get("_measured")
        if last is None or last[0] is not img:
            check = self.placement or PlacementCheck()
            last = (img, measure_placement(register_template(img, self.registration), img, check.spacing_mm))
        self.__dict__["_measured"] = last
        return last[1]

    def __getstate__(self) -> dict:  # a worker gets the method, not the image last measured
        return {k: v for k, v in self.__dict__.items() if k != "_measured"}


def check_volume(img) -> None:
    """Raise BenchmarkError unless ``img`` is a 3D nibabel image."""
    path = img.get_filename() if hasattr(img, "get_filename") else None
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise BenchmarkError(f"expected a nibabel image, got {type(img).__name__}; load it with nibabel.load")
    if len(img.shape) != 3:
        raise BenchmarkError(f"expected a 3D volume, got shape {img.shape}; pass one volume at a time", path)


def stored_dtype(img: nib.spatialimages.SpatialImage) -> np.dtype:
    """dtype of ``np.asanyarray(img.dataobj)``: the on-disk dtype, or float32 when the header scales values."""
    obj = img.dataobj
    if isinstance(obj, np.ndarray):
        return obj.dtype
    if getattr(obj, "slope", 1.0) != 1.0 or getattr(obj, "inter", 0.0) != 0.0:
        return np.dtype(np.float32)
    return np.dtype(img.get_data_dtype())


def on_input_grid(img: nib.spatialimages.SpatialImage, data: np.ndarray) -> nib.Nifti1Image:
    """Wrap ``data`` with ``img``'s affine and a copy of its header, cast (rounded, clipped) to its dtype."""
    if tuple(data.shape) != tuple(img.shape):
        raise BenchmarkError(f"baseline returned shape {data.shape} for a volume of shape {img.shape}")
    dtype = stored_dtype(img)
    if data.dtype != dtype:
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = np.clip(np.rint(data), info.min, info.max)
        data = data.astype(dtype)
    header = img.header.copy() if isinstance(img.header, nib.Nifti1Header) else None
    out = nib.Nifti1Image(data, img.affine.copy(), header)
    out.set_data_dtype(data.dtype)
    return out


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Length in mm of one step along each voxel axis."""
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, 3t^2 - 2t^3 between: a weight with zero slope at both ends."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
