"""The head in a volume: Otsu's tissue threshold and the head mask (tissue and the cavities it encloses)."""

from __future__ import annotations

import numpy as np

from benchmark.core.masks import fill_holes


def otsu_threshold(x: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold on a subsample of ``x`` clipped to its 99.5th percentile."""
    v = x.ravel()[:: max(1, x.size // 2_000_000)]
    hi = float(np.percentile(v, 99.5))
    hist, edges = np.histogram(np.clip(v, 0.0, hi), bins=bins, range=(0.0, hi))
    p = hist / max(hist.sum(), 1)
    w = np.cumsum(p)
    centers = (edges[:-1] + edges[1:]) / 2
    mu = np.cumsum(p * centers)
    between = (mu[-1] * w - mu) ** 2 / np.maximum(w * (1 - w), 1e-12)
    return float(centers[int(np.argmax(between[:-1]))])


def head_mask(x: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Head (tissue and the cavities it encloses): everything not connected to the air at the volume border."""
    return fill_holes(x > (otsu_threshold(x) if threshold is None else threshold))
