"""``leaderboard``: build ``leaderboard/`` (json, csv, md and a static, sortable ``index.html``) from MLflow.

One row per submission: the latest finished run of that submission for the split. Ranking as in the
VoicePrivacy Challenge (see :data:`POLICY`): privacy floors on the worst-case semi-informed EER, then
utility within each floor. A submission that failed validation is listed with its reason, unranked; the
``none`` baseline (the original volumes) is the reference row, always shown.

Beside ``index.html``: the privacy-utility trade-off plot (``tradeoff-<digest>.png``, ``.svg``) and a page per
submission (``submissions/<team>_<system>.html``, images in ``img/<team>_<system>/``), linked from its row.

Modules, one job each: ``_ranking`` (rows, tiers, order, reference figures), ``_artifacts`` (a run's
plots, renders, results and validation report out of MLflow), ``_formats`` (csv, markdown, terminal
table), ``_tradeoff`` (the trade-off plot), ``_page`` (the main page), ``_submission`` (a submission's
page), ``_renders`` (renders of synthetic persons for that page, made at scoring time), ``_browser``
(headless chromium), ``_site`` (reading the runs and writing the folder); the public names are here.
"""

from benchmark.leaderboard._artifacts import RENDERS, page_path
from benchmark.leaderboard._browser import CHROMIUM, chromium_page, page_screenshots, screenshot
from benchmark.core.config import LeaderboardConfig
from benchmark.leaderboard._config import leaderboard_config
from benchmark.leaderboard._formats import terminal_table, to_csv, to_markdown
from benchmark.leaderboard._page import to_html
from benchmark.leaderboard._ranking import (FALLBACK_NOTE, FLOORS, POLICY, REFERENCE_NOTE, attack_groups, rank_rows,
                                            ranking_eer, ranking_tier, tier_of)
from benchmark.leaderboard._renders import write_renders
from benchmark.leaderboard._site import build_leaderboard
from benchmark.leaderboard._tradeoff import tradeoff_plot

__all__ = ["CHROMIUM", "FALLBACK_NOTE", "FLOORS", "POLICY", "REFERENCE_NOTE", "RENDERS", "LeaderboardConfig",
           "attack_groups", "build_leaderboard", "chromium_page", "leaderboard_config", "page_path", "page_screenshots",
           "rank_rows", "ranking_eer", "ranking_tier", "screenshot", "terminal_table", "tier_of", "to_csv", "to_html",
           "to_markdown", "tradeoff_plot", "write_renders"]
