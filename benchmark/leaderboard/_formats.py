"""The leaderboard as text: csv, markdown, and the plain table ``leaderboard`` prints in the terminal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Optional

from benchmark.leaderboard._ranking import ATTACK_METRICS, ATTRIBUTE_METRICS

def fmt(v: Optional[float], digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def fmt_ci(slot: Optional[list]) -> str:
    if not slot or slot[0] is None:
        return ""
    text = fmt(slot[0])
    if slot[1] is not None and slot[2] is not None:
        text += f" [{fmt(slot[1])}, {fmt(slot[2])}]"
    return text


def rank_text(r: dict[str, Any]) -> str:
    if r["reference"]:
        return "ref"
    return "" if r["rank"] is None else str(r["rank"])


def eer_text(r: dict[str, Any]) -> str:
    if r["ranking_eer"] is None:
        return ""
    star = "" if r["ranking_semi_informed"] else "*"
    return f"{fmt(r['ranking_eer'])}{star}"


def ci_text(r: dict[str, Any]) -> str:
    """'[0.380, 0.460]': the ranking EER's interval, the figure that decides the tier."""
    low, high = r.get("ranking_ci_low"), r.get("ranking_ci_high")
    return "" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


def chance_text(r: dict[str, Any], long: bool = True) -> str:
    """'0.431 (5%: 0.310), indistinguishable from chance': the worst-case EER's chance level (null median
    and 5th percentile of the minimum over attackers); 'n/a' where the run has none."""
    if r.get("chance") is None:
        return "n/a" if r["ranking_eer"] is not None else ""
    if not long:
        return fmt(r["chance"]) + ("~" if r.get("distinguishable") is False else "")
    text = f"{fmt(r['chance'])} (5%: {fmt(r.get('chance_p05'))})"
    return text + (", indistinguishable from chance" if r.get("distinguishable") is False else "")


def vs_ref(r: dict[str, Any], key: str) -> Optional[float]:
    """The reference's figure for the attacker behind ``r[key]`` (None for the reference itself)."""
    return r.get("vs_reference", {}).get(key)


def attr_text(r: dict[str, Any], metric: str) -> str:
    """'0.708 (chance 0.500)': the strongest attribute attacker's figure with its chance level."""
    if r.get(metric) is None:
        return ""
    digits = 1 if metric == "age_mae" else 3
    chance = r.get(f"{metric}_chance")
    return fmt(r[metric], digits) + (f" (chance {fmt(chance, digits)})" if chance is not None else "")


CHANCE_COLS = ("chance", "chance_p05", "chance_p", "distinguishable")


def to_csv(rows: list[dict[str, Any]], groups: list[str]) -> str:
    cols = ["rank", "tier", "team", "system", "status", "reason", "ranking_eer", "ranking_ci_low", "ranking_ci_high",
            "ranking_attacker", "ranking_semi_informed", "chance", "chance_p05", "chance_p", "distinguishable",
            "worst_eer", "worst_eer_attacker", "worst_linkability",
            "worst_linkability_attacker", "dice_mean", "failure_rate"]
    for m in ATTRIBUTE_METRICS:
        cols += [m, f"{m}_attacker", f"{m}_chance"]
    ref_cols = [f"reference_{k}" for k in ("ranking_eer", "worst_eer", "worst_linkability", *ATTRIBUTE_METRICS)]
    cols += ["run_id", "start_time"]
    metric_cols = [f"{g}/{m}{ci}" for g in groups for m in ATTACK_METRICS for ci in ("", "_ci_low", "_ci_high")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols + ref_cols + metric_cols + ["plots", "page"])
    for r in rows:
        vals = [("ref" if (c == "rank" and r["reference"]) else r.get(c)) for c in cols]
        if r.get("chance") is None and r["ranking_eer"] is not None:  # an older run: no chance keys
            vals = [("n/a" if c in CHANCE_COLS else v) for c, v in zip(cols, vals)]
        vals += [r.get("vs_reference", {}).get(c[len("reference_"):]) for c in ref_cols]
        for g in groups:
            for m in ATTACK_METRICS:
                slot = r["attacks"].get(g, {}).get(m) or [None, None, None]
                vals += slot
        vals += [" ".join(r["plots"]), r.get("page")]
        w.writerow(["" if v is None else v for v in vals])
    return buf.getvalue()


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(board: dict[str, Any]) -> str:
    rows, groups = board["rows"], board["attack_groups"]
    lines = [f"# {board['title']}", "", f"Split `{board['split']}`, experiment `{board['experiment']}`, "
             f"built {board['generated_at']}.", "", "## Ranking policy", "", board["policy"], ""]
    lines += [f"> {n}" for n in board["notes"]] + ([""] if board["notes"] else [])
    head = ["Rank", "Tier", "Team", "System", "Status", "Ranking EER", "95% interval", "Chance (worst EER)",
            "Attacker", "Worst EER",
            "Worst linkability", "Sex bal. acc.", "Age MAE (years)", "Dice", "Failure rate"]
    lines += ["## Ranking", "", "(none x): the reference's figure for the same attacker.", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def with_ref(text: str, r: dict[str, Any], key: str, digits: int = 3) -> str:
        v = vs_ref(r, key)
        return f"{text} (none {fmt(v, digits)})" if text and v is not None else text

    for r in rows:
        status = r["status"] + (f": {r['reason']}" if r["reason"] else "")
        system = f"[{r['system']}]({r['page']})" if r.get("page") else r["system"]
        cells = [rank_text(r), r["tier"] or "", r["team"], system, status,
                 with_ref(eer_text(r), r, "ranking_eer"), ci_text(r), chance_text(r), r["ranking_attacker"] or "",
                 with_ref(fmt(r["worst_eer"]), r, "worst_eer"),
                 with_ref(fmt(r["worst_linkability"]), r, "worst_linkability"),
                 with_ref(attr_text(r, "sex_balanced_accuracy"), r, "sex_balanced_accuracy"),
                 with_ref(attr_text(r, "age_mae"), r, "age_mae", 1),
                 fmt(r["dice_mean"]), fmt(r["failure_rate"])]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if groups:
        lines += ["", "## Per attack: EER / linkability / AUC [95% interval]", ""]
        head = ["Team/System"] + groups
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["submission"]]
            for g in groups:
                a = r["attacks"].get(g, {})
                cells.append(" / ".join(fmt_ci(a.get(m)) or "-" for m in ATTACK_METRICS))
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"



def terminal_table(out_dir: str | Path) -> str:
    """The main columns of ``leaderboard.json`` as a plain text table."""
    board = json.loads((Path(out_dir) / "leaderboard.json").read_text())
    head = ("#", "tier", "submission", "status", "rank EER", "(none)", "interval", "chance", "worst link.", "(none)",
            "sex b.acc", "(none)", "age MAE", "(none)", "Dice", "fail")

    def ref(r: dict[str, Any], key: str, digits: int = 3) -> str:
        v = vs_ref(r, key)
        return "" if v is None else fmt(v, digits)

    rows = [(rank_text(r), str(r["tier"] or ""), r["submission"], r["status"],
             eer_text(r), ref(r, "ranking_eer"), ci_text(r).replace(" ", ""), chance_text(r, long=False),
             fmt(r["worst_linkability"]), ref(r, "worst_linkability"), fmt(r.get("sex_balanced_accuracy")),
             ref(r, "sex_balanced_accuracy"), fmt(r.get("age_mae"), 1), ref(r, "age_mae", 1),
             fmt(r["dice_mean"]), fmt(r["failure_rate"])) for r in board["rows"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [line.format(*head), line.format(*("-" * w for w in widths))] + [line.format(*r) for r in rows]
    ref_row = next((r for r in board["rows"] if r.get("reference")), None)
    if ref_row is not None:
        lines.append(f"(none): {ref_row['submission']}, the original volumes, against the same attacker: the attack's "
                     "strength; interval: the ranking EER's 95% interval, whose lower end decides the tier; "
                     "chance: the worst-case EER of a chance attacker (null median; ~: indistinguishable from chance, "
                     "tier 1); "
                     "sex b.acc: highest balanced accuracy over the attacks (chance 0.5); age MAE in years")
    return "\n".join(lines)

