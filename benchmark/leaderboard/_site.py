"""Build ``leaderboard/`` (json, csv, md and a static, sortable ``index.html``) from the tracked runs."""

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
from benchmark.leaderboard._plots import copy_row_plots
from benchmark.leaderboard._ranking import FLOORS, POLICY, RANKING_KNOWLEDGE, board_rows, group_order, notes
from benchmark.tracking import TrackingConfig, client, runs, tracking_config

def build_leaderboard(tracking_cfg: Any, out_dir: str | Path, split: str = "test",
                      lb_cfg: LeaderboardConfig | None = None) -> Path:
    """Read the experiment's runs, rank the latest run of each submission, write the site; return ``out_dir``."""
    tcfg = tracking_config(tracking_cfg)
    lb = lb_cfg or LeaderboardConfig(split=split)
    out_dir = Path(out_dir)
    rows = board_rows(split_runs(tcfg, split), lb.reference, split)
    plots = copy_row_plots(client(tcfg), rows, out_dir, tcfg, lb.max_plots)
    board = {
        "title": lb.title, "experiment": tcfg.experiment, "tracking_uri": tcfg.uri, "split": split,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "policy": POLICY, "floors": list(FLOORS), "ranking_knowledge": RANKING_KNOWLEDGE, "notes": notes(rows),
        "reference": next(r for r in rows if r["reference"])["submission"],
        "attack_groups": group_order({g for r in rows for g in r["attacks"]}), "rows": rows,
    }
    written = [write_json(out_dir / "leaderboard.json", board),
               write_text(out_dir / "leaderboard.csv", to_csv(rows, board["attack_groups"])),
               write_text(out_dir / "leaderboard.md", to_markdown(board)),
               write_text(out_dir / "index.html", to_html(board))]
    readable(written + plots)
    return out_dir


def split_runs(tcfg: TrackingConfig, split: str) -> list:
    """The experiment's finished runs of ``split``, newest first; an error saying what is tracked when none."""
    all_runs = runs(tcfg)
    if not all_runs:
        raise BenchmarkError(f"no finished runs in experiment '{tcfg.experiment}' at {tcfg.uri}; "
                             "score a submission first (python -m benchmark score / run)")
    found = [r for r in all_runs if r.data.tags.get("split") == split]
    if not found:
        have = sorted({r.data.tags.get("split", "?") for r in all_runs})
        raise BenchmarkError(f"no runs of split '{split}' in experiment '{tcfg.experiment}' "
                             f"(splits tracked: {', '.join(have)}); set leaderboard.split")
    return found


def readable(paths: list[Path]) -> None:
    """A site is read by others (a web server): files as 0644 less the umask, not mkstemp's 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        os.chmod(p, 0o644 & ~umask)
