"""Automatic head/background intensity threshold (the valley of a log-intensity histogram)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LOG_FLOOR = 1e-3  # log(v / scale + LOG_FLOOR): intensities below this fraction of the tissue scale all look alike
BINS = 128
MIN_AIR_CONTRAST = 4.0  # an air peak lies at least this factor below the tissue peak (any usable MRI's SNR)


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


def valley(values: np.ndarray, bins: int = BINS) -> tuple[float, float]:
    """The lowest point of the (lightly smoothed) histogram between its highest peak on each side of
    Otsu's cut (unlike Otsu's cut itself, it does not move with the two classes' proportions), and the
    distance between the two peaks."""
    cut = otsu(values)
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    smooth = ndimage.gaussian_filter1d(hist.astype(np.float64), 2.0)
    low = int(np.argmax(np.where(centres <= cut, smooth, -1.0)))
    high = int(np.argmax(np.where(centres > cut, smooth, -1.0)))
    if high <= low:
        return cut, 0.0
    return float(centres[low + int(np.argmin(smooth[low : high + 1]))]), float(centres[high] - centres[low])


def surface_threshold(data: np.ndarray, max_samples: int = 2_000_000) -> float:
    """Intensity separating the head from the air around it, in the data's own units.

    On a subsample of at most ``max_samples`` voxels: intensities above the minimum ``lo``, relative
    to their 99.5th percentile ``s``, on a log scale ``x = log((v - lo) / s + LOG_FLOOR)``: air is a
    noise peak near the bottom and tissue spans decades above it, so the histogram is bimodal and the
    same whatever the scanner's scale and offset. Voxels at exactly the minimum are padding or
    zero-filled background, whose share depends on the field of view and the grid, not on the head:
    they are left out, unless no air peak is left without them (none :data:`MIN_AIR_CONTRAST` times
    below the tissue peak: the air was masked to the minimum). The cut is the histogram's valley
    between the air and tissue peaks (:func:`valley`), raised half way towards the tissue's median
    (in ``x``), which keeps the
    surface off the background noise and ghosting while staying below skin intensity in bright-fat
    (T1w, FLAIR) and dark-fat (T2w) contrasts alike.
    """
    flat = np.asarray(data).reshape(-1)
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    flat = flat[np.isfinite(flat)].astype(np.float64)
    if flat.size == 0:
        return 0.0
    lo = float(flat.min())
    above = flat[flat > lo] - lo
    if above.size < 2 or np.ptp(above) == 0:  # constant (or two-valued) volume: nothing is head
        return lo + 1e-6 * (1.0 + abs(lo)) if above.size == 0 else lo + 0.5 * float(above.max())
    scale = float(np.percentile(above, 99.5))
    x = np.log(above / scale + LOG_FLOOR)
    cut, contrast = valley(x)
    if contrast < np.log(MIN_AIR_CONTRAST) and above.size < flat.size:
        x = np.log(np.maximum(flat - lo, 0.0) / scale + LOG_FLOOR)
        cut, _ = valley(x)
    tissue = x[x > cut]
    if tissue.size:
        cut = 0.5 * (cut + float(np.median(tissue)))
    return float((np.exp(cut) - LOG_FLOOR) * scale + lo)
