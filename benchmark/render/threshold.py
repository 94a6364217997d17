"""Automatic head/background intensity threshold (Otsu on a log histogram)."""

from __future__ import annotations

import numpy as np


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample: the cut that maximises the between-class variance."""
    values = np.asarray(values, dtype=np.float64).ravel()
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[1:][np.argmax(between[:-1])])


def surface_threshold(data: np.ndarray, max_samples: int = 2_000_000) -> float:
    """Intensity separating the head from the air around it, in the data's own units.

    Otsu's cut on log(1 + v - min) of the voxels (a subsample of at most ``max_samples``): air
    is a narrow noise peak near the minimum and tissue spans decades above it, so the log
    histogram is bimodal whatever the scanner's scale. The cut is then raised half way towards the
    tissue's median in log space, which keeps the surface off the background noise and ghosting
    while staying below skin intensity.
    """
    data = np.asarray(data)
    flat = data.reshape(-1)
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    flat = flat[np.isfinite(flat)].astype(np.float64)
    if flat.size == 0:
        return 0.0
    lo = float(flat.min())
    logv = np.log1p(flat - lo)
    if np.ptp(logv) == 0:  # constant volume: nothing is head
        return lo + 1e-6 * (1.0 + abs(lo))
    cut = otsu(logv)
    tissue = logv[logv > cut]
    if tissue.size:
        cut = 0.5 * (cut + float(np.median(tissue)))
    return float(np.expm1(cut) + lo)
