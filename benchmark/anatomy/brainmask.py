"""Brain masks from deepbet (weights shipped in the PyPI package, pinned by SHA-256), on the input's own grid, cached on disk.

deepbet sees only the volume's closest-canonical (RAS) voxel array, so a mask is keyed by a hash of
that array (a file, its in-memory copy and any reoriented copy share an entry) and by the masker's
config hash. Entries are stored bit-packed in RAS order (2 MB for 256^3).
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import config_hash, sha256_array, sha256_file

STAGE = "brainmask"
COARSE_STAGE = "brainmask-coarse"  # deepbet's first stage (bounding-box network), shared by masks and coarse_brain


def default_cache_dir() -> Path:
    """``$BENCHMARK_CACHE_DIR``, else ``.cache`` in the working directory (the config's ``paths.cache_dir``)."""
    return Path(os.environ.get("BENCHMARK_CACHE_DIR") or ".cache")


def array_hash(img: nib.spatialimages.SpatialImage) -> str:
    """SHA-256 of a volume's voxel values (as stored), dtype, shape and affine."""
    data = np.ascontiguousarray(np.asanyarray(img.dataobj))
    h = hashlib.sha256()
    h.update(f"{data.dtype.str}{data.shape}".encode())
    h.update(np.asarray(img.affine, dtype=np.float64).tobytes())
    h.update(memoryview(data).cast("B"))
    return h.hexdigest()


#: SHA-256 of the two TorchScript files deepbet 1.0.2 ships (``<site-packages>/data/models/``), as the face
#: models are pinned (:mod:`benchmark.attacks.models`): another file under those names is refused.
DEEPBET_SHA256: dict[str, str] = {
    "model.pt": "de8ee7c69654d0dd3935dc4a5d84571d8ecf4637a6bfc01df399c4c2bc86e0fd",
    "bbox_model.pt": "39a7b2b5f799faa1391ea97bfcdc0b9299f20d84f2316a4ff8918dc4685e40aa",
}


def deepbet_model_files() -> dict[str, Path]:
    """The deepbet weight files, each checked against :data:`DEEPBET_SHA256` (BenchmarkError naming it)."""
    from deepbet.utils import DATA_PATH

    files = {}
    for name, expected in DEEPBET_SHA256.items():
        path = Path(DATA_PATH) / "models" / name
        if not path.is_file():
            raise BenchmarkError("deepbet's weight file is missing; reinstall deepbet==1.0.2", path)
        digest = sha256_file(path)
        if digest != expected:
            raise BenchmarkError(f"deepbet weights have SHA-256 {digest}, expected {expected} (deepbet 1.0.2); "
                                 "reinstall deepbet==1.0.2", path)
        files[name] = path
    return files


@functools.lru_cache(maxsize=2)
def _deepbet(no_gpu: bool):
    from deepbet import BrainExtraction

    files = deepbet_model_files()
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
        warnings.simplefilter("ignore", DeprecationWarning)
        return BrainExtraction(no_gpu=no_gpu, model_path=str(files["model.pt"]),
                               bbox_model_path=str(files["bbox_model.pt"]))


@functools.lru_cache(maxsize=4)
def _network(no_gpu: bool, name: str):
    """deepbet's ``model`` or ``bbox_model`` as :class:`benchmark.anatomy.unet.UNet` (its numbers, faster)."""
    from benchmark.anatomy.unet import UNet

    return UNet(getattr(_deepbet(no_gpu), name))


def sorted_quantiles(x, qs: tuple[float, ...]) -> list:
    """``[x.quantile(q) for q in qs]`` (torch, linear interpolation) bit for bit, by one selection
    (``np.partition``, O(n)) instead of a sort per quantile (~10x faster on a 128^3 volume): the values of
    rank ``floor(r)`` and ``ceil(r)``, ``r = q (n - 1)`` computed in ``x``'s dtype as torch does, joined by
    ``lerp`` with weight ``r - floor(r)``."""
    import torch

    flat = x.reshape(-1)
    ranks = [torch.tensor(q, dtype=flat.dtype) * (flat.numel() - 1) for q in qs]
    kth = sorted({int(k) for r in ranks for k in (r.floor(), r.ceil())})
    part = torch.from_numpy(np.partition(flat.numpy(), kth))
    return [torch.lerp(part[int(r.floor())], part[int(r.ceil())], r - r.floor()) for r in ranks]


def _first_stage(x, size: int = 128, no_gpu: bool = True, cache: DiskCache | None = None):
    """deepbet 1.0.2's first stage (``BrainExtraction.run_model``) on a closest-canonical tensor: the input
    resampled to ``size``^3 (``nearest-exact``), its 0.5% and 99.5% quantiles (:func:`sorted_quantiles`, equal
    to deepbet's ``quantile``), and where the bounding-box network's brain probability exceeds 0.5 (float32
    0/1, ``size``^3). With ``cache``, kept by the content of ``x`` (:data:`COARSE_STAGE`): a volume's full
    mask and its :func:`coarse_brain` (the ``anatomy`` attack) then run the network once between them."""
    import torch
    import torch.nn.functional as F
    from deepbet.utils import normalize

    def compute() -> dict[str, np.ndarray]:
        small = F.interpolate(x[None, None], (size,) * 3, mode="nearest-exact")[0, 0]
        low, high = sorted_quantiles(small, (0.005, 0.995))
        prob = _network(no_gpu, "bbox_model")(normalize(small, low, high)[None, None])[0, 1]
        return {"low": low.numpy(), "high": high.numpy(), "bits": np.packbits((prob > 0.5).cpu().numpy().ravel())}

    if cache is None:
        out = compute()
    else:
        key = f"{sha256_array(x.numpy())[:32]}-{config_hash({'size': size, 'model': BrainMaskConfig.model})}"
        out = cache.get_or_compute(COARSE_STAGE, key, compute)
    found = np.unpackbits(out["bits"], count=size**3).reshape((size,) * 3).astype(np.float32)
    return torch.from_numpy(out["low"]), torch.from_numpy(out["high"]), found


def coarse_brain(img: nib.spatialimages.SpatialImage, size: int = 128, *, no_gpu: bool = True,
                 cache: DiskCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """deepbet's first stage alone: its bounding-box network's brain mask (largest component) on a
    ``size``^3 grid spanning the closest-canonical volume, and that grid's voxel -> RAS affine.

    About a tenth of a full mask's cost (~0.3 CPU s): enough to place a brain (centre, extent, volume)
    without trusting anything outside it. The resampling is deepbet's own (``nearest-exact``, so grid
    voxel ``i`` samples input voxel ``floor((i + 0.5) n / size)``, centred at ``(i + 0.5) n / size - 0.5``).
    ``cache``: see :func:`_first_stage`.
    """
    import torch
    from deepbet.utils import keep_largest_connected_component

    if len(img.shape) != 3:
        raise BenchmarkError(f"expected a 3D volume, got shape {img.shape}; pass one volume at a time")
    canonical = nib.as_closest_canonical(img)
    x = torch.nan_to_num(torch.from_numpy(np.asarray(canonical.dataobj, dtype=np.float32).copy()))
    found = _first_stage(x, size, no_gpu, cache)[2]
    if not found.any():
        raise BenchmarkError("deepbet finds no brain in this volume; is it a head MRI?", img.get_filename())
    mask = keep_largest_connected_component(found).astype(bool)
    step = np.asarray(canonical.shape, dtype=np.float64) / size
    grid = np.diag([*step, 1.0])
    grid[:3, 3] = (step - 1.0) / 2.0
    return mask, canonical.affine @ grid


def _probability(canonical: np.ndarray, no_gpu: bool = True, cache: DiskCache | None = None
                 ) -> tuple[np.ndarray, tuple[slice, ...]]:
    """deepbet 1.0.2's ``BrainExtraction.run_model`` step for step (its brain probability on the input grid,
    and the bounding box it sets), but for the quantiles and the first stage (:func:`_first_stage`), and its
    network run by :class:`benchmark.anatomy.unet.UNet` (same numbers)."""
    import torch
    import torch.nn.functional as F
    from deepbet.utils import keep_largest_connected_component, normalize

    bet = _deepbet(no_gpu)
    x = torch.nan_to_num(torch.from_numpy(np.array(canonical, dtype=np.float32)))
    mask = torch.zeros_like(x)
    low, high, found = _first_stage(x, 128, no_gpu, cache)
    mask_small = torch.from_numpy(keep_largest_connected_component(found))
    bbox = bet.get_bbox_with_margin(mask_small, mask.shape, 0.1)
    crop = F.interpolate(x[bbox][None, None], (256, 256, 256), mode="nearest-exact")[0, 0]
    mask_bbox = _network(no_gpu, "model")(normalize(crop, low, high)[None, None])[0, 1]
    mask[bbox] = F.interpolate(mask_bbox[None, None], mask[bbox].shape, mode="nearest-exact")[0, 0]
    return mask.cpu().numpy(), bbox


@dataclass(frozen=True)
class BrainMaskConfig:
    threshold: float = 0.5
    n_dilate: int = 0
    model: str = "deepbet-1.0.2"


class BrainMasker:
    """``masker(img) -> bool array`` on ``img``'s grid; ``cache`` (a DiskCache) is used when ``cached=True``."""

    def __init__(
        self,
        cache: DiskCache | str | os.PathLike | None = None,
        threshold: float = 0.5,
        n_dilate: int = 0,
        no_gpu: bool = True,
    ):
        self.config = BrainMaskConfig(threshold=threshold, n_dilate=n_dilate)
        self.cache = DiskCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.no_gpu = no_gpu
        self.computed = 0  # deepbet runs, for tests and benchmarks

    @classmethod
    def default(cls) -> "BrainMasker":
        """A masker caching under :func:`default_cache_dir`."""
        return cls(cache=DiskCache(default_cache_dir()))

    def key(self, canonical: np.ndarray) -> str:
        """Cache key of a closest-canonical (RAS) voxel array: deepbet sees nothing else of the volume."""
        return f"{sha256_array(canonical)[:32]}-{config_hash(asdict(self.config))}"

    def __call__(self, img: nib.spatialimages.SpatialImage, *, cached: bool = True) -> np.ndarray:
        if len(img.shape) != 3:
            raise BenchmarkError(f"expected a 3D volume, got shape {img.shape}; pass one volume at a time")
        ornt = nib.io_orientation(img.affine)
        x = np.ascontiguousarray(nib.apply_orientation(np.asanyarray(img.dataobj), _ornt(ornt, _RAS)))
        if not cached or self.cache is None:
            mask = self._compute(x)
        else:
            mask = _unpack(self.cache.get_or_compute(STAGE, self.key(x), lambda: _pack(self._compute(x, self.cache))))
        return np.ascontiguousarray(nib.apply_orientation(mask, _ornt(_RAS, ornt)))

    def mask_image(self, img: nib.spatialimages.SpatialImage, *, cached: bool = True) -> nib.Nifti1Image:
        """The mask as a uint8 image with ``img``'s affine."""
        out = nib.Nifti1Image(self(img, cached=cached).astype(np.uint8), img.affine)
        out.set_qform(img.affine, 1)
        out.set_sform(img.affine, 1)
        return out

    def _compute(self, canonical: np.ndarray, cache: DiskCache | None = None) -> np.ndarray:
        """deepbet's mask of a closest-canonical (RAS) array, as deepbet's own ``run`` computes it (its first
        stage through ``cache``)."""
        bet = _deepbet(self.no_gpu)
        self.computed += 1
        try:
            prob, bet.bbox = _probability(canonical, self.no_gpu, cache)
            return bet.postprocess(prob > self.config.threshold, self.config.n_dilate).astype(bool)
        except (AssertionError, ValueError):  # deepbet finds no foreground at all: no brain
            return np.zeros(canonical.shape, dtype=bool)


_RAS = np.array([[0, 1], [1, 1], [2, 1]])


def _ornt(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return nib.orientations.ornt_transform(src, dst)


def _pack(mask: np.ndarray) -> dict[str, np.ndarray]:
    return {"bits": np.packbits(mask.ravel()), "shape": np.asarray(mask.shape, dtype=np.int64)}


def _unpack(entry: dict[str, np.ndarray]) -> np.ndarray:
    shape = tuple(int(s) for s in entry["shape"])
    return np.unpackbits(entry["bits"], count=int(np.prod(shape))).astype(bool).reshape(shape)
