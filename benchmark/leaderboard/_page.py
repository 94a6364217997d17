"""The static page ``index.html``: one HTML file (``template.html`` filled in) with inline CSS and script,
images beside it in ``img/``; it opens from ``file://`` with no server and no network."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from benchmark.core.keys import IGNORANT, LAZY_INFORMED, SEMI_INFORMED
from benchmark.leaderboard._artifacts import page_path
from benchmark.leaderboard._formats import chance_text, ci_text, eer_text, fmt, rank_text, vs_ref

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


def _header() -> list[str]:
    """The primary column heads (every attacker's figures are on the submission page)."""
    return [_th("#", "num"), _th("Tier", "num"), _th("Team", "text", "txt"), _th("System", "text", "txt"),
            _th("Ranking EER", "num", title="worst-case semi-informed EER (the lowest; * = over all attacks) "
                "and its 95% interval, whose lower end decides the tier"),
            _th("Chance", "num", title="privacy/worst_eer_chance: the worst-case EER over all attackers when "
                "identity is noise (null median; 5%: its 5th percentile); n/a: no chance level in this run"),
            _th("Worst linkability", "num", title="privacy/worst_linkability over every attack"),
            _th("Dice", "num", title="utility/brain_dice_mean"),
            _th("Failure rate", "num", title="utility/failure_rate"),
            _th("Details", "text", "txt", title="the submission's page: every attacker, plots, attributes, "
                "utility per volume, validation, renders")]


def _status(r: dict[str, Any]) -> str:
    """The status under the team's name (a failed submission's reason in full on hover and on its page)."""
    status = f'<small class="status">{html.escape(r["status"])}</small>'
    if r["reason"]:
        status += f'<br><small class="reason" title="{html.escape(r["reason"])}">{html.escape(r["reason"])}</small>'
    if r["reference"]:
        status += '<br><small>attack strength: the original volumes</small>'
    return status


def _tradeoff(board: dict[str, Any]) -> str:
    """The trade-off plot (written beside the page), or why there is none."""
    if not board.get("tradeoff"):
        return '<p class="meta">No trade-off plot: no submission has both a ranking EER and a Dice.</p>'
    png, svg = (html.escape(p) for p in board["tradeoff"])
    return (f'<figure class="tradeoff"><a href="{svg}"><img src="{png}" alt="privacy against utility: the ranking '
            'EER of each submission against its mean brain Dice, tiers as bands"></a><figcaption>Each point a '
            "submission: its ranking EER (bar: 95% interval) against its mean brain Dice; colour: failure rate; "
            "bands: the tiers (cleared by the interval's lower end); grey band: chance; star: the none reference. "
            f'<a href="{svg}">SVG</a> &middot; <a href="{png}">PNG</a></figcaption></figure>')


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


def _row(r: dict[str, Any]) -> str:
    """One ``<tr>``: the primary columns, each value with its attacker and the reference's figure."""
    e = html.escape
    cls = ["reference"] if r["reference"] else (["failed"] if r["validation"] == "failed" else [])
    if r["tier"]:
        cls.append(f"tier{r['tier']}")
    ci = ci_text(r)
    eer_html = e(eer_text(r)) + (f" <small>{e(ci)}</small>" if ci else "") + _attacker(r["ranking_attacker"]) + \
        _vs_reference(r, "ranking_eer")
    worst_link = e(fmt(r["worst_linkability"])) + _attacker(r["worst_linkability_attacker"]) + \
        _vs_reference(r, "worst_linkability")
    page = page_path(r)
    link = f'<a href="{e(page)}">page</a>' if r["run_id"] else ""
    cells = [_td(rank_text(r), 0 if r["reference"] else r["rank"]), _td(r["tier"] or "", r["tier"], "tier"),
             _td(e(r["team"]) + f"<br>{_status(r)}", r["team"], "txt name", raw=True),
             _td(f'<a href="{e(page)}">{e(r["system"])}</a>' if r["run_id"] else e(r["system"]), r["system"],
                 "txt name", raw=True),
             _td(eer_html, r["ranking_eer"], raw=True), _td(_chance(r), r.get("chance"), raw=True),
             _td(worst_link, r["worst_linkability"], raw=True),
             _td(fmt(r["dice_mean"]), r["dice_mean"]), _td(fmt(r["failure_rate"]), r["failure_rate"]),
             _td(link, r["submission"], "txt", raw=True)]
    return f'<tr class="{" ".join(cls)}" data-submission="{e(r["submission"])}">' + "".join(cells) + "</tr>"


def to_html(board: dict[str, Any]) -> str:
    """The page: ``template.html`` with the title, the policy and notes, the header and one row per submission."""
    rows = board["rows"]
    e = html.escape
    policy = f"<p>{e(board['policy'])}</p>" + "".join(f'<p class="note">{e(n)}</p>' for n in board["notes"])
    meta = (f"Split <b>{e(board['split'])}</b> &middot; experiment <code>{e(board['experiment'])}</code> &middot; "
            f"{len(rows)} submission(s) &middot; built {e(board['generated_at'])}")
    page = TEMPLATE.read_text(encoding="utf-8")
    for k, v in {"title": e(board["title"]), "meta": meta, "policy": policy, "header": "".join(_header()),
                 "rows": "\n".join(_row(r) for r in rows), "tradeoff": _tradeoff(board)}.items():
        page = page.replace("{{" + k + "}}", v)
    return page
