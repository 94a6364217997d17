"""Gaussian kernel density estimates on a grid, batched over rows (permutations, bootstrap resamples or one call).

Each row holds the linearly binned weights of one class's scores on the grid ``x0 + dx * arange(G)``
(Silverman 1986, ch. 3.5 and appendix: binned KDE by FFT). Smoothing multiplies the zero-padded
Fourier transform of the binned weights by the Gaussian's transfer function exp(-(2 pi f h)^2 / 2),
one bandwidth per row, so a batch of permuted densities costs one FFT of a (rows, 3G) array. The
permutations share one grid (``rows_dsys``); each bootstrap resample has its own (``pools_dsys``).
"""

from __future__ import annotations

import numpy as np

GRID = 1024
BANDWIDTH_FACTOR = 1.5  # times the normal-reference rule 1.06 sd n^(-1/5); see smooth_linkability
_SQRT_2PI = np.sqrt(2.0 * np.pi)
_CHUNK = 16  # rows binned and smoothed together: their arrays stay in a 2 MiB L2 cache (faster than 250 rows)


def bandwidths(count: np.ndarray, total: np.ndarray, total_sq: np.ndarray) -> np.ndarray:
    """Per row: h = 1.5 * 1.06 * sd * n^(-1/5) (sd with n - 1) from the count, sum and sum of squares."""
    count = np.asarray(count, dtype=np.float64)
    mean = total / count
    var = np.maximum(total_sq - count * mean * mean, 0.0) / np.maximum(count - 1.0, 1.0)
    return BANDWIDTH_FACTOR * 1.06 * np.sqrt(var) * count ** -0.2


def linear_bin(values: np.ndarray, rows: np.ndarray, n_rows: int, x0, dx) -> np.ndarray:
    """(n_rows, GRID) weights: each value splits its unit weight between its two nearest grid points
    (grid origin ``x0`` and step ``dx``: one for all values, or one per value)."""
    pos = np.clip((values - x0) / dx, 0.0, GRID - 1 - 1e-9)
    left = pos.astype(np.int64)
    frac = pos - left
    flat = rows.astype(np.int64) * GRID + left
    size = n_rows * GRID
    out = np.bincount(flat, weights=1.0 - frac, minlength=size) + np.bincount(flat + 1, weights=frac, minlength=size)
    return out[:size].reshape(n_rows, GRID)


def smooth(weights: np.ndarray, h: np.ndarray, dx) -> np.ndarray:
    """Gaussian-smoothed densities (per unit score) at the grid points, from binned weights.

    The grid spans the scores only: a density is needed only where scores lie, and its tails beyond
    the grid are cut, not folded back (zero padding to 3 GRID makes the convolution linear as long as
    the kernel has decayed within twice the score range; bandwidths are far smaller). ``dx``: the grid
    step, one for all rows or one per row; the frequencies are ``np.fft.rfftfreq(3 GRID, dx)``'s.
    """
    n = 3 * GRID
    step = np.reshape(dx, (-1, 1))
    f = np.arange(n // 2 + 1) * (1.0 / (n * step))
    transfer = np.exp(-0.5 * (2.0 * np.pi * f * h[:, None]) ** 2)
    dens = np.fft.irfft(np.fft.rfft(weights, n=n, axis=1) * transfer, n=n, axis=1)[:, :GRID]
    return np.maximum(dens, 0.0) / (weights.sum(axis=1, keepdims=True) * step)


def dsys(wm: np.ndarray, wn: np.ndarray, hm: np.ndarray, hn: np.ndarray, dx, omega: float) -> np.ndarray:
    """Per row: Dsys = (1 / T) sum over mated scores of D(s) with the mated density left-one-out.

    ``wm``/``wn``: binned mated/non-mated weights (T, N per row); ``hm``/``hn``: their bandwidths;
    ``dx``: the grid step (one, or one per row). The mated density at a mated score leaves that score
    out: f_m,-i = (T f_m - phi(0) / h_m) / (T - 1) (on the grid, a binned score's own kernel sits on its
    nodes); D(s) = 2 w LR / (1 + w LR) - 1 where w LR > 1, else 0, and D = 1 where the non-mated
    density vanishes.
    """
    t = wm.sum(axis=1, keepdims=True)
    fm = smooth(wm, hm, dx)
    fn = smooth(wn, hn, dx)
    loo = np.maximum((t * fm - 1.0 / (hm[:, None] * _SQRT_2PI)) / (t - 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        olr = omega * loo / fn
        d = np.where(olr > 1.0, (olr - 1.0) / (olr + 1.0), 0.0)
    d[(fn <= 0) & (loo > 0)] = 1.0
    return (wm * d).sum(axis=1) / t[:, 0]


def rows_dsys(mated: np.ndarray, rows: np.ndarray, n_rows: int, pooled: np.ndarray, omega: float) -> np.ndarray:
    """Smoothed Dsys of ``n_rows`` labellings of one pool of scores.

    ``pooled``: every score (both classes); ``mated`` and ``rows``: the mated scores of all rows and the
    row of each (every row needs at least two mated and one non-mated score). A row's non-mated scores
    are the pool less its mated ones. All rows share one grid, so a row's figure does not depend on the
    others; bandwidths are at least two grid steps (the grid resolves nothing finer). Rows are binned
    and smoothed _CHUNK at a time.
    """
    lo, hi = float(pooled.min()), float(pooled.max())
    if lo == hi:  # one score value for everything: nothing links
        return np.zeros(n_rows)
    t = np.bincount(rows, minlength=n_rows).astype(np.float64)
    s1 = np.bincount(rows, weights=mated, minlength=n_rows)
    s2 = np.bincount(rows, weights=mated * mated, minlength=n_rows)
    x0, dx = lo, (hi - lo) / (GRID - 1)
    hm = np.maximum(bandwidths(t, s1, s2), 2 * dx)
    hn = np.maximum(bandwidths(pooled.size - t, pooled.sum() - s1, (pooled * pooled).sum() - s2), 2 * dx)
    pool = linear_bin(pooled, np.zeros(pooled.size, np.int64), 1, x0, dx)
    if (np.diff(rows) < 0).any():  # a stable sort keeps each row's scores, and sums, in their order
        order = np.argsort(rows, kind="stable")
        mated, rows = mated[order], rows[order]
    starts = np.searchsorted(rows, np.arange(n_rows + 1))

    def chunk(a: int, b: int) -> np.ndarray:
        i, j = starts[a], starts[b]
        wm = linear_bin(mated[i:j], rows[i:j] - a, b - a, x0, dx)
        return dsys(wm, np.maximum(pool - wm, 0.0), hm[a:b], hn[a:b], dx, omega)

    return _by_chunks(n_rows, chunk)


def pools_dsys(pooled: np.ndarray, rows: np.ndarray, mated: np.ndarray, n_rows: int, omega: float) -> np.ndarray:
    """Smoothed Dsys of ``n_rows`` pools at once, each on its own grid: row r's value is bit for bit
    ``rows_dsys`` of its mated scores within its own pool (``smooth_linkability`` of the row).

    ``pooled``: the rows' scores one row after the other (``rows``: non-decreasing, every row present);
    ``mated``: which are mated (every row needs at least two). Sums over a row's scores are those of
    ``rows_dsys``: running sums (``np.bincount``) and numpy's sum of the row's slice.
    """
    out = np.zeros(n_rows)
    starts = np.searchsorted(rows, np.arange(n_rows + 1))
    lo, hi = np.minimum.reduceat(pooled, starts[:-1]), np.maximum.reduceat(pooled, starts[:-1])
    spread = lo != hi  # one score value for everything: nothing links
    if not spread.any():
        return out
    if not spread.all():
        keep = spread[rows]
        pooled, mated, rows = pooled[keep], mated[keep], (np.cumsum(spread) - 1)[rows[keep]]
        starts, lo, hi = np.searchsorted(rows, np.arange(np.count_nonzero(spread) + 1)), lo[spread], hi[spread]
    m, mrows = pooled[mated], rows[mated]
    t = np.bincount(mrows, minlength=lo.size).astype(np.float64)
    s1 = np.bincount(mrows, weights=m, minlength=lo.size)
    s2 = np.bincount(mrows, weights=m * m, minlength=lo.size)
    sq = pooled * pooled
    total = np.array([pooled[a:b].sum() for a, b in zip(starts[:-1], starts[1:])])
    total_sq = np.array([sq[a:b].sum() for a, b in zip(starts[:-1], starts[1:])])
    x0, dx = lo, (hi - lo) / (GRID - 1)
    hm = np.maximum(bandwidths(t, s1, s2), 2 * dx)
    hn = np.maximum(bandwidths(np.diff(starts) - t, total - s1, total_sq - s2), 2 * dx)

    def chunk(a: int, b: int) -> np.ndarray:
        i, j = starts[a], starts[b]
        p, r, is_m = pooled[i:j], rows[i:j], mated[i:j]
        wm = linear_bin(p[is_m], r[is_m] - a, b - a, x0[r[is_m]], dx[r[is_m]])
        wn = linear_bin(p, r - a, b - a, x0[r], dx[r]) - wm
        return dsys(wm, np.maximum(wn, 0.0), hm[a:b], hn[a:b], dx[a:b], omega)

    out[spread] = _by_chunks(lo.size, chunk)
    return out


def _by_chunks(n_rows: int, rows_fn) -> np.ndarray:
    """``rows_fn(a, b)`` (the values of rows a to b - 1) for _CHUNK rows at a time, concatenated. Every
    row's value depends on its own data only (its sums run along the row), so chunks change no bit."""
    parts = [rows_fn(a, min(a + _CHUNK, n_rows)) for a in range(0, n_rows, _CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0)
