"""What a submission page shows, out of its MLflow run: plots and renders copied into the site's
``img/<submission>/``, and ``results.json``, the validation report and the per-volume utility read.

Plots are scores, never biometric data. Renders (``renders/``) are copied only when the run's cohort is
synthetic (tag ``cohort.synthetic``: no real person) or ``tracking.log_biometric_artifacts`` is true.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core.files import write_bytes
from benchmark.tracking import TrackingConfig, is_biometric, retry

PAGE_DIR = "submissions"  # the pages, beside index.html
RENDERS = "renders"  # <output>/renders/<split>/ (benchmark.leaderboard.write_renders), the run's folder ``renders``
UTILITY = "utility"  # the run's artifact folder of per-volume brain preservation (a tsv)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def page_path(row: dict[str, Any]) -> str:
    """The submission page of ``row``, relative to the site."""
    return f"{PAGE_DIR}/{safe_name(row['submission'])}.html"


@dataclass
class Details:
    """A run's files for its page: image paths relative to the site, and what was read."""

    plots: list[str] = field(default_factory=list)  # DET, CMC, linkability (png)
    renders: list[str] = field(default_factory=list)  # defaced next to original (png), synthetic persons
    results: dict[str, Any] = field(default_factory=dict)  # results.json
    validation: dict[str, Any] = field(default_factory=dict)  # validation/validation.json
    volumes: list[dict[str, str]] = field(default_factory=list)  # utility per volume
    renders_note: str = ""  # why no render is shown


def renders_allowed(run, tcfg: TrackingConfig) -> bool:
    return tcfg.log_biometric_artifacts or run.data.tags.get("cohort.synthetic") == "true"


def _files(base: str, tcfg: TrackingConfig, path: str = "", depth: int = 0) -> list[str]:
    """The files under ``path`` of the artifact root ``base`` (not ``scores/``; three folders deep at most)."""
    from mlflow.artifacts import list_artifacts

    out = []
    uri = f"{base}/{path}" if path else base
    for a in retry(lambda: list_artifacts(artifact_uri=uri, tracking_uri=tcfg.uri), "list artifacts", tcfg):
        rel = f"{path}/{Path(a.path).name}" if path else Path(a.path).name
        if a.is_dir:
            if depth < 3 and Path(rel).parts[0] != "scores":
                out += _files(base, tcfg, rel, depth + 1)
        else:
            out.append(rel)
    return out


def _wanted(p: str, renders: bool) -> bool:
    top = Path(p).parts[0]
    if top == RENDERS:
        return renders and p.lower().endswith(".png")
    if top == "plots":
        return p.lower().endswith(".png") and not is_biometric("", Path(p))
    return p in ("results.json", "validation/validation.json") or (top == UTILITY and p.endswith(".tsv"))


def run_details(run, row: dict[str, Any], out_dir: Path, tcfg: TrackingConfig) -> Details:
    """Copy the run's plots (and renders, where allowed) into ``out_dir/img/<submission>/``; read the rest."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bar per file
    allowed = renders_allowed(run, tcfg)
    d = Details(renders_note="" if allowed else "not shown: the cohort is not the synthetic one (renders of "
                "real persons are published only with tracking.log_biometric_artifacts=true)")
    from mlflow.artifacts import download_artifacts

    # by the run's artifact URI: a runs:/ URI would look the run up again for every file (~30 ms each)
    base = run.info.artifact_uri.rstrip("/")
    paths = [p for p in _files(base, tcfg) if _wanted(p, allowed)]
    with tempfile.TemporaryDirectory(prefix="leaderboard-") as tmp:
        for p in paths:
            local = Path(retry(lambda: download_artifacts(artifact_uri=f"{base}/{p}", dst_path=tmp,
                                                          tracking_uri=tcfg.uri), "download artifact", tcfg))
            if p == "results.json":
                d.results = json.loads(local.read_text())
            elif p == "validation/validation.json":
                d.validation = json.loads(local.read_text())
            elif p.startswith(UTILITY + "/"):
                d.volumes += list(csv.DictReader(local.read_text().splitlines(), delimiter="\t"))
            else:
                rel = f"img/{safe_name(row['submission'])}/{safe_name(p)}"
                write_bytes(out_dir / rel, local.read_bytes())
                (d.renders if p.startswith(RENDERS + "/") else d.plots).append(rel)
    if allowed and not d.renders:
        d.renders_note = "none in this run (scored without renders, or no volume could be rendered)"
    return d


def remove_stale(out_dir: Path, keep: set[Path]) -> None:
    """Remove the images and pages of earlier builds that this build did not write."""
    for folder in (out_dir / "img", out_dir / PAGE_DIR):
        if folder.is_dir():
            for stale in sorted(folder.rglob("*"), reverse=True):
                if stale.is_file() and stale not in keep:
                    stale.unlink()
                elif stale.is_dir() and not any(stale.iterdir()):
                    stale.rmdir()
