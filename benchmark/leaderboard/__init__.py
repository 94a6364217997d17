"""``leaderboard``: build ``leaderboard/`` (json, csv, md and a static, sortable ``index.html``) from MLflow.

One row per submission: the latest finished run of that submission for the split. Ranking as in the
VoicePrivacy Challenge (see :data:`POLICY`): privacy floors on the worst-case semi-informed EER, then
utility within each floor. A submission that failed validation is listed with its reason, unranked; the
``none`` baseline (the original volumes) is the reference row, always shown.

Modules, one job each: ``_ranking`` (rows, tiers, order, reference figures), ``_plots`` (DET plots copied
from MLflow), ``_formats`` (csv, markdown, terminal table), ``_page`` (the html page), ``_browser``
(headless chromium), ``_site`` (reading the runs and writing the folder); the public names are here.
"""

from benchmark.leaderboard._browser import CHROMIUM, chromium_page, screenshot
from benchmark.core.config import LeaderboardConfig
from benchmark.leaderboard._config import leaderboard_config
from benchmark.leaderboard._formats import terminal_table, to_csv, to_markdown
from benchmark.leaderboard._page import to_html
from benchmark.leaderboard._ranking import (FALLBACK_NOTE, FLOORS, POLICY, REFERENCE_NOTE, attack_groups, rank_rows,
                                            ranking_eer, ranking_tier, tier_of)
from benchmark.leaderboard._site import build_leaderboard

__all__ = ["CHROMIUM", "FALLBACK_NOTE", "FLOORS", "POLICY", "REFERENCE_NOTE", "LeaderboardConfig",
           "attack_groups", "build_leaderboard", "chromium_page", "leaderboard_config", "rank_rows", "ranking_eer",
           "ranking_tier", "screenshot", "terminal_table", "tier_of", "to_csv", "to_html", "to_markdown"]
