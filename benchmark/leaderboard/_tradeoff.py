"""The privacy-utility trade-off plot: ``tradeoff-<digest>.png`` and ``.svg`` beside the page.

One point per scored submission: the ranking figure (worst-case semi-informed EER, with its 95% interval
as an error bar) against brain preservation (mean Dice); the failure rate as the marker's colour; the
privacy tiers (:data:`FLOORS`, cleared by the interval's lower end) as horizontal bands; the chance band
of the permutation nulls (5th percentile to median of the worst-case EER when identity is noise); the
``none`` reference as a star. Hollow markers: indistinguishable from chance (tier 1 whatever the point).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.metrics import figure, save_figure
from benchmark.leaderboard._drawn import drawn_once
from benchmark.leaderboard._ranking import FLOORS

TIER_COLOURS = ("#d8f3dc", "#e9f5c9", "#fff3c4", "#f4e2dc")  # as the page's tier cells
MAX_LABELS = 12  # name every point up to this many; beyond, their ranks


def plotted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with both figures of the plot."""
    return [r for r in rows if r["ranking_eer"] is not None and r["dice_mean"] is not None]


def _bands(ax, top: float) -> None:
    edges = (top, *FLOORS, 0.0)
    for i, (hi, lo) in enumerate(zip(edges[:-1], edges[1:])):
        ax.axhspan(lo, hi, color=TIER_COLOURS[i], zorder=0, lw=0)
        ax.text(0.005, (lo + hi) / 2, f"tier {i + 1}", transform=ax.get_yaxis_transform(), va="center",
                fontsize=8, color="0.35")


def _chance_band(ax, rows: list[dict[str, Any]]) -> None:
    lows = [r["chance_p05"] for r in rows if r.get("chance_p05") is not None]
    highs = [r["chance"] for r in rows if r.get("chance") is not None]
    if lows and highs:
        ax.axhspan(min(lows), max(highs), color="0.55", alpha=0.25, zorder=1, lw=0,
                   label="chance (worst-case EER of noise: 5th pct. to median)")


def _label(r: dict[str, Any], many: bool) -> str:
    """The submission's name; its rank alone when the plot has many points (the table gives the names)."""
    if r["reference"]:
        return f"{r['system'] if many else r['submission']} (reference)"
    if many:
        return f"#{r['rank']}" if r["rank"] else ""
    return r["submission"]


#: what the plot shows of a row
SHOWN = ("submission", "system", "reference", "rank", "ranking_eer", "ranking_ci_low", "ranking_ci_high", "dice_mean",
         "failure_rate", "distinguishable", "chance", "chance_p05")


def tradeoff_plot(rows: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/tradeoff-<digest>.png`` and ``.svg`` (see the module), unless a board of the same
    points drew them already (:func:`~benchmark.leaderboard._drawn.drawn_once`); return both paths."""
    pts = plotted(rows)
    return drawn_once(Path(out_dir) / "tradeoff", [{k: r.get(k) for k in SHOWN} for r in pts],
                      lambda stem: _draw(pts, stem))


def _draw(pts: list[dict[str, Any]], stem: Path) -> list[Path]:
    fig = figure((7.5, 4.6))
    ax = fig.add_subplot()
    top = max([0.55] + [r.get("ranking_ci_high") or r["ranking_eer"] for r in pts])
    _bands(ax, top)
    _chance_band(ax, pts)
    import matplotlib

    cmap, norm = matplotlib.colormaps["coolwarm"], matplotlib.colors.Normalize(0.0, max(
        [0.1] + [r["failure_rate"] or 0.0 for r in pts]))
    many = len(pts) > MAX_LABELS
    dice = [r["dice_mean"] for r in pts] or [1.0]
    left = min(dice) - 0.01
    right = max(1.0, max(dice)) + 0.04 * (1.0 - left)  # Dice stops at 1: no room for more beyond it
    for r in pts:
        y, lo, hi = r["ranking_eer"], r.get("ranking_ci_low"), r.get("ranking_ci_high")
        colour = cmap(norm(r["failure_rate"] or 0.0))
        if lo is not None and hi is not None:  # a percentile interval may leave its point: clip the bars
            ax.errorbar(r["dice_mean"], y, yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], color="0.3", lw=0.8,
                        capsize=2, zorder=2)
        hollow = r.get("distinguishable") is False
        ax.scatter(r["dice_mean"], y, s=140 if r["reference"] else 42, marker="*" if r["reference"] else "o",
                   facecolors="white" if hollow else colour, edgecolors=colour if hollow else "0.2", lw=1.2,
                   zorder=3)
        text = _label(r, many)
        if text:  # to the left of points in the right half: names stay inside the axes
            flip = r["dice_mean"] > (left + right) / 2
            ax.annotate(text, (r["dice_mean"], y), xytext=(-5 if flip else 5, 4), textcoords="offset points",
                        ha="right" if flip else "left", fontsize=7, zorder=4)
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, pad=0.02).set_label("failure rate (volumes)")
    ax.set_ylim(0, top)
    ax.set_xlim(left, right)
    ax.set_xlabel("brain preservation: mean Dice of the brain mask (utility, higher is better)")
    ax.set_ylabel("ranking EER: worst-case semi-informed\n(95% interval; privacy, higher is better)")
    ax.set_title("Privacy against utility (star: the reference; hollow: indistinguishable from chance)",
                 fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, frameon=False)  # below: no point hidden
    return save_figure(fig, stem)
