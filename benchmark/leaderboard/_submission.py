"""A submission's page, ``submissions/<team>_<system>.html``: every attacker's figures with intervals and
chance levels, the DET, linkability and CMC plots, attribute inference, brain preservation per volume,
the validation report and failures, and renders of defaced synthetic persons beside the originals.
A static file (``submission.html`` filled in) with relative links only: it opens from ``file://``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from benchmark.core.keys import MetricKey
from benchmark.metrics import figure, save_figure
from benchmark.leaderboard._artifacts import Details
from benchmark.leaderboard._drawn import drawn_once
from benchmark.leaderboard._formats import attr_text, chance_text, ci_text, eer_text, fmt, rank_text
from benchmark.leaderboard._ranking import group_order

TEMPLATE = Path(__file__).with_name("submission.html")
#: the attacker figures of the page: key suffix -> column head
PAGE_METRICS = {"eer": "EER", "linkability": "Linkability", "min_cllr": "min Cllr", "auc": "AUC",
                "rank1": "Rank-1", "rank5": "Rank-5"}
e = html.escape


def cell(metrics: dict[str, float], key: str, digits: int = 3) -> str:
    """'0.420 [0.400, 0.440]' and, below, 'chance 0.431 (5%: 0.310)' and 'p 0.020' for ``key``; '-' when absent."""
    v = metrics.get(key)
    if v is None:
        return "-"
    text = fmt(v, digits)
    lo, hi = metrics.get(key + "_ci_low"), metrics.get(key + "_ci_high")
    if lo is not None and hi is not None:
        text += f" <small>[{fmt(lo, digits)}, {fmt(hi, digits)}]</small>"
    chance = metrics.get(key + "_chance")
    if chance is not None:
        p05, p = metrics.get(key + "_chance_p05"), metrics.get(key + "_p")
        text += (f'<br><small class="chance-lvl">chance {fmt(chance, digits)}'
                 + (f" (5%: {fmt(p05, digits)})" if p05 is not None else "")
                 + (f"<br>p {fmt(p)}" if p is not None else "") + "</small>")
    return text


def attack_table(metrics: dict[str, float]) -> str:
    """Every condition x attack x knowledge level of the run, one row each."""
    groups = group_order({str(k.attacker) for k in map(MetricKey.parse, metrics) if k is not None and k.metric})
    if not groups:
        return "<p>No attacker was scored.</p>"
    head = "".join(f"<th>{h}</th>" for h in ("Condition", "Attack", "Knowledge", *PAGE_METRICS.values(), "Trials"))
    rows = []
    for g in groups:
        cond, attack, know = g.split("/")
        cells = [f'<td class="txt">{e(x)}</td>' for x in (cond, attack, know.replace("_", "-"))]
        cells += [f"<td>{cell(metrics, f'{g}/{m}')}</td>" for m in PAGE_METRICS]
        n = metrics.get(f"{g}/n_trials")
        cells.append(f"<td>{'' if n is None else int(n)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def attribute_table(metrics: dict[str, float]) -> str:
    """``attributes/<attack>/<metric>`` with interval and chance, one row per attack."""
    attacks = sorted({k.split("/")[1] for k in metrics if k.startswith("attributes/") and k.count("/") == 2})
    names = ["sex_balanced_accuracy", "sex_accuracy", "age_mae", "age_r2", "ancestry_balanced_accuracy"]
    names = [n for n in names if any(f"attributes/{a}/{n}" in metrics for a in attacks)]
    if not names:
        return "<p>No attribute was inferred (see the messages below).</p>"
    head = "".join(f"<th>{e(h.replace('_', ' '))}</th>" for h in ("attack", *names))
    rows = "".join("<tr>" + f'<td class="txt">{e(a)}</td>' + "".join(
        f"<td>{cell(metrics, f'attributes/{a}/{n}', 1 if n == 'age_mae' else 3)}</td>" for n in names) + "</tr>"
        for a in attacks)
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def dice_histogram(volumes: list[dict[str, str]], path: Path) -> list[Path]:
    """A small histogram of the brain Dice per volume, ``<path>-<digest>.png`` and ``.svg`` (none without
    volumes), drawn once per set of values (:func:`~benchmark.leaderboard._drawn.drawn_once`)."""
    dice = [float(v["brain_dice"]) for v in volumes if v.get("brain_dice") not in (None, "")]
    return drawn_once(path, dice, lambda stem: _draw_histogram(dice, stem)) if dice else []


def _draw_histogram(dice: list[float], stem: Path) -> list[Path]:
    fig = figure((4.2, 2.4))
    ax = fig.add_subplot()
    ax.hist(dice, bins=min(20, max(5, len(dice) // 2)), color="#5e3c99")
    ax.axvline(0.95, color="#c0392b", lw=1, ls="--", label="failure below 0.95")
    ax.set_xlabel("brain Dice per volume")
    ax.set_ylabel("volumes")
    ax.legend(fontsize=7)
    return save_figure(fig, stem)


def utility_section(metrics: dict[str, float], volumes: list[dict[str, str]], hist: Optional[str]) -> str:
    util = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("utility/")}
    if not util:
        return "<p>Brain preservation was not measured in this run.</p>"
    items = "".join(f"<tr><td class='txt'>{e(k)}</td><td>{fmt(v)}</td></tr>" for k, v in sorted(util.items()))
    img = (f'<img class="hist" src="../{e(hist)}" alt="histogram of the brain Dice per volume">' if hist else
           "<p><small>No per-volume figures in this run (scored before they were kept).</small></p>")
    failed = [v for v in volumes if v.get("failure") == "True"]
    fails = "".join(f"<li>{e(v.get('volume', '?'))}: Dice {e(v.get('brain_dice', ''))}, changed "
                    f"{e(v.get('brain_changed_fraction', ''))}</li>" for v in failed)
    return (f'<div class="side"><table class="t small"><tbody>{items}</tbody></table>{img}</div>'
            + (f"<p>Volumes that failed (Dice &lt; 0.95 or &gt; 1% of the brain changed):</p><ul>{fails}</ul>"
               if fails else ""))


def validation_section(validation: dict[str, Any], results: dict[str, Any]) -> str:
    if not validation:
        out = "<p>No validation report in this run.</p>"
    else:
        verdict = "valid" if validation.get("ok") else f"INVALID: {validation.get('reason', '')}"
        bad = [f for f in validation.get("files", []) if not f.get("ok")]
        out = (f"<p><b>{e(verdict)}</b>; {validation.get('n_ok', '?')} of {validation.get('n_expected', '?')} "
               "volumes OK.</p>")
        lines = [f"{f.get('id')}: {f.get('message')}" for f in bad] + \
            [f"(global) {x}" for x in validation.get("errors", [])] + \
            [f"(global) warning: {x}" for x in validation.get("warnings", [])]
        if lines:
            out += "<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in lines[:200]) + "</ul>"
    failures = results.get("failures") or []
    if failures:
        head = "".join(f"<th>{h}</th>" for h in ("id", "attacker", "sample", "split", "error"))
        rows = "".join("<tr>" + "".join(f'<td class="txt">{e(str(f.get(k, "")))}</td>'
                                        for k in ("id", "attacker", "sample", "split", "error")) + "</tr>"
                       for f in failures)
        out += (f"<h3>Failures ({len(failures)})</h3><p>What could not be scored, and why.</p>"
                f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
    else:
        out += "<p>No failure: every volume and trial list was scored.</p>"
    messages = results.get("messages") or []
    if messages:
        out += "<h3>Messages</h3><ul>" + "".join(f"<li>{e(str(m))}</li>" for m in messages) + "</ul>"
    return out


def plots_section(plots: list[str]) -> str:
    """The plots grouped per attacker (file names ``<condition>__<attack>__<knowledge>__<kind>.png``)."""
    if not plots:
        return "<p>No plot in this run (scored with scoring.plots=false, or before plots were kept).</p>"
    groups: dict[str, list[str]] = {}
    for p in plots:
        stem = Path(p).stem.split("plots_", 1)[-1]
        who = "/".join(stem.split("__")[:3]) if stem.count("__") >= 3 else "other"
        groups.setdefault(who, []).append(p)
    out = []
    for who in sorted(groups):
        imgs = "".join(f'<a href="../{e(p)}"><img loading="lazy" src="../{e(p)}" alt="{e(Path(p).stem)}"></a>'
                       for p in sorted(groups[who]))
        out.append(f'<details><summary>{e(who)}</summary><div class="plots">{imgs}</div></details>')
    return "".join(out)


def renders_section(d: Details) -> str:
    if not d.renders:
        return f"<p>{e(d.renders_note)}</p>"
    return "".join(f'<figure><img class="render" src="../{e(p)}" alt="renders of defaced synthetic persons">'
                   "<figcaption>Top: the original volumes; bottom: the same volumes as submitted. Each column "
                   "one synthetic person of the split, rendered as the attacks see it, from the original's head "
                   "pose.</figcaption></figure>" for p in d.renders)


def summary_block(r: dict[str, Any]) -> str:
    items = [("Rank", rank_text(r) or "-"), ("Tier", str(r["tier"] or "-")), ("Status", r["status"]),
             ("Ranking EER", f"{eer_text(r)} {ci_text(r)}".strip() or "-"),
             ("Attacker", r["ranking_attacker"] or "-"), ("Chance", chance_text(r) or "-"),
             ("Worst linkability", fmt(r["worst_linkability"]) or "-"),
             ("Sex bal. acc.", attr_text(r, "sex_balanced_accuracy") or "-"),
             ("Age MAE (years)", attr_text(r, "age_mae") or "-"),
             ("Dice", fmt(r["dice_mean"]) or "-"), ("Failure rate", fmt(r["failure_rate"]) or "-"),
             ("Run", f"{r['run_id'] or '-'} ({r['start_time'] or 'not scored'})")]
    if r["reason"]:
        items.insert(3, ("Reason", r["reason"]))
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + "</dl>"


def submission_html(board: dict[str, Any], r: dict[str, Any], metrics: dict[str, float], d: Details,
                    hist: Optional[str]) -> str:
    """The page of row ``r`` (``metrics``: its run's; ``d``: its files, already copied; ``hist``: the Dice
    histogram's path in the site)."""
    parts = {"title": e(f"{r['submission']}: {board['title']}"), "submission": e(r["submission"]),
             "meta": e(f"split {board['split']}, experiment {board['experiment']}, built {board['generated_at']}"),
             "summary": summary_block(r), "attacks": attack_table(metrics), "plots": plots_section(d.plots),
             "attributes": attribute_table(metrics),
             "utility": utility_section(metrics, d.volumes, hist),
             "validation": validation_section(d.validation, d.results), "renders": renders_section(d)}
    page = TEMPLATE.read_text(encoding="utf-8")
    for k, v in parts.items():
        page = page.replace("{{" + k + "}}", v)
    return page

