"""The leaderboard: ranking policy, json/csv/md contents, and the static page in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.leaderboard import (CHROMIUM, FALLBACK_NOTE, REFERENCE_NOTE, LeaderboardConfig, build_leaderboard,
                                   chromium_page, page_screenshots, rank_rows, ranking_eer, terminal_table, tier_of)
from benchmark.tracking import TrackingConfig, log_results
from tests.helpers import sqlite_store

CONDITIONS = ("photo2mri", "mri2mri")
ATTACKS = ("arcface", "dlib")
KNOWLEDGE = ("ignorant", "lazy_informed", "semi_informed")


def realistic_results(team: str, system: str, eer: float, dice: float, failure_rate: float = 0.0,
                      splits=("test",), knowledge=KNOWLEDGE) -> dict:
    """Results as scoring writes them: weaker attackers see higher EER; semi-informed is the worst case."""
    out, privacy = {}, {}
    for split in splits:
        m = {}
        for ci, cond in enumerate(CONDITIONS):
            for ai, attack in enumerate(ATTACKS):
                for ki, know in enumerate(knowledge):
                    e = min(0.5, eer + 0.06 * (len(KNOWLEDGE) - 1 - KNOWLEDGE.index(know)) + 0.02 * ci + 0.03 * ai)
                    half = 0.04 - 0.01 * ki  # semi-informed: [eer - 0.02, eer + 0.02], clears 0.40 at 0.42
                    for metric, v in (("eer", e), ("linkability", max(0.0, 1 - 2 * e)), ("auc", 1 - e),
                                      ("min_cllr", 0.5 + e), ("rank1", max(0.0, 0.9 - 2 * e))):
                        key = f"{cond}/{attack}/{know}/{metric}"
                        m[key] = round(v, 4)
                        m[key + "_ci_low"] = round(max(0.0, v - half), 4)
                        m[key + "_ci_high"] = round(min(1.0, v + half), 4)
        eers = {k[: -len("/eer")]: v for k, v in m.items() if k.endswith("/eer")}
        worst = min(eers, key=eers.get)
        links = {k[: -len("/linkability")]: v for k, v in m.items() if k.endswith("/linkability")}
        worst_link = max(links, key=links.get)
        for ai, attack in enumerate(ATTACKS):  # attribute inference: weaker where the EER is higher
            m[f"attributes/{attack}/sex_balanced_accuracy"] = round(min(1.0, 0.5 + (0.5 - eer) * 0.8 - 0.05 * ai), 4)
            m[f"attributes/{attack}/sex_balanced_accuracy_chance"] = 0.5
            m[f"attributes/{attack}/age_mae"] = round(6.0 + 20 * eer + 2.0 * ai, 4)
            m[f"attributes/{attack}/age_mae_chance"] = 15.0
        m.update({"utility/brain_dice_mean": dice, "utility/dice_min": dice - 0.03, "utility/failure_rate": failure_rate,
                  "privacy/worst_eer": eers[worst], "privacy/worst_linkability": links[worst_link]})
        out[split] = m
        privacy[split] = {"worst_eer_attacker": worst, "worst_linkability_attacker": worst_link}
    return {"submission": {"team": team, "system": system, "path": f"submissions/{team}/{system}"},
            "splits": out, "privacy": privacy, "failures": []}


def det_plot(path: Path, eer: float) -> Path:
    """A small DET-like plot of scores (not biometric data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.linspace(0.001, 0.999, 50)
    fig, ax = plt.subplots(figsize=(2.4, 2.4), dpi=60)
    ax.plot(x, np.clip(2 * eer - x, 0.001, 1), label="arcface")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false match rate", ylabel="false non-match rate", title=f"DET, EER {eer:.2f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


#: (team, system, worst semi-informed EER, Dice, failure rate, validation ok)
SUBMISSIONS = [
    ("baseline", "none", 0.02, 1.0, 0.0, True),
    ("acme", "strong", 0.42, 0.95, 0.0, True),  # tier 1
    ("gamma", "refacer", 0.45, 0.97, 0.0, True),  # tier 1, better utility: rank 1
    ("beta", "mid", 0.33, 0.99, 0.05, True),  # tier 2
    ("delta", "blur", 0.12, 0.99, 0.0, True),  # tier 4: below the floors
    ("bad", "broken", 0.49, 0.90, 0.0, False),  # failed validation
]


def log_all(tcfg: TrackingConfig, tmp: Path, submissions=SUBMISSIONS, plots: bool = True) -> None:
    for team, system, eer, dice, fail, ok in submissions:
        results = realistic_results(team, system, eer, dice, fail)
        validation = {"ok": True, "reason": ""} if ok else \
            {"ok": False, "reason": "1 error(s): volumes/v0003.nii.gz: missing", "n_errors": 1}
        if not ok:
            results["splits"] = {}
        det = det_plot(tmp / "plots" / team / "det_photo2mri.png", eer) if ok and plots else None
        log_results(results, {"seed": 0}, tcfg, {"plots": [det]} if det else {}, validation)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leaderboard")
    tcfg = TrackingConfig(uri=sqlite_store(tmp / "store"), experiment="lb-test")
    # an older run of acme/strong with better numbers: only the latest run of a submission counts
    log_all(tcfg, tmp, [("acme", "strong", 0.49, 1.0, 0.0, True)])
    time.sleep(0.01)
    log_all(tcfg, tmp)
    out = build_leaderboard(tcfg, tmp / "leaderboard", split="test")
    return out


def test_outputs_and_ranking(board):
    data = json.loads((board / "leaderboard.json").read_text())
    order = [(r["submission"], r["rank"], r["tier"], r["status"]) for r in data["rows"]]
    assert order == [
        ("baseline/none", None, 4, "reference"),
        ("gamma/refacer", 1, 1, "ranked"),
        ("acme/strong", 2, 1, "ranked"),
        ("beta/mid", 3, 2, "ranked"),
        ("delta/blur", 4, 4, "below the privacy floors"),
        ("bad/broken", None, None, "failed validation"),
    ]
    rows = {r["submission"]: r for r in data["rows"]}
    assert rows["acme/strong"]["ranking_eer"] == pytest.approx(0.42)  # latest run, not the older 0.49
    assert rows["acme/strong"]["ranking_attacker"] == "photo2mri/arcface/semi_informed"
    assert rows["acme/strong"]["ranking_semi_informed"] is True
    assert data["notes"] == [REFERENCE_NOTE.format(who="baseline/none")] and data["reference"] == "baseline/none"
    # the reference's figures beside each submission, for the attacker that decided the submission's value
    vs = rows["acme/strong"]["vs_reference"]
    assert vs["ranking_eer"] == pytest.approx(0.02)  # baseline/none at photo2mri/arcface/semi_informed
    assert vs["worst_linkability"] == rows["baseline/none"]["attacks"][
        rows["acme/strong"]["worst_linkability_attacker"]]["linkability"][0]
    assert rows["baseline/none"]["vs_reference"] == {}
    # attribute inference: the strongest attacker (highest sex balanced accuracy, lowest age MAE) and chance
    assert rows["acme/strong"]["sex_balanced_accuracy"] == pytest.approx(0.5 + 0.08 * 0.8)
    assert rows["acme/strong"]["sex_balanced_accuracy_attacker"] == "arcface"
    assert rows["acme/strong"]["sex_balanced_accuracy_chance"] == 0.5
    assert rows["acme/strong"]["age_mae"] == pytest.approx(6.0 + 20 * 0.42)
    assert vs["sex_balanced_accuracy"] == pytest.approx(0.5 + 0.48 * 0.8) and vs["age_mae"] == pytest.approx(6.4)
    assert rows["bad/broken"]["reason"].endswith("volumes/v0003.nii.gz: missing")
    assert rows["beta/mid"]["failure_rate"] == pytest.approx(0.05)
    eer = rows["gamma/refacer"]["attacks"]["mri2mri/dlib/ignorant"]["eer"]
    assert eer[1] < eer[0] < eer[2]
    assert "privacy floors" in data["policy"] and data["floors"] == [0.40, 0.30, 0.20]
    # DET thumbnails copied beside the page
    for sub in ("gamma/refacer", "baseline/none"):
        (plot,) = rows[sub]["plots"]
        assert plot.startswith("img/") and (board / plot).read_bytes()[:4] == b"\x89PNG"
    assert rows["bad/broken"]["plots"] == []

    with open(board / "leaderboard.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["team"] for r in table] == ["baseline", "gamma", "acme", "beta", "delta", "bad"]
    assert [r["rank"] for r in table] == ["ref", "1", "2", "3", "4", ""]
    assert float(table[2]["photo2mri/arcface/semi_informed/eer_ci_low"]) < 0.42
    assert "photo2mri/dlib/lazy_informed/linkability_ci_high" in table[0]
    assert float(table[2]["reference_ranking_eer"]) == pytest.approx(0.02) and table[0]["reference_ranking_eer"] == ""
    assert float(table[2]["sex_balanced_accuracy_chance"]) == 0.5

    text = terminal_table(board)
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["#", "tier", "submission", "status", "rank", "EER"]
    assert lines[2].startswith("ref") and "baseline/none" in lines[2]
    acme = next(ln for ln in lines if "acme/strong" in ln).split()
    assert acme[4:6] == ["0.420", "0.020"]  # its ranking EER, and none's for the same attacker beside it
    assert "attack's strength" in lines[-1]

    md = (board / "leaderboard.md").read_text()
    assert "## Ranking policy" in md and "| ref |" in md and "volumes/v0003.nii.gz: missing" in md
    assert "0.420 (none 0.020)" in md
    for team, system, *_ in SUBMISSIONS:
        page = rows[f"{team}/{system}"].get("page")
        assert (f"| {team} | [{system}]({page}) |" if page else f"| {team} | {system} |") in md
    # the markdown and the csv link each row's page, which exists beside them
    linked = [r["page"] for r in table if r["page"]]
    assert len(linked) >= 4 and all((board / p).is_file() for p in linked)

    page = (board / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert "Ranking policy" in page and page.count("<tr class=") == len(SUBMISSIONS)
    assert page.count('class="vsref"') >= 4 * 2  # none's figures under each scored submission's
    assert "attack strength: the original volumes" in page
    # the trade-off plot beside the page, and a page per tracked submission, linked from its row
    png, svg = data["tradeoff"]
    assert re.fullmatch(r"tradeoff-[0-9a-f]{12}\.png", png) and svg == png[:-4] + ".svg"
    assert (board / png).read_bytes()[:4] == b"\x89PNG" and "<svg" in (board / svg).read_text()
    assert f'src="{png}"' in page
    for sub in ("gamma/refacer", "baseline/none", "bad/broken"):
        assert f'href="{rows[sub]["page"]}"' in page and (board / rows[sub]["page"]).is_file()


def test_submission_page(board):
    data = json.loads((board / "leaderboard.json").read_text())
    rows = {r["submission"]: r for r in data["rows"]}
    page = (board / rows["acme/strong"]["page"]).read_text()
    assert "http://" not in page and "https://" not in page and 'href="../index.html"' in page
    n_groups = len(CONDITIONS) * len(ATTACKS) * len(KNOWLEDGE)
    body = page.split("<h2>Attacks</h2>")[1].split("<h2>")[0]
    assert body.count("<tr>") == n_groups + 1  # the head and every condition x attack x knowledge
    for head in ("EER", "Linkability", "min Cllr", "AUC", "Rank-1", "Rank-5"):
        assert f"<th>{head}</th>" in body
    assert "0.420 <small>[0.400, 0.440]</small>" in body  # photo2mri/arcface/semi_informed with its interval
    assert "sex balanced accuracy" in page and "0.564" in page  # attribute inference of the strongest attack
    assert 'src="../img/acme_strong/plots_det_photo2mri.png"' in page
    assert (board / "img/acme_strong/plots_det_photo2mri.png").is_file()
    assert "renders of real persons are published only with tracking.log_biometric_artifacts=true" in page
    assert "No failure" in page and "brain_dice_mean" in page
    bad = (board / rows["bad/broken"]["page"]).read_text()
    assert "INVALID: 1 error(s): volumes/v0003.nii.gz: missing" in bad


def test_ranking_rules_without_semi_informed():
    def row(sub, eer, dice, fail=0.0, validation="passed", knowledge="ignorant"):
        groups = {f"photo2mri/arcface/{knowledge}": {"eer": [eer, None, None]}}
        e, attack, semi = ranking_eer(groups)
        return {"submission": sub, "reference": sub == "baseline/none", "validation": validation,
                "ranking_eer": e, "ranking_attacker": attack, "ranking_semi_informed": semi,
                "dice_mean": dice, "failure_rate": fail, "rank": None, "tier": None, "status": ""}

    rows = rank_rows([row("a/x", 0.31, 0.90), row("b/y", 0.35, 0.90, fail=0.1), row("c/z", 0.39, 0.95),
                      row("baseline/none", 0.01, 1.0), row("d/w", None, 0.9)])
    assert [(r["submission"], r["rank"]) for r in rows] == [
        ("baseline/none", None), ("c/z", 1), ("a/x", 2), ("b/y", 3), ("d/w", None)]
    assert not rows[1]["ranking_semi_informed"] and rows[-1]["status"].startswith("not scored")
    assert [tier_of(x) for x in (0.5, 0.40, 0.3999, 0.30, 0.20, 0.1999, None)] == [1, 1, 2, 2, 3, 4, None]
    assert "marked *" in FALLBACK_NOTE


def test_fallback_note_and_reference_placeholder(tmp_path):
    tcfg = TrackingConfig(uri=sqlite_store(tmp_path / "store"), experiment="lb-fallback")
    log_results(realistic_results("acme", "x", 0.3, 0.9, knowledge=("ignorant",)), {}, tcfg, {}, {"ok": True})
    out = build_leaderboard(tcfg, tmp_path / "lb", split="test", lb_cfg=LeaderboardConfig(split="test"))
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["notes"] and "No semi-informed attack" in data["notes"][0]
    assert [r["status"] for r in data["rows"]] == ["reference, not scored yet", "ranked"]
    assert "0.420*" in (out / "leaderboard.md").read_text()  # 0.3 + 2 * 0.06: the ignorant attacker's EER
    from benchmark.core.errors import BenchmarkError

    with pytest.raises(BenchmarkError, match="no runs of split 'dev'"):
        build_leaderboard(tcfg, tmp_path / "lb2", split="dev")


def _column(page, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('data-v'))")


def _needs_chromium():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; .ci/run does)")
    pytest.importorskip("playwright", reason="playwright not installed: pip install -e '.[test]'")


def test_page_in_headless_chromium(board):
    _needs_chromium()
    requests = []
    with chromium_page(board / "index.html", width=1400, height=800) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.reload()
        subs = page.eval_on_selector_all("#leaderboard tbody tr", "rows => rows.map(r => r.dataset.submission)")
        assert subs == [f"{t}/{s}" for t, s, *_ in SUBMISSIONS[:1]] + \
            ["gamma/refacer", "acme/strong", "beta/mid", "delta/blur", "bad/broken"]
        headers = page.eval_on_selector_all("#leaderboard thead th", "hs => hs.map(h => h.textContent)")
        dice = headers.index("Dice")
        page.click(f"#leaderboard thead th:nth-child({dice + 1})")
        values = [float(v) for v in _column(page, dice) if v]
        assert values == sorted(values) and len(values) == 5
        assert page.get_attribute(f"#leaderboard thead th:nth-child({dice + 1})", "aria-sort") == "ascending"
        assert _column(page, dice)[-1] == ""  # no value: last
        page.click(f"#leaderboard thead th:nth-child({dice + 1})")
        values = [float(v) for v in _column(page, dice) if v]
        assert values == sorted(values, reverse=True)
        team = headers.index("Team")
        page.click(f"#leaderboard thead th:nth-child({team + 1})")
        assert _column(page, team) == sorted(t for t, *_ in SUBMISSIONS)
        rank = headers.index("#")
        page.click(f"#leaderboard thead th:nth-child({rank + 1})")
        assert page.eval_on_selector_all("#leaderboard tbody tr", "rows => rows.map(r => r.dataset.submission)")[:2] \
            == ["baseline/none", "gamma/refacer"]
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(board / "screenshot.png"), full_page=True)
    assert all(u.startswith("file://") for u in requests), requests
    assert (board / "screenshot.png").read_bytes()[:4] == b"\x89PNG"


def fifty(seed: int = 0) -> list[tuple]:
    """The reference and 49 generated submissions with long names, 3 of them invalid."""
    rng = np.random.default_rng(seed)
    return [SUBMISSIONS[0]] + [
        (f"team-{i:02d}-of-a-university-hospital", f"defacer-variant-{i:02d}", round(float(rng.uniform(0.05, 0.47)), 3),
         round(float(rng.uniform(0.9, 1.0)), 4), float(rng.choice([0.0, 0.0, 0.05, 0.2])), i % 17 != 3)
        for i in range(49)]


@pytest.fixture(scope="module")
def board50(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leaderboard50")
    tcfg = TrackingConfig(uri=sqlite_store(tmp / "store"), experiment="lb-50")
    log_all(tcfg, tmp, fifty(), plots=False)
    return build_leaderboard(tcfg, tmp / "leaderboard", split="test")


def _submissions(page) -> list[str]:
    return page.eval_on_selector_all("#leaderboard tbody tr", "rows => rows.map(r => r.dataset.submission)")


def test_fifty_rows_fit_a_laptop_screen_and_sort(board50):
    _needs_chromium()
    with chromium_page(board50 / "index.html", width=1280, height=800) as page:
        assert len(_submissions(page)) == 50
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no horizontal scroll
        inner, shown = page.evaluate("(() => { const w = document.querySelector('.wrap'); "
                                     "return [w.scrollWidth, w.clientWidth]; })()")
        assert inner <= shown  # nor inside the table's box
        assert page.evaluate("(() => { const i = document.querySelector('figure.tradeoff img'); "
                             "return i.complete && i.naturalWidth > 0; })()")
        headers = page.eval_on_selector_all("#leaderboard thead th", "hs => hs.map(h => h.textContent)")
        eer = headers.index("Ranking EER")
        for order in (sorted, lambda v: sorted(v, reverse=True)):
            page.click(f"#leaderboard thead th:nth-child({eer + 1})")
            values = [float(v) for v in _column(page, eer) if v]
            assert values == order(values) and len(values) == 47  # 3 invalid rows have none: last
        system = headers.index("System")
        page.click(f"#leaderboard thead th:nth-child({system + 1})")
        assert _column(page, system) == sorted(_column(page, system))
        first = _submissions(page)[0]
        page.click(f'#leaderboard tbody tr[data-submission="{first}"] td:nth-child({system + 1}) a')
        assert page.text_content("h1") == first  # the row's link opens its page
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_screenshots_of_the_main_page_and_a_submission_page(board, tmp_path):
    """The README's pictures come from :func:`page_screenshots` (scripts/make_readme_images.py --pages)."""
    _needs_chromium()
    main, sub = page_screenshots(board, "gamma/refacer", tmp_path)
    from PIL import Image

    for png in (main, sub):
        with Image.open(png) as im:
            assert im.width == 1280 and im.getextrema() != ((255, 255), (255, 255), (255, 255))
    with Image.open(main) as im:
        assert im.height > 900  # the whole page: trade-off plot and table


def test_dice_histogram_is_drawn_once_for_the_same_values(tmp_path):
    """A board rebuilt from the same runs finds the histogram it drew (named by the values), not a redraw."""
    from benchmark.leaderboard._submission import dice_histogram

    volumes = [{"brain_dice": str(d)} for d in (0.99, 0.97, 1.0, 0.93)]
    first = dice_histogram(volumes, tmp_path / "img" / "dice_histogram")
    assert [p.suffix for p in first] == [".png", ".svg"] and all(p.is_file() for p in first)
    stamps = [p.stat().st_mtime_ns for p in first]
    assert dice_histogram(volumes, tmp_path / "img" / "dice_histogram") == first
    assert [p.stat().st_mtime_ns for p in first] == stamps  # not written again
    other = dice_histogram(volumes[:3], tmp_path / "img" / "dice_histogram")
    assert other[0] != first[0] and other[0].is_file()  # other values, another drawing
    assert dice_histogram([{"brain_dice": ""}], tmp_path / "none") == []


def test_the_tradeoff_plot_is_drawn_once_for_the_same_points(tmp_path):
    """Rebuilt from the same rows, the board finds its trade-off plot; another point draws another."""
    from benchmark.leaderboard._tradeoff import tradeoff_plot

    rows = [{"submission": f"t/s{i}", "system": f"s{i}", "reference": i == 0, "rank": i or None,
             "ranking_eer": 0.1 * i, "ranking_ci_low": 0.05 * i, "ranking_ci_high": 0.15 * i, "dice_mean": 1 - 0.01 * i,
             "failure_rate": 0.0, "distinguishable": True, "chance": 0.4, "chance_p05": 0.3, "run_id": f"r{i}"}
            for i in range(3)]
    first = tradeoff_plot(rows, tmp_path)
    stamps = [p.stat().st_mtime_ns for p in first]
    assert tradeoff_plot([{**r, "run_id": "other"} for r in rows], tmp_path) == first  # run ids are not shown
    assert [p.stat().st_mtime_ns for p in first] == stamps
    moved = tradeoff_plot([*rows[:2], {**rows[2], "dice_mean": 0.9}], tmp_path)
    assert moved[0] != first[0] and all(p.is_file() for p in moved)
