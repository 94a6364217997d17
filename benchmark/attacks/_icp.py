"""Rigid point-cloud alignment: Kabsch's fit, trimmed ICP, a grid lookup of nearest points, and exact nearest
points of a moving set that ask a k-d tree only when they must."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid (R, t) minimising sum |R src + t - dst|^2 (Kabsch 1976; no reflection)."""
    ms, md = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - ms).T @ (dst - md))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, md - r @ ms


def trimmed_icp(points: np.ndarray, tree, keep: float, iterations: int,
                tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float]:
    """Rigid (R, t) aligning ``points`` to the target's points by trimmed ICP (Chetverikov et al., ICPR 2002:
    the worst ``1 - keep`` of the pairs are ignored each iteration); returns (R, t, RMS of kept pairs).
    ``tree``: anything with ``data`` (the target points) and ``query(x) -> (distance, index)``, such as a
    :class:`scipy.spatial.cKDTree`, a :class:`TrackedNearest` (the same answers, fewer tree queries) or a
    :class:`NearestGrid`. Stops when the RMS falls by less than ``tol``."""
    r, t = np.eye(3), np.zeros(3)
    target = tree.data
    rms = np.inf
    for _ in range(iterations):
        moved = points @ r.T + t
        dist, nearest = tree.query(moved)
        kept = dist <= np.quantile(dist, keep)
        dr, dt = kabsch(moved[kept], target[nearest[kept]])
        r, t = dr @ r, dr @ t + dt
        new = float(np.sqrt(np.mean(dist[kept] ** 2)))
        if rms - new < tol:
            rms = new
            break
        rms = new
    return r, t, rms


class NearestGrid:
    """Nearest-point queries against a fixed cloud in O(1): every cell of a grid (``spacing`` mm, ``margin`` mm
    around the cloud) holds the index of a cloud point in the occupied cell nearest to it (the feature transform
    of an exact Euclidean distance transform, Maurer et al., PAMI 2003, as scipy computes it). The point found
    is at most two cell diagonals farther than the true nearest one (median error ~0.04 mm on a head); the
    distance returned is the exact distance to it. Queries outside the grid take the nearest border cell's
    point. Same interface as a k-d tree's ``query``."""

    def __init__(self, points: np.ndarray, spacing: float = 1.5, margin: float = 30.0) -> None:
        self.data = np.asarray(points, np.float64)
        self.n = len(self.data)
        self.spacing = float(spacing)
        self.origin = self.data.min(0) - margin
        shape = tuple(int(s) + 1 for s in np.ceil((self.data.max(0) + margin - self.origin) / spacing))
        cells = self._cells(self.data, shape)
        owner = np.full(shape, -1, np.int32)
        owner[tuple(cells.T)] = np.arange(self.n, dtype=np.int32)
        near = ndimage.distance_transform_edt(owner < 0, return_distances=False, return_indices=True)
        self.index = owner[tuple(near)]

    def _cells(self, x: np.ndarray, shape) -> np.ndarray:
        cells = np.rint((x - self.origin) / self.spacing).astype(np.intp)
        return np.clip(cells, 0, np.asarray(shape) - 1)

    def query(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, index) of the cloud point found for each row of ``x`` (N, 3)."""
        idx = self.index[tuple(self._cells(x, self.index.shape).T)]
        return np.linalg.norm(x - self.data[idx], axis=1), idx


class TrackedNearest:
    """Exact nearest points of one moving point set (an ICP's, row ``i`` always the same point) in a fixed cloud,
    asking the k-d tree ``tree`` only for the rows whose nearest point may have changed.

    When row ``i`` is asked at position a, its ``k`` nearest cloud points are kept as candidates, with D, the
    distance from a to the (k+1)-th nearest. At a later position x, drift ``δ = |x - a|``, every cloud point
    but the candidates lies at least ``D - δ`` from x (triangle inequality); so when the nearest candidate is
    closer than that (by a margin far above rounding), it is x's nearest cloud point and its distance the one
    the tree would return (the same formula, ``sqrt(dx^2 + dy^2 + dz^2)``); otherwise row ``i`` is asked
    again. An ICP's points move less and less, so after its first iterations most rows are not asked.
    Ties between equally near cloud points (measure zero for measured surfaces) may resolve to either.
    One instance per moving set: the rows must keep their order from call to call."""

    MARGIN = 1e-9  # mm: far above the rounding of distances of a few hundred mm (~1e-13), far below any gap

    def __init__(self, tree, k: int = 3) -> None:
        self.tree, self.data = tree, tree.data
        self.k = max(1, min(int(k), len(self.data)))  # all the cloud's points: D = inf, never asked again
        self.anchor = self.candidates = self.bound = None

    def _ask(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        dist, idx = self.tree.query(x, k=self.k + 1)
        return dist[:, 0], idx[:, 0], idx[:, : self.k], dist[:, self.k]

    def query(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, index) of the nearest cloud point of each row of ``x`` (N, 3), as ``tree.query(x)``."""
        x = np.asarray(x, np.float64)
        if self.anchor is None or len(x) != len(self.anchor):
            dist, idx, self.candidates, self.bound = self._ask(x)
            self.anchor = x.copy()
            return dist, idx
        diff = x[:, None, :] - self.data[self.candidates]
        cand = np.sqrt((diff * diff).sum(2))
        best = cand.argmin(1)
        rows = np.arange(len(x))
        dist, idx = cand[rows, best], self.candidates[rows, best]
        drift = np.sqrt(((x - self.anchor) ** 2).sum(1))
        ask = ~(dist < self.bound - drift - self.MARGIN)
        if ask.any():
            d, i, self.candidates[ask], self.bound[ask] = self._ask(x[ask])
            dist[ask], idx[ask], self.anchor[ask] = d, i, x[ask]
        return dist, idx
