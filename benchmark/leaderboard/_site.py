"""Build ``leaderboard/`` from the tracked runs: json, csv, md, a static, sortable ``index.html`` with the
trade-off plot (``tradeoff-<digest>.png``, ``.svg``), and a page per submission (``submissions/``, images in ``img/``)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_json, write_text
from benchmark.core.config import LeaderboardConfig
from benchmark.leaderboard._formats import to_csv, to_markdown
from benchmark.leaderboard._page import to_html
from benchmark.leaderboard._artifacts import page_path, remove_stale, run_details, safe_name
from benchmark.leaderboard._submission import dice_histogram, submission_html
from benchmark.leaderboard._tradeoff import plotted, tradeoff_plot
from benchmark.leaderboard._ranking import FLOORS, POLICY, RANKING_KNOWLEDGE, board_rows, group_order, notes
from benchmark.tracking import TrackingConfig, runs, tracking_config

def build_leaderboard(tracking_cfg: Any, out_dir: str | Path, split: str = "test",
                      lb_cfg: LeaderboardConfig | None = None, missing: dict[str, str] | None = None) -> Path:
    """Read the experiment's runs, rank the latest run of each submission, write the site; return ``out_dir``.
    ``missing``: baselines this run could not make (name -> reason), said above the table and in the JSON."""
    tcfg = tracking_config(tracking_cfg)
    lb = lb_cfg or LeaderboardConfig(split=split)
    out_dir = Path(out_dir)
    found = split_runs(tcfg, split)
    rows = board_rows(found, lb.reference, split)
    board = {
        "title": lb.title, "experiment": tcfg.experiment, "tracking_uri": tcfg.uri, "split": split,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "policy": POLICY, "floors": list(FLOORS), "ranking_knowledge": RANKING_KNOWLEDGE, "notes": notes(rows) + [MISSING_NOTE.format(who=k, why=v) for k, v in (missing or {}).items()],
        "missing": dict(missing or {}),
        "reference": next(r for r in rows if r["reference"])["submission"],
        "attack_groups": group_order({g for r in rows for g in r["attacks"]}), "rows": rows,
    }
    pages = write_pages(board, {r.info.run_id: r for r in found}, out_dir, tcfg)
    board["tradeoff"] = [p.name for p in tradeoff_plot(rows, out_dir)] if plotted(rows) else []
    written = [*pages, *(out_dir / p for p in board["tradeoff"]), write_json(out_dir / "leaderboard.json", board),
               write_text(out_dir / "leaderboard.csv", to_csv(rows, board["attack_groups"])),
               write_text(out_dir / "leaderboard.md", to_markdown(board)),
               write_text(out_dir / "index.html", to_html(board))]
    remove_stale(out_dir, set(written))
    readable(written)
    return out_dir


MISSING_NOTE = ("Not on this board: the baseline '{who}', which refused volumes in this run ({why}); its "
                "earlier row, if any, is shown as it was tracked.")


def write_pages(board: dict[str, Any], by_id: dict[str, Any], out_dir: Path, tcfg: TrackingConfig) -> list[Path]:
    """Each tracked row's page and the images it shows (``row["plots"]``, ``row["page"]``); return the files."""
    written = []
    for r in board["rows"]:
        if not r["run_id"]:
            continue
        run = by_id[r["run_id"]]
        d = run_details(run, r, out_dir, tcfg)
        r["plots"], r["page"] = d.plots, page_path(r)
        hist = dice_histogram(d.volumes, out_dir / "img" / safe_name(r["submission"]) / "dice_histogram")
        metrics = {k: float(v) for k, v in run.data.metrics.items()}
        html = submission_html(board, r, metrics, d, hist[0].relative_to(out_dir).as_posix() if hist else None)
        written += [write_text(out_dir / r["page"], html), *hist, *(out_dir / p for p in d.plots + d.renders)]
    return written


def split_runs(tcfg: TrackingConfig, split: str) -> list:
    """The experiment's finished runs of ``split``, newest first; an error saying what is tracked when none."""
    found = runs(tcfg, split)
    if found:
        return found
    all_runs = runs(tcfg)
    if not all_runs:
        raise BenchmarkError(f"no finished runs in experiment '{tcfg.experiment}' at {tcfg.uri}; "
                             "score a submission first (python -m benchmark score / run)")
    have = sorted({r.data.tags.get("split", "?") for r in all_runs})
    raise BenchmarkError(f"no runs of split '{split}' in experiment '{tcfg.experiment}' "
                         f"(splits tracked: {', '.join(have)}); set leaderboard.split")


def readable(paths: list[Path]) -> None:
    """A site is read by others (a web server): files as 0644 less the umask, not mkstemp's 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        os.chmod(p, 0o644 & ~umask)
