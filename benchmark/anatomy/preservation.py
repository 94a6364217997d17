"""Utility: how much brain an anonymisation kept, measured against the original volume.

For each (original, anonymised) pair, deepbet brain masks of both (cached on disk, keyed by content).
The anonymised volume's mask is the original's, exactly, when no voxel within :data:`BRAIN_MARGIN_MM`
of the original's mask changed (deepbet is not run on it then); otherwise deepbet masks it afresh.

- ``brain_dice``: Dice of the two masks, 2|A n B| / (|A| + |B|);
- ``brain_changed_fraction``: fraction of the original mask's voxels whose value changed;
- ``tiv_original_ml``, ``tiv_anonymised_ml``, ``tiv_change_ml`` and ``tiv_change_fraction``: total
  intracranial volume from the mask voxel counts (mL) and its relative change (anonymised - original)
  / original, signed;
- ``brain_psnr_db``: 10 log10(peak^2 / MSE) inside the original mask, peak = the original's maximum
  there; identical brains give :data:`PSNR_CAP_DB` (kept finite so means and trackers stay numbers);
- ``failure``: Dice < 0.95 or more than 1% of in-brain voxels changed (cf. de Sitter et al. 2020,
  catastrophic failures of analyses after defacing).
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable

import nibabel as nib
import numpy as np

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.core.errors import BenchmarkError
from benchmark.core.masks import within_mm

PSNR_CAP_DB = 100.0
FAILURE_DICE = 0.95
FAILURE_CHANGED = 0.01
BRAIN_MARGIN_MM = 10.0  # changes farther than this from the original's brain keep its mask as it is

#: Direction of "worst" for each figure summarised: min, max, or largest absolute value.
_WORST = {
    "brain_dice": "min",
    "brain_changed_fraction": "max",
    "tiv_change_ml": "abs",
    "tiv_change_fraction": "abs",
    "brain_psnr_db": "min",
}

_default_masker: BrainMasker | None = None


def _masker(masker: BrainMasker | None) -> BrainMasker:
    global _default_masker
    if masker is not None:
        return masker
    if _default_masker is None:
        _default_masker = BrainMasker.default()
    return _default_masker


def _load(img: nib.spatialimages.SpatialImage | str | os.PathLike) -> nib.spatialimages.SpatialImage:
    if isinstance(img, nib.spatialimages.SpatialImage):
        return img
    try:
        return nib.load(os.fspath(img))
    except (OSError, nib.filebasedimages.ImageFileError) as exc:
        raise BenchmarkError(f"not a readable NIfTI volume ({exc})", img) from None


def brain_preservation(
    original: nib.spatialimages.SpatialImage | str | os.PathLike,
    anonymised: nib.spatialimages.SpatialImage | str | os.PathLike,
    *,
    masker: BrainMasker | None = None,
) -> dict[str, Any]:
    """Brain kept by ``anonymised`` relative to ``original`` (same grid); see the module docstring."""
    original, anonymised = _load(original), _load(anonymised)
    if tuple(original.shape) != tuple(anonymised.shape) or not np.allclose(
        original.affine, anonymised.affine, atol=1e-4
    ):
        raise BenchmarkError(
            f"anonymised volume is not on the original's grid (shape {anonymised.shape} vs {original.shape}, "
            "or another affine); write it with the original's shape and affine",
            anonymised.get_filename(),
        )
    masker = _masker(masker)
    a0 = np.asarray(original.dataobj, dtype=np.float32)
    a1 = np.asarray(anonymised.dataobj, dtype=np.float32)
    m0 = masker(original, cached=True)
    n0 = int(m0.sum())
    if n0 == 0:
        raise BenchmarkError("no brain found in the original volume; is it a head MRI?", original.get_filename())
    changed_voxels = a0 != a1
    near = changes_near(m0, changed_voxels, np.linalg.norm(original.affine[:3, :3], axis=0), BRAIN_MARGIN_MM)
    m1 = masker(anonymised, cached=True) if near else m0  # content-keyed: re-scoring reuses it
    n1 = int(m1.sum())

    x0, x1 = a0[m0], a1[m0]
    mse = float(np.mean((x0.astype(np.float64) - x1) ** 2))
    peak = float(np.abs(x0).max())
    psnr = PSNR_CAP_DB if mse == 0.0 or peak == 0.0 else min(PSNR_CAP_DB, 10.0 * math.log10(peak**2 / mse))
    voxel_ml = abs(float(np.linalg.det(original.affine[:3, :3]))) / 1000.0
    dice = 2.0 * int(np.logical_and(m0, m1).sum()) / (n0 + n1)
    changed = float(np.count_nonzero(changed_voxels[m0])) / n0
    return {
        "brain_dice": dice,
        "brain_changed_fraction": changed,
        "tiv_original_ml": n0 * voxel_ml,
        "tiv_anonymised_ml": n1 * voxel_ml,
        "tiv_change_ml": (n1 - n0) * voxel_ml,
        "tiv_change_fraction": (n1 - n0) / n0,
        "brain_psnr_db": psnr,
        "failure": bool(dice < FAILURE_DICE or changed > FAILURE_CHANGED),
    }


def changes_near(mask: np.ndarray, changed: np.ndarray, zooms: np.ndarray, margin_mm: float) -> bool:
    """Whether any ``changed`` voxel lies within ``margin_mm`` (Euclidean, voxel centres, ``zooms`` mm per
    axis) of a ``mask`` voxel (:func:`~benchmark.core.masks.within_mm`, asked only about the changed
    voxels' box)."""
    if not changed.any():
        return False
    if not mask.any() or (changed & mask).any():
        return True
    return bool(within_mm(mask, zooms, margin_mm, where=changed)[changed].any())


def summarise(results: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Cohort summary: ``<figure>_mean`` and ``<figure>_worst`` for each figure, ``failure_rate``, ``n``."""
    results = list(results)
    if not results:
        return {"n": 0}
    out: dict[str, float] = {"n": len(results)}
    for key, worst in _WORST.items():
        values = np.array([float(r[key]) for r in results])
        out[f"{key}_mean"] = float(values.mean())
        if worst == "min":
            out[f"{key}_worst"] = float(values.min())
        elif worst == "max":
            out[f"{key}_worst"] = float(values.max())
        else:
            out[f"{key}_worst"] = float(values[np.argmax(np.abs(values))])
    out["failure_rate"] = float(np.mean([bool(r["failure"]) for r in results]))
    return out
