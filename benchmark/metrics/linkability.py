"""Linkability D<->sys of Gomez-Barrero et al. (TIFS 2017), binned as the VoicePrivacy reference code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import Groups, group_scores

_MAX_BINS = 100


@dataclass(frozen=True)
class LinkabilityBins:
    """Everything the global measure and the figure need: edges, centres, densities, local D, Dsys."""

    edges: np.ndarray
    centres: np.ndarray
    mated_density: np.ndarray
    nonmated_density: np.ndarray
    d: np.ndarray
    dsys: float


def linkability(mated, nonmated, omega: float = 1.0, n_bins: int | None = None) -> float:
    """Global linkability D<->sys in [0, 1] (0: unlinkable, 1: fully linkable).

    With p(s|m), p(s|n) the normalised histograms of the mated and non-mated scores on
    ``n_bins = min(n_mated // 10, 100)`` equal-width bins over the pooled score range, the local
    measure is

        D(s) = 2 * w LR(s) / (1 + w LR(s)) - 1   where w LR(s) > 1, else 0;   LR = p(s|m) / p(s|n),

    with D(s) = 1 where p(s|n) = 0 < p(s|m) (and LR = 1 where both are 0), and

        Dsys = integral of D(s) p(s|m) ds,

    computed as the trapezoid rule over the bin centres, exactly as the reference implementation
    that the VoicePrivacy Challenge uses (gitlab.inria.fr/magnet/anonymization_metrics,
    ``performance.py``). Because the trapezoid gives the first and last bin half weight, fully
    separated classes give 1 - (share of mated scores in the last bin) / 2, which tends to 1 as
    the bins grow. The reference crashes below 10 mated scores (0 bins); here that is a
    BenchmarkError unless ``n_bins`` is given.

    ``omega`` is the prior ratio P(mated) / P(non-mated). Reference: M. Gomez-Barrero, J. Galbally,
    C. Rathgeb, C. Busch, "General framework to evaluate unlinkability in biometric template
    protection systems", IEEE TIFS 13(6), 2018 (online 2017).
    """
    m, n = as_pair(mated, nonmated, finite=True)
    return linkability_bins(group_scores(m, n), omega, n_bins).dsys


def local_linkability(mated, nonmated, omega: float = 1.0, n_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and the local linkability D(s) of each bin (see ``linkability``), for plots."""
    m, n = as_pair(mated, nonmated, finite=True)
    b = linkability_bins(group_scores(m, n), omega, n_bins)
    return b.centres, b.d


def linkability_bins(g: Groups, omega: float = 1.0, n_bins: int | None = None) -> LinkabilityBins:
    """Histograms, local D and Dsys from grouped counts (weights allowed; the scores must be finite)."""
    return binned_linkability(g.values, np.cumsum(g.t), g.values, np.cumsum(g.n), omega, n_bins)


def binned_linkability(
    xm: np.ndarray, cum_m: np.ndarray, xn: np.ndarray, cum_n: np.ndarray, omega: float = 1.0, n_bins: int | None = None
) -> LinkabilityBins:
    """The same from each class's sorted scores ``x`` and running totals ``cum`` of their weights.

    Zero weights are allowed (the bootstrap's undrawn trials): the score range is that of the
    scores with positive weight, and a bin's count is a difference of running totals.
    """
    _check_omega(omega)
    n_bins = _bin_number(float(cum_m[-1]), n_bins)
    first = lambda x, c: x[np.searchsorted(c, 0.0, side="right")]  # noqa: E731  first positive weight
    last = lambda x, c: x[np.searchsorted(c, c[-1], side="left")]  # noqa: E731  last positive weight
    lo = float(min(first(xm, cum_m), first(xn, cum_n)))
    hi = float(max(last(xm, cum_m), last(xn, cum_n)))
    if lo == hi:  # one score value for everything: LR = 1 everywhere, nothing links
        edges = np.linspace(lo - 0.5, hi + 0.5, n_bins + 1)
        zero = np.zeros(n_bins)
        return LinkabilityBins(edges, (edges[1:] + edges[:-1]) / 2, zero, zero.copy(), zero.copy(), 0.0)
    edges = np.linspace(lo, hi, n_bins + 1)
    centres = (edges[1:] + edges[:-1]) / 2
    widths = np.diff(edges)
    cm, cn = _bin_counts(xm, cum_m, edges), _bin_counts(xn, cum_n, edges)
    y1 = cm / widths / cm.sum()
    y2 = cn / widths / cn.sum()
    lr = np.divide(y1, y2, out=np.ones_like(y1), where=y2 != 0)
    olr = omega * lr
    d = 2.0 * (olr / (1.0 + olr)) - 1.0
    d[olr <= 1] = 0.0
    d[(y2 == 0) & (y1 != 0)] = 1.0
    dsys = float(_trapezoid(d * y1, centres))
    return LinkabilityBins(edges, centres, y1, y2, d, dsys)


def binned_dsys_rows(
    xm: np.ndarray, wm: np.ndarray, xn: np.ndarray, wn: np.ndarray, omega: float = 1.0, n_bins: int | None = None
) -> np.ndarray:
    """Per row i: ``binned_linkability(xm, cumsum(wm[i]), xn, cumsum(wn[i]), omega, n_bins).dsys``, bit for bit,
    for integer weights (each row with a positive weight in both classes).

    The rows with the same number of bins are computed together: the same elementwise expressions,
    exact integer bin counts, and each trapezoid summed as one row of a 2-D array (numpy's pairwise
    sum of that row). Checks and errors are those of the first row that fails them.
    """
    _check_omega(omega)
    cm, cn = np.cumsum(wm, axis=1), np.cumsum(wn, axis=1)
    bins = np.array([_bin_number(float(total), n_bins) for total in cm[:, -1]])
    out = np.empty(bins.size)
    for b in np.unique(bins):
        rows = np.flatnonzero(bins == b)
        out[rows] = _binned_dsys(xm, cm[rows], xn, cn[rows], omega, int(b))
    return out


def _binned_dsys(xm, cm, xn, cn, omega: float, n_bins: int) -> np.ndarray:
    """``binned_dsys_rows`` for rows with ``n_bins`` bins, from running totals ``cm``, ``cn``."""
    first = lambda x, c: x[(c > 0).argmax(axis=1)]  # noqa: E731  first positive weight
    last = lambda x, c: x[(c >= c[:, -1:]).argmax(axis=1)]  # noqa: E731  last positive weight
    a, b = first(xm, cm), first(xn, cn)
    lo = np.where(b < a, b, a)  # min(a, b) as Python's
    a, b = last(xm, cm), last(xn, cn)
    hi = np.where(b > a, b, a)
    out = np.zeros(lo.size)
    spread = lo != hi  # one score value for everything: nothing links
    if n_bins < 2 or not spread.any():  # one bin: the trapezoid is 0
        return out
    lo, hi, cm, cn = lo[spread, None], hi[spread, None], cm[spread], cn[spread]
    edges = _linspace(lo, hi, n_bins + 1)
    centres = (edges[:, 1:] + edges[:, :-1]) / 2
    widths = edges[:, 1:] - edges[:, :-1]
    y1, y2 = _bin_counts_rows(xm, cm, edges), _bin_counts_rows(xn, cn, edges)
    y1 = y1 / widths / y1.sum(axis=1, keepdims=True)
    y2 = y2 / widths / y2.sum(axis=1, keepdims=True)
    lr = np.divide(y1, y2, out=np.ones_like(y1), where=y2 != 0)
    olr = omega * lr
    d = 2.0 * (olr / (1.0 + olr)) - 1.0
    d[olr <= 1] = 0.0
    d[(y2 == 0) & (y1 != 0)] = 1.0
    y = d * y1
    out[spread] = ((centres[:, 1:] - centres[:, :-1]) * (y[:, 1:] + y[:, :-1]) / 2.0).sum(axis=1)
    return out


def _linspace(lo: np.ndarray, hi: np.ndarray, num: int) -> np.ndarray:
    """``np.linspace(lo[i], hi[i], num)`` for each row of the columns ``lo``, ``hi`` (numpy's arithmetic, num >= 2)."""
    i = np.arange(0, num, dtype=np.float64)
    delta = hi - lo
    step = delta / (num - 1)
    y = np.where(step == 0, i / (num - 1) * delta, i * step) + lo  # step 0: numpy's path for denormal steps
    y[:, -1] = hi[:, 0]
    return y


def _bin_counts_rows(x: np.ndarray, cum: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``_bin_counts`` of each row of ``cum`` with that row's ``edges``."""
    pos = np.concatenate([np.searchsorted(x, edges[:, :-1], side="left"),
                          np.searchsorted(x, edges[:, -1:], side="right")], axis=1)
    at = np.where(pos > 0, np.take_along_axis(cum, np.maximum(pos - 1, 0), axis=1), 0.0)
    return at[:, 1:] - at[:, :-1]


def _check_omega(omega: float) -> None:
    if not (np.isfinite(omega) and omega > 0):
        raise BenchmarkError(f"omega (the prior ratio P(mated)/P(non-mated)) must be a positive number, got {omega!r}")


def _bin_number(n_mated: float, n_bins: int | None) -> int:
    """``n_bins``, or min(n_mated // 10, 100) when None; a BenchmarkError when that gives no bin."""
    if n_bins is None:
        n_bins = min(int(round(n_mated)) // 10, _MAX_BINS)
        if n_bins < 1:
            raise BenchmarkError(
                f"linkability needs at least 10 mated scores for its binning (min(n_mated // 10, 100) bins), "
                f"got {n_mated:g}; pass n_bins to override"
            )
    elif isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise BenchmarkError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _bin_counts(x: np.ndarray, cum: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Weight per bin, bin i holding edges[i] <= s < edges[i+1] and the last bin also s == edges[-1]
    (numpy.histogram's rule; ``edges[-1]`` is the largest weighted score)."""
    pos = np.append(np.searchsorted(x, edges[:-1], side="left"), np.searchsorted(x, edges[-1], side="right"))
    at = np.where(pos > 0, cum[np.maximum(pos - 1, 0)], 0.0)
    return np.diff(at)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    if y.size < 2:
        return 0.0
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
