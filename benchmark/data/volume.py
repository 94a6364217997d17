"""Loading and saving MRI volumes (any contrast) with the checks a user's file deserves.

Every problem a user can cause (not NIfTI, truncated gzip, 2D or 4D, NaN or Inf, all zero, a header
declaring more voxels than allowed, a missing file) raises :class:`BenchmarkError` naming the file.
Volumes are brought to RAS with ``nibabel.as_closest_canonical``; the affine travels with the array.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from isal import igzip
from isal.isal_zlib import error as IsalError

from benchmark.core.config import DEFAULT_MAX_VOXELS  # 2^28 voxels (1 GiB as float32), far above any head scan
from benchmark.core.errors import BenchmarkError
from benchmark.core.memo import Recent
from benchmark.core.files import atomic_path, sha256_file


def read_header(path: str | os.PathLike, max_voxels: int = DEFAULT_MAX_VOXELS) -> nib.Nifti1Image:
    """Open a NIfTI lazily and check what its header declares, before any voxel array is allocated."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError("file not found", path)
    try:
        img = nib.load(path)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise BenchmarkError(f"not a readable NIfTI volume ({_short(exc)})", path) from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise BenchmarkError(f"not a NIfTI volume (nibabel read it as {type(img).__name__})", path)
    shape = tuple(int(s) for s in img.header.get_data_shape())
    spatial = shape[:3] if len(shape) == 4 and shape[3] == 1 else shape
    if len(spatial) != 3:
        raise BenchmarkError(f"expected a 3D volume, got {len(shape)}D with shape {shape}", path)
    n = int(np.prod(spatial, dtype=np.int64))
    if n > max_voxels:
        raise BenchmarkError(
            f"header declares {n:,} voxels (shape {spatial}), over the limit of {max_voxels:,} "
            "(limits.max_voxels)", path)
    if n == 0:
        raise BenchmarkError(f"header declares an empty volume, shape {shape}", path)
    zooms = img.header.get_zooms()[:3]
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        raise BenchmarkError(f"voxel sizes must be positive, header says {tuple(map(float, zooms))}", path)
    if not np.all(np.isfinite(img.affine)) or abs(np.linalg.det(img.affine[:3, :3])) < 1e-12:
        raise BenchmarkError("the affine is singular or not finite", path)
    return img


def load_volume(path: str | os.PathLike, max_voxels: int = DEFAULT_MAX_VOXELS,
                canonical: bool = True, order: str = "K") -> nib.Nifti1Image:
    """Load a 3D volume, checked, as float32, in RAS orientation when ``canonical``.

    Returns a new ``Nifti1Image`` whose data array is in memory (no lazy proxy) and its own. ``order``: the
    array's memory layout, ``"K"`` as nibabel decodes the file (Fortran order for NIfTI; the renders were
    tuned on it), ``"C"`` C order (the baselines: numpy and scipy run faster on it, blur about 2x on 256^3).
    """
    img = read_header(path, max_voxels)
    data = _voxels(img, path, order)
    out = nib.Nifti1Image(data, img.affine, img.header)
    out.header.set_data_dtype(np.float32)
    out.header.set_slope_inter(1.0, 0.0)
    return nib.as_closest_canonical(out) if canonical else out


def _voxels(img: nib.Nifti1Image, path: str | os.PathLike, order: str = "K") -> np.ndarray:
    """:func:`read_data` as float32 in memory ``order`` (:func:`load_volume`), or a copy of it when a file of
    the same content was read lately: a volume's attacks and its utility measure load it one after another
    in a process, and decompressing costs more than copying. The last 4 arrays (:data:`_VOXELS`) of at most
    :data:`_VOXELS_MAX_BYTES` each are kept, as decoded."""
    key = sha256_file(path)
    kept = _VOXELS.recall(key)
    if kept is not None:
        return np.array(kept, order=order)
    data = np.asarray(read_data(img, path), dtype=np.float32)
    if data.nbytes <= _VOXELS_MAX_BYTES:
        _VOXELS.keep(key, np.array(data, order="K"))
    return np.asarray(data, order=order)


_VOXELS: Recent = Recent(4)
_VOXELS_MAX_BYTES = 128 << 20  # a 256^3 float32 volume is 64 MiB


def clear_voxel_memo() -> None:
    """Forget the arrays :func:`load_volume` keeps (benchmarks timing a first load; tests)."""
    _VOXELS.clear()


def read_data(img: nib.spatialimages.SpatialImage, path: str | os.PathLike | None = None) -> np.ndarray:
    """The checked 3D voxel array of ``img`` (from :func:`read_header`) as stored (a 4D file's one volume).

    A gzipped file is decompressed by ISA-L (``isal.igzip``: the same bytes as zlib gives, in half the
    time; 15 instead of 32 ms a 2 mm head) and read by nibabel from memory (:func:`_decompressed`).
    A truncated or corrupt file, NaN or Inf, or all zeros raises BenchmarkError naming ``path``.
    """
    try:
        data = np.asanyarray(_decompressed(img).dataobj)
    except (OSError, EOFError, zlib.error, IsalError, ValueError) as exc:
        raise BenchmarkError(f"cannot read the voxel data, the file is truncated or corrupt ({_short(exc)})",
                             path) from None
    if data.ndim == 4:
        data = data[..., 0]
    check_data(data, path)
    return data


def _decompressed(img: nib.spatialimages.SpatialImage) -> nib.spatialimages.SpatialImage:
    """``img`` read again from its file's decompressed bytes when the file is gzipped, else ``img``: nibabel's
    own image class, header and scaling, only the decompression is ISA-L's."""
    filename = img.get_filename()
    if filename is None or not str(filename).endswith(".gz"):
        return img
    return type(img).from_bytes(igzip.decompress(Path(filename).read_bytes()))


def check_data(data: np.ndarray, path: str | os.PathLike | None = None) -> None:
    """Refuse voxel data that no analysis can use: NaN or Inf, or nothing but zeros."""
    finite = np.isfinite(data)
    if not finite.all():
        bad = int((~finite).sum())
        raise BenchmarkError(f"{bad:,} voxels are NaN or Inf; fix or mask them before submitting", path)
    if not np.any(data):
        raise BenchmarkError("every voxel is zero", path)


def save_volume(img: nib.Nifti1Image, path: str | os.PathLike) -> Path:
    """Write a NIfTI atomically; ``.nii.gz`` files are gzipped with mtime 0 and no file name, so equal data give
    equal bytes, by ISA-L at its level 1 (``isal.igzip``: a standard gzip stream, 5x faster than zlib's level 1
    and a little smaller; zlib's level 6 took 0.4 s per 2 mm head, about a fifth of anonymising one)."""
    path = Path(path)
    buf = io.BytesIO()
    file_map = img.make_file_map({"image": buf, "header": buf})
    img.to_file_map(file_map)
    raw = buf.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(igzip.compress(raw, compresslevel=1, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def clean_image(img: nib.Nifti1Image, dtype=None) -> nib.Nifti1Image:
    """A copy with a fresh header (grid and data type only): no description, file names or dates."""
    data = np.asanyarray(img.dataobj)
    if dtype is not None:
        data = data.astype(dtype)
    out = nib.Nifti1Image(data, img.affine)
    out.header.set_xyzt_units("mm", "sec")
    out.header.set_qform(img.affine, code=1)
    out.header.set_sform(img.affine, code=1)
    return out


def same_grid(a: nib.Nifti1Image, b: nib.Nifti1Image, atol: float = 1e-4) -> bool:
    """True when two images share shape and affine (to ``atol`` mm)."""
    return a.shape[:3] == b.shape[:3] and np.allclose(a.affine, b.affine, atol=atol)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
