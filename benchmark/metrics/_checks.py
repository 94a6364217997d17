"""Input checks shared by the metrics: each bad input raises BenchmarkError with a message that names it."""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError


def as_scores(x, name: str, *, finite: bool = False) -> np.ndarray:
    """``x`` as a non-empty 1-D float64 array without NaN (and without +-inf when ``finite``)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"{name} must be numbers: {exc}") from None
    if arr.ndim != 1:
        raise BenchmarkError(f"{name} must be a 1-D array of scores, got shape {arr.shape}")
    if arr.size == 0:
        raise BenchmarkError(f"{name} is empty: the metric needs at least one score of each class")
    bad = np.isnan(arr) if not finite else ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "NaN" if not finite else "NaN or infinite"
        raise BenchmarkError(f"{name} holds {int(bad.sum())} {what} value(s) (first at index {i}, {arr[i]!r})")
    return arr


def as_pair(mated, nonmated, *, finite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check the mated and non-mated score arrays of a two-class metric."""
    return as_scores(mated, "mated scores", finite=finite), as_scores(nonmated, "non-mated scores", finite=finite)


def as_labels(x, name: str) -> np.ndarray:
    """``x`` as a non-empty 1-D array of labels (strings or integers), no missing values."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise BenchmarkError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise BenchmarkError(f"{name} is empty")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise BenchmarkError(f"{name} holds NaN (a missing label); drop those entries first")
    if arr.dtype.kind == "O" and any(v is None for v in arr):
        raise BenchmarkError(f"{name} holds None (a missing label); drop those entries first")
    return arr


def same_length(**arrays: np.ndarray) -> None:
    """Raise when the named arrays differ in length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise BenchmarkError(f"lengths do not match: {desc}")
