"""Equal error rate on the ROC convex hull (ROCCH-EER), as in BOSARIS and the VoicePrivacy tools."""

from __future__ import annotations

import numpy as np

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import Groups, group_scores, pav_blocks, rocch


def eer(mated, nonmated) -> float:
    """ROCCH-EER of mated and non-mated scores (higher score = more likely mated), in [0, 0.5].

    The ROC is replaced by its convex hull, whose vertices are the PAV blocks (see ``_groups``);
    the EER is where the hull crosses Pmiss = Pfa. For each hull segment from (Pfa0, Pmiss0) to
    (Pfa1, Pmiss1) the line through it meets the diagonal at

        e = (Pmiss0 * Pfa1 - Pfa0 * Pmiss1) / ((Pfa1 - Pfa0) - (Pmiss1 - Pmiss0)),

    segments parallel to an axis give 0, and the EER is the largest e (the hull is convex, so every
    other line passes below the crossing). Equivalently, the EER is the maximum over priors of the
    minimum Bayes error rate (pyllr ``ROCCH.EER``). Ties between the classes are pooled, never split
    in the attacker's favour. References: Brummer and de Villiers, BOSARIS toolkit (``rocch.m``,
    ``rocch2eer.m``); Brummer, pyllr ``pav_rocch.py``.
    """
    m, n = as_pair(mated, nonmated)
    return eer_from_groups(group_scores(m, n))


def eer_from_groups(g: Groups) -> float:
    """ROCCH-EER from grouped counts (weights allowed)."""
    return eer_from_blocks(*pav_blocks(g.t, g.n))


def eer_from_blocks(tb: np.ndarray, nb: np.ndarray) -> float:
    """ROCCH-EER from PAV blocks."""
    pmiss, pfa = rocch(tb, nb)
    x0, x1 = pfa[:-1], pfa[1:]
    y0, y1 = pmiss[:-1], pmiss[1:]
    dx, dy = x1 - x0, y1 - y0
    ok = (dx != 0) & (dy != 0)
    if not ok.any():
        return 0.0
    e = (y0[ok] * x1[ok] - x0[ok] * y1[ok]) / (dx[ok] - dy[ok])
    return float(min(max(e.max(), 0.0), 0.5))


def eer_rows(tb: np.ndarray, nb: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``eer_from_blocks`` of many rows of integer PAV blocks at once (row i: ``starts[i]:starts[i + 1]``,
    as ``_groups.pav_rows`` returns them), bit for bit: every segment's e is the same expression of the
    same exact counts, and a maximum does not depend on the order it is taken in."""
    row = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    head = starts[:-1]
    ct, cn = np.cumsum(tb), np.cumsum(nb)
    after_t, after_n = ct - (ct - tb)[head][row], cn - (cn - nb)[head][row]  # running totals within each row
    total_t, total_n = after_t[starts[1:] - 1], after_n[starts[1:] - 1]
    y0, y1 = (after_t - tb) / total_t[row], after_t / total_t[row]  # pmiss before and after each block
    x0 = (total_n[row] - (after_n - nb)) / total_n[row]  # pfa before and after
    x1 = (total_n[row] - after_n) / total_n[row]
    dx, dy = x1 - x0, y1 - y0
    ok = (dx != 0) & (dy != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(ok, (y0 * x1 - x0 * y1) / (dx - dy), -np.inf)
    top = np.maximum.reduceat(e, head)
    clipped = np.where(0.5 < top, 0.5, np.where(0.0 > top, 0.0, top))  # min(max(top, 0.0), 0.5) as Python's
    return np.where(np.logical_or.reduceat(ok, head), clipped, 0.0)


def det_points(mated, nonmated) -> tuple[np.ndarray, np.ndarray]:
    """Empirical (Pfa, Pmiss) at every distinct threshold, for DET plots (not the convex hull).

    Threshold ``tau`` accepts scores ``>= tau``; the first point is (1, 0) and the last (0, 1).
    """
    m, n = as_pair(mated, nonmated)
    return det_from_groups(group_scores(m, n))


def det_from_groups(g: Groups) -> tuple[np.ndarray, np.ndarray]:
    """(Pfa, Pmiss) at every distinct threshold from grouped counts."""
    pmiss = np.concatenate([[0.0], np.cumsum(g.t)]) / g.t.sum()
    pfa = (g.n.sum() - np.concatenate([[0.0], np.cumsum(g.n)])) / g.n.sum()
    return pfa, pmiss
