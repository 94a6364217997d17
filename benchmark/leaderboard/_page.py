"""The static page ``index.html``: one HTML file (``template.html`` filled in) with inline CSS and script,
images beside it in ``img/``; it opens from ``file://`` with no server and no network."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from benchmark.core.keys import IGNORANT, LAZY_INFORMED, SEMI_INFORMED
from benchmark.leaderboard._formats import attr_text, chance_text, ci_text, eer_text, fmt, fmt_ci, rank_text, vs_ref
from benchmark.leaderboard._ranking import ATTACK_METRICS

TEMPLATE = Path(__file__).with_name("template.html")


def _th(label: str, kind: str, cls: str = "", title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    c = f' class="{cls}"' if cls else ""
    return f'<th scope="col" tabindex="0" data-type="{kind}"{c}{t}>{label}</th>'


def _td(text: str, sort: Any, cls: str = "", raw: bool = False) -> str:
    v = "" if sort is None else (repr(float(sort)) if isinstance(sort, (int, float)) and not isinstance(sort, bool)
                                 else str(sort))
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-v="{html.escape(v)}">{text if raw else html.escape(str(text))}</td>'


REF_TITLE = "the reference (none: the original volumes) against the same attacker: the attack's strength"
KNOWLEDGE_SHORT = {IGNORANT: "ign.", LAZY_INFORMED: "lazy", SEMI_INFORMED: "semi"}


def _attacker(key: Optional[str]) -> str:
    """A short attacker label under a value (full key in the tooltip)."""
    if not key:
        return ""
    parts = key.split("/")
    if len(parts) == 3:
        parts[2] = KNOWLEDGE_SHORT.get(parts[2], parts[2])
    return f'<br><small title="{html.escape(key)}">{html.escape(" ".join(parts))}</small>'


def _header(groups: list[str]) -> list[str]:
    """The column heads: the ranking columns, then EER, linkability and AUC of each attack group."""
    e = html.escape
    header = [_th("#", "num"), _th("Tier", "num"), _th("Team", "text", "txt"), _th("System", "text", "txt"),
              _th("Status", "text", "txt"),
              _th("Ranking EER", "num", title="worst-case semi-informed EER (the lowest; * = over all attacks) "
                  "and its 95% interval, whose lower end decides the tier"),
              _th("Chance", "num", title="privacy/worst_eer_chance: the worst-case EER over all attackers when "
                  "identity is noise (null median; 5%: its 5th percentile); n/a: no chance level in this run"),
              _th("Worst EER", "num", title="privacy/worst_eer over every attack"),
              _th("Worst linkability", "num", title="privacy/worst_linkability over every attack"),
              _th("Sex bal. acc.", "num", title="attribute inference: the highest attributes/<attack>/"
                  "sex_balanced_accuracy over the attacks (chance in brackets; 0.5 = privacy)"),
              _th("Age MAE", "num", title="attribute inference: the lowest attributes/<attack>/age_mae over "
                  "the attacks, in years (chance in brackets: the training median's MAE)"),
              _th("Dice", "num", title="utility/brain_dice_mean"), _th("Failure rate", "num", title="utility/failure_rate")]
    header.append(_th("DET plots", "text", "txt"))
    for g in groups:
        cond, attack, know = g.split("/")
        label = f"{e(cond)}<br>{e(attack)} {e(KNOWLEDGE_SHORT.get(know, know))}"
        for m, name in zip(ATTACK_METRICS, ("EER", "Link.", "AUC")):
            header.append(_th(f"{label}<br>{name}", "num", title=f"{g}/{m} [95% interval]"))
    return header


def _status(r: dict[str, Any]) -> str:
    status = html.escape(r["status"])
    if r["reason"]:
        status += f'<br><span class="reason">{html.escape(r["reason"])}</span>'
    if r["reference"]:
        status += '<br><small>attack strength: the original volumes</small>'
    return status


def _vs_reference(r: dict[str, Any], key: str, digits: int = 3) -> str:
    """'none: 0.012' under a value: the reference's figure for the same attacker."""
    v = vs_ref(r, key)
    return "" if v is None else (f'<br><small class="vsref" title="{html.escape(REF_TITLE)}">'
                                 f"none: {fmt(v, digits)}</small>")


def _chance(r: dict[str, Any]) -> str:
    """The chance level beside the ranking figure, and the mark when the row cannot be told from chance."""
    text = html.escape(chance_text(r).split(", ")[0])
    if r.get("distinguishable") is False:
        text += '<br><span class="chance">indistinguishable from chance</span>'
    return text


def _row(r: dict[str, Any], groups: list[str]) -> str:
    """One ``<tr>``: the ranking columns (each value with its attacker and the reference's figure), then
    the interval of every attack group."""
    e = html.escape
    cls = ["reference"] if r["reference"] else (["failed"] if r["validation"] == "failed" else [])
    if r["tier"]:
        cls.append(f"tier{r['tier']}")
    ci = ci_text(r)
    eer_html = e(eer_text(r)) + (f"<br><small>{e(ci)}</small>" if ci else "") + _attacker(r["ranking_attacker"]) + \
        _vs_reference(r, "ranking_eer")
    worst_eer = e(fmt(r["worst_eer"])) + _attacker(r["worst_eer_attacker"]) + _vs_reference(r, "worst_eer")
    worst_link = e(fmt(r["worst_linkability"])) + _attacker(r["worst_linkability_attacker"]) + \
        _vs_reference(r, "worst_linkability")
    sex = e(attr_text(r, "sex_balanced_accuracy")) + _attacker(r.get("sex_balanced_accuracy_attacker")) + \
        _vs_reference(r, "sex_balanced_accuracy")
    age = e(attr_text(r, "age_mae")) + _attacker(r.get("age_mae_attacker")) + _vs_reference(r, "age_mae", 1)
    imgs = "".join(f'<a href="{e(p)}"><img src="{e(p)}" alt="DET plot {e(Path(p).name)}"></a>'
                   for p in r["plots"])
    cells = [_td(rank_text(r), 0 if r["reference"] else r["rank"]), _td(r["tier"] or "", r["tier"], "tier"),
             _td(r["team"], r["team"], "txt"), _td(r["system"], r["system"], "txt"),
             _td(_status(r), r["status"], "txt", raw=True), _td(eer_html, r["ranking_eer"], raw=True),
             _td(_chance(r), r.get("chance"), raw=True), _td(worst_eer, r["worst_eer"], raw=True),
             _td(worst_link, r["worst_linkability"], raw=True),
             _td(sex, r.get("sex_balanced_accuracy"), raw=True), _td(age, r.get("age_mae"), raw=True),
             _td(fmt(r["dice_mean"]), r["dice_mean"]), _td(fmt(r["failure_rate"]), r["failure_rate"]),
             _td(imgs, len(r["plots"]), "plots txt", raw=True)]
    for g in groups:
        a = r["attacks"].get(g, {})
        for m in ATTACK_METRICS:
            slot = a.get(m)
            cells.append(_td(fmt_ci(slot), slot[0] if slot else None, "ci"))
    return f'<tr class="{" ".join(cls)}" data-submission="{e(r["submission"])}">' + "".join(cells) + "</tr>"


def to_html(board: dict[str, Any]) -> str:
    """The page: ``template.html`` with the title, the policy and notes, the header and one row per submission."""
    rows, groups = board["rows"], board["attack_groups"]
    e = html.escape
    policy = f"<p>{e(board['policy'])}</p>" + "".join(f'<p class="note">{e(n)}</p>' for n in board["notes"])
    meta = (f"Split <b>{e(board['split'])}</b> &middot; experiment <code>{e(board['experiment'])}</code> &middot; "
            f"{len(rows)} submission(s) &middot; built {e(board['generated_at'])}")
    page = TEMPLATE.read_text(encoding="utf-8")
    for k, v in {"title": e(board["title"]), "meta": meta, "policy": policy, "header": "".join(_header(groups)),
                 "rows": "\n".join(_row(r, groups) for r in rows)}.items():
        page = page.replace("{{" + k + "}}", v)
    return page
