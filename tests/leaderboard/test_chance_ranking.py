"""Ranking without optimism: tiers from the interval's lower end, chance levels beside the ranking figure."""

from __future__ import annotations

import csv
import json

import pytest

from benchmark.leaderboard import build_leaderboard, terminal_table
from benchmark.tracking import TrackingConfig, log_results
from tests.helpers import results_for, sqlite_store


def _board(tmp_path, entries) -> dict:
    tcfg = TrackingConfig(uri=sqlite_store(tmp_path / "store"), experiment="lb-chance")
    for team, system, kw in entries:
        log_results(results_for(team, system, splits=("test",), **kw), {}, tcfg, {}, {"ok": True})
    out = build_leaderboard(tcfg, tmp_path / "lb", split="test")
    return {"json": json.loads((out / "leaderboard.json").read_text()), "dir": out}


def test_chance_decides_tier_and_interval_must_clear_the_floor(tmp_path):
    # results_for: semi-informed EER = eer - 0.1, interval +-0.05
    b = _board(tmp_path, [("baseline", "none", {"eer": 0.12}),
                          ("luck", "low", {"eer": 0.33, "distinguishable": False}),  # point 0.23, tier 3 by EER
                          ("edge", "wide", {"eer": 0.52}),  # point 0.42 >= 0.40, but interval [0.37, 0.47]
                          ("clear", "high", {"eer": 0.56})])  # interval [0.41, 0.51]: clears 0.40
    rows = {r["submission"]: r for r in b["json"]["rows"]}
    low = rows["luck/low"]
    assert low["ranking_eer"] == pytest.approx(0.23) and low["tier"] == 1
    assert low["status"] == "ranked, indistinguishable from chance" and low["distinguishable"] is False
    assert rows["edge/wide"]["ranking_ci_low"] == pytest.approx(0.37) and rows["edge/wide"]["tier"] == 2
    assert rows["clear/high"]["tier"] == 1 and rows["clear/high"]["distinguishable"] is True
    assert rows["clear/high"]["chance"] == 0.43 and rows["clear/high"]["chance_p05"] == 0.31
    # equal utility: within a tier, the higher point estimate first
    assert [r["submission"] for r in b["json"]["rows"] if r["rank"]] == ["clear/high", "luck/low", "edge/wide"]
    md = (b["dir"] / "leaderboard.md").read_text()
    assert "0.430 (5%: 0.310), indistinguishable from chance" in md and "[0.370, 0.470]" in md
    page = (b["dir"] / "index.html").read_text()
    assert page.count("indistinguishable from chance</span>") == 1 and ">Chance</th>" in page
    with open(b["dir"] / "leaderboard.csv", newline="") as f:
        table = {f"{r['team']}/{r['system']}": r for r in csv.DictReader(f)}
    assert table["luck/low"]["distinguishable"] == "False" and float(table["edge/wide"]["chance"]) == 0.43
    luck = next(ln for ln in terminal_table(b["dir"]).splitlines() if "luck/low" in ln)
    assert "0.430~" in luck and "[0.180,0.280]" in luck


def test_older_results_without_chance_keys(tmp_path):
    b = _board(tmp_path, [("baseline", "none", {"eer": 0.12, "chance": False}),
                          ("old", "run", {"eer": 0.56, "chance": False})])
    rows = {r["submission"]: r for r in b["json"]["rows"]}
    assert rows["old/run"]["chance"] is None and rows["old/run"]["distinguishable"] is None
    assert rows["old/run"]["tier"] == 1 and rows["old/run"]["status"] == "ranked"
    md = (b["dir"] / "leaderboard.md").read_text()
    assert "| n/a |" in md
    assert "n/a" in (b["dir"] / "index.html").read_text()
    with open(b["dir"] / "leaderboard.csv", newline="") as f:
        assert all(r["chance"] == "n/a" for r in csv.DictReader(f))
    assert "n/a" in next(ln for ln in terminal_table(b["dir"]).splitlines() if "old/run" in ln)


def test_context_attacks_named_unranked_do_not_decide_the_ranking_figure():
    from benchmark.leaderboard._ranking import ranking_eer

    groups = {"mri2mri/anatomy/semi_informed": {"eer": [0.0, 0.0, 0.0]},
              "mri2mri/arcface/semi_informed": {"eer": [0.35, 0.3, 0.4]}}
    assert ranking_eer(groups)[:2] == (0.0, "mri2mri/anatomy/semi_informed")
    assert ranking_eer(groups, frozenset({"anatomy"}))[:2] == (0.35, "mri2mri/arcface/semi_informed")
