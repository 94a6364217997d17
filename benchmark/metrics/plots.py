"""Figures: DET curve on normal-deviate axes, CMC curve, and score histograms with the local linkability.

Each function writes ``<path>.png`` and ``<path>.svg`` (a ``.png``/``.svg`` suffix on ``path`` is
replaced), atomically, with matplotlib's Agg canvas (no display, no pyplot state), and returns the
two paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.special import ndtri  # the probit, inverse of the standard normal CDF

from benchmark.core.files import atomic_path

from benchmark.metrics._checks import as_pair
from benchmark.metrics._groups import group_scores
from benchmark.metrics.eer import det_from_groups, eer_from_groups
from benchmark.metrics.identification import cmc
from benchmark.metrics.linkability import linkability_bins

_TICKS = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99)
_MAX_POINTS = 20000
_MATED, _NONMATED, _D = "#5e3c99", "#e66101", "#1b7837"


def det_plot(mated, nonmated, path: str | os.PathLike, label: str | None = None) -> list[Path]:
    """DET curve: Pmiss against Pfa over all thresholds, both on probit (normal-deviate) axes.

    The staircase is the empirical curve; the dot marks the ROCCH-EER on the diagonal. Axes are
    labelled in fractions. Reference: Martin et al., "The DET curve in assessment of detection task
    performance", Eurospeech 1997.
    """
    m, n = as_pair(mated, nonmated)
    g = group_scores(m, n)
    pfa, pmiss = det_from_groups(g)
    if pfa.size > _MAX_POINTS:
        keep = np.unique(np.linspace(0, pfa.size - 1, _MAX_POINTS).astype(np.int64))
        pfa, pmiss = pfa[keep], pmiss[keep]
    e = eer_from_groups(g)
    positive = np.concatenate([pfa[pfa > 0], pmiss[pmiss > 0]])
    lo = float(np.clip(positive.min() if positive.size else 0.01, _TICKS[0], 0.01))
    hi = _TICKS[-1]
    fig = figure((5, 5))
    ax = fig.add_subplot()
    clip = lambda p: ndtri(np.clip(p, lo / 2, 1 - (1 - hi) / 2))  # noqa: E731
    name = f"{label} " if label else ""
    ax.plot(clip(pfa), clip(pmiss), color=_MATED, lw=1.5, drawstyle="default", label=f"{name}(EER = {e:.3f})")
    ax.plot([clip(lo), clip(hi)], [clip(lo), clip(hi)], color="0.6", lw=0.8, ls=":")
    ax.plot([clip(e)], [clip(e)], "o", color=_MATED, ms=5)
    ticks = [t for t in _TICKS if lo <= t <= hi]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(ndtri(ticks))
        axis.set_ticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(ndtri(lo), ndtri(hi))
    ax.set_ylim(ndtri(lo), ndtri(hi))
    ax.set_xlabel("false match rate (Pfa)")
    ax.set_ylabel("false non-match rate (Pmiss)")
    ax.grid(True, color="0.9")
    ax.legend(loc="upper right")
    ax.set_title("DET")
    return save_figure(fig, path)


def cmc_plot(scores, enroll_ids, trial_ids, path: str | os.PathLike, label: str | None = None,
             max_rank: int | None = None) -> list[Path]:
    """CMC curve: the closed-set identification rate at ranks 1 .. max_rank (default: every identity),
    with the chance line k / n_identities (a random ranking) and rank-1 and rank-5 marked.

    Input as ``rank_k`` (a ``ScoreMatrix``). Reference: ISO/IEC 19795-1 (cumulative match characteristic).
    """
    curve = cmc(scores, enroll_ids, trial_ids, max_rank)
    n_ids = np.unique(np.asarray(enroll_ids).astype(str)).size
    ks = np.arange(1, curve.size + 1)
    fig = figure((5, 4))
    ax = fig.add_subplot()
    name = f"{label} " if label else ""
    ax.step(ks, curve, where="post", color=_MATED, lw=1.5, label=f"{name}(rank-1 = {curve[0]:.3f})")
    ax.plot(ks, np.minimum(ks / n_ids, 1.0), color="0.6", lw=0.8, ls=":", label="chance (k / identities)")
    marks = [k for k in (1, 5) if k <= curve.size]
    ax.plot(marks, curve[[k - 1 for k in marks]], "o", color=_MATED, ms=5)
    ax.set_xlim(1, max(curve.size, 2))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("rank k")
    ax.set_ylabel("identification rate (true identity in the top k)")
    ax.grid(True, color="0.9")
    ax.legend(loc="lower right")
    ax.set_title("CMC")
    return save_figure(fig, path)


def linkability_plot(
    mated, nonmated, path: str | os.PathLike, omega: float = 1.0, n_bins: int | None = None
) -> list[Path]:
    """Mated and non-mated score densities on the linkability bins, with the local D(s) on a second axis.

    As the VoicePrivacy linkability figure (Gomez-Barrero et al. 2017): the title gives D<->sys;
    the histograms are the same normalised histograms the measure uses (see ``linkability``).
    """
    m, n = as_pair(mated, nonmated, finite=True)
    b = linkability_bins(group_scores(m, n), omega, n_bins)
    fig = figure((6, 4))
    ax = fig.add_subplot()
    ax.stairs(b.mated_density, b.edges, color=_MATED, lw=1.5, label="mated")
    ax.stairs(b.nonmated_density, b.edges, color=_NONMATED, lw=1.5, ls="--", label="non-mated")
    ax.set_xlabel("score")
    ax.set_ylabel("probability density")
    top = max(b.mated_density.max(), b.nonmated_density.max())
    ax.set_ylim(0, top * 1.05 if top > 0 else 1)
    ax2 = ax.twinx()
    ax2.plot(b.centres, b.d, color=_D, lw=1.5, label=r"$D_{\leftrightarrow}(s)$")
    ax2.set_ylim(0, 1.1)
    ax2.set_ylabel(r"local linkability $D_{\leftrightarrow}(s)$")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left")
    ax.set_title(r"$D_{\leftrightarrow}^{sys}$ = " + f"{b.dsys:.3f}")
    return save_figure(fig, path)


def figure(size):
    """A figure on matplotlib's Agg canvas (imported here: ``benchmark.metrics`` stays light to import)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


#: Room around the axes, inches: tick labels and the axis label (left, bottom), the title (top), and on the
#: right the second axis's labels when there is one. Fixed margins instead of ``tight_layout``, which lays
#: out every text once more (a third of a figure's time, for the same page).
_MARGINS_IN = {"left": 0.75, "bottom": 0.6, "top": 0.35, "right": 0.2, "right_twin": 0.75}


def _margins(fig) -> None:
    w, h = fig.get_size_inches()
    right = _MARGINS_IN["right_twin" if len(fig.axes) > 1 else "right"]
    fig.subplots_adjust(left=_MARGINS_IN["left"] / w, right=1 - right / w,
                        bottom=_MARGINS_IN["bottom"] / h, top=1 - _MARGINS_IN["top"] / h)


def save_figure(fig, path: str | os.PathLike) -> list[Path]:
    """Write ``<path>.png`` and ``<path>.svg`` (reproducible bytes: no date, no software stamp); return both."""
    base = Path(path)
    if base.suffix.lower() in (".png", ".svg"):
        base = base.with_suffix("")
    _margins(fig)
    import matplotlib

    out = []
    with matplotlib.rc_context({"svg.hashsalt": "benchmark"}):
        for ext in ("png", "svg"):
            target = base.with_name(base.name + "." + ext)
            with atomic_path(target, suffix="." + ext) as tmp:
                meta = {"Software": None} if ext == "png" else {"Date": None}
                fig.savefig(tmp, format=ext, dpi=150, metadata=meta)
            out.append(target)
    return out
