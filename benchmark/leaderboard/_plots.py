"""Copy each row's DET plots out of its MLflow run into the site's ``img/`` (scores, never biometric data)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from benchmark.core.files import write_bytes
from benchmark.tracking import TrackingConfig, is_biometric, retry

PLOT_SUFFIXES = (".png", ".svg")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def _plot_paths(c, run_id: str, tcfg: TrackingConfig, path: str | None = None, depth: int = 0) -> list[str]:
    out = []
    for a in retry(lambda: c.list_artifacts(run_id, path), "list artifacts", tcfg):
        if a.is_dir:
            if depth < 3:
                out += _plot_paths(c, run_id, tcfg, a.path, depth + 1)
        elif a.path.lower().endswith(PLOT_SUFFIXES) and not is_biometric("", Path(a.path)):
            if "det" in Path(a.path).name.lower() or "plots" in Path(a.path).parts:
                out.append(a.path)
    return sorted(out, key=lambda p: ("det" not in Path(p).name.lower(), p))


def copy_plots(c, row: dict[str, Any], out_dir: Path, tcfg: TrackingConfig, max_plots: int) -> list[str]:
    """Copy the run's DET plots into ``out_dir/img/``; return their paths relative to ``out_dir``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bar per thumbnail
    rels = []
    paths = _plot_paths(c, row["run_id"], tcfg)[:max_plots]
    if not paths:
        return rels
    with tempfile.TemporaryDirectory(prefix="leaderboard-") as tmp:
        for p in paths:
            local = Path(retry(lambda: c.download_artifacts(row["run_id"], p, tmp), "download artifact", tcfg))
            rel = f"img/{_safe(row['submission'])}__{row['split']}__{_safe(p)}"
            write_bytes(out_dir / rel, local.read_bytes())
            rels.append(rel)
    return rels



def copy_row_plots(c, rows: list[dict[str, Any]], out_dir: Path, tcfg: TrackingConfig, max_plots: int) -> list[Path]:
    """Fill each tracked row's ``plots`` with its copied DET plots; remove the plots of earlier builds from
    ``out_dir/img/``; return the files kept."""
    for r in rows:
        if r["run_id"]:
            r["plots"] = copy_plots(c, r, out_dir, tcfg, max_plots)
    keep = {out_dir / p for r in rows for p in r["plots"]}
    img = out_dir / "img"
    if img.is_dir():
        for stale in img.iterdir():
            if stale.is_file() and stale not in keep:
                stale.unlink()
    return sorted(keep)
