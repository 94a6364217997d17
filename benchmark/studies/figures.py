"""The studies' pictures: heat maps over the angle grid and bar charts with intervals (PNG, Agg canvas)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.core.files import atomic_path


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    return path


def heat_maps(results: dict[str, dict[str, list[dict]]], azimuths: Sequence[float], elevations: Sequence[float],
              out_dir: Path) -> list[Path]:
    """``angles_<attack>.png``: per condition, the EER and the mean mated similarity over (azimuth, elevation)."""
    paths = []
    for attack, by_condition in results.items():
        fig = _figure((4.2 * len(by_condition), 6.4))
        for col, (condition, cells) in enumerate(by_condition.items()):
            for row, (key, title, cmap) in enumerate((("eer", "EER", "RdYlGn"), ("mated_mean", "mated similarity", "viridis"))):
                grid = np.full((len(elevations), len(azimuths)), np.nan)
                for c in cells:
                    grid[elevations.index(c["elevation"]), azimuths.index(c["azimuth"])] = c[key]
                ax = fig.add_subplot(2, len(by_condition), row * len(by_condition) + col + 1)
                im = ax.imshow(grid, origin="lower", cmap=cmap, aspect="auto",
                               **({"vmin": 0.0, "vmax": 0.5} if key == "eer" else {}))
                for (i, j), v in np.ndenumerate(grid):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
                ax.set_xticks(range(len(azimuths)), [f"{a:g}" for a in azimuths])
                ax.set_yticks(range(len(elevations)), [f"{e:g}" for e in elevations])
                ax.set_xlabel("azimuth (deg)")
                ax.set_ylabel("elevation (deg)")
                ax.set_title(f"{attack} {condition}: {title}", fontsize=9)
                fig.colorbar(im, ax=ax, fraction=0.046)
        paths.append(_save(fig, out_dir / f"angles_{attack}.png"))
    return paths


def bar_chart(values: dict[str, dict[str, dict]], metrics: Sequence[str], chance: float | None, path: Path,
              title: str) -> Path:
    """One panel per metric of grouped bars: per attack (group), per variant (bar), the value with its
    ``_ci_low``/``_ci_high`` interval; a dashed line at the chance level, or, with ``chance=None``, a black
    tick on each bar at its own ``<metric>_chance`` (chance levels that depend on the trials)."""
    attacks = list(values)
    variants = list(next(iter(values.values()))) if values else []
    fig = _figure((len(metrics) * (1.5 + 1.5 * len(attacks)), 3.4))
    width = 0.8 / max(len(variants), 1)
    for panel, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), panel + 1)
        for k, variant in enumerate(variants):
            x = np.arange(len(attacks)) + (k - (len(variants) - 1) / 2) * width
            m = [values[a][variant] for a in attacks]
            y = np.array([v.get(metric, np.nan) for v in m])
            lo = np.array([v.get(f"{metric}_ci_low", np.nan) for v in m])
            hi = np.array([v.get(f"{metric}_ci_high", np.nan) for v in m])
            # a percentile interval need not hold its point estimate (a ROCCH EER on few trials): the bar
            # then shows the interval's side that lies beyond it, nothing on the other
            err = (np.clip(np.vstack([y - lo, hi - y]), 0.0, None)
                   if np.isfinite(lo).all() and np.isfinite(hi).all() else None)
            ax.bar(x, y, width, yerr=err, capsize=3, label=variant)
            own = np.array([v.get(f"{metric}_chance", np.nan) for v in m])
            if chance is None and np.isfinite(own).any():
                ax.hlines(own, x - width / 2, x + width / 2, colors="black", linewidth=2,
                          label="chance" if k == 0 else None)
        if chance is not None:
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
        ax.set_xticks(range(len(attacks)), attacks)
        shown = [v.get(key, np.nan) for a in attacks for v in values[a].values() for key in (metric, f"{metric}_ci_low")]
        ax.set_ylim(min(0.0, float(np.nanmin(shown, initial=0.0)) - 0.05), 1.0)
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{title}: {metric.upper()}", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)
