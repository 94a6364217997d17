"""``leaderboard``: build ``leaderboard/`` (json, csv, md and a static, sortable ``index.html``) from MLflow.

One row per submission: the latest finished run of that submission for the split. Ranking as in the
VoicePrivacy Challenge (see :data:`POLICY`): privacy floors on the worst-case semi-informed EER, then
utility within each floor. A submission that failed validation is listed with its reason, unranked; the
``none`` baseline (the original volumes) is the reference row, always shown.

The page is one HTML file with inline CSS and script, images beside it in ``img/`` (DET plots: scores,
not biometric data); it opens from ``file://`` with no server and no network.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import math
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from omegaconf import DictConfig

from benchmark.core.config import LeaderboardConfig, typed
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_path, write_bytes, write_json, write_text
from benchmark.core.keys import IGNORANT, KNOWLEDGE, LAZY_INFORMED, SEMI_INFORMED, MetricKey
from benchmark.tracking import TrackingConfig, client, is_biometric, retry, runs, tracking_config

TEMPLATE = Path(__file__).with_name("template.html")
FLOORS = (0.40, 0.30, 0.20)  # tier 1, 2, 3; below the last: tier 4
KNOWLEDGE_ORDER = KNOWLEDGE
RANKING_KNOWLEDGE = SEMI_INFORMED
ATTACK_METRICS = ("eer", "linkability", "auc")
GROUPED_METRICS = ("eer", "min_cllr", "linkability", "auc", "rank1", "rank5", "detection_rate")
PLOT_SUFFIXES = (".png", ".svg")

POLICY = (
    "Ranking follows the VoicePrivacy Challenge. Submissions are first grouped by privacy floors on the "
    "worst-case EER of the semi-informed attacker (the lowest EER over every semi-informed attack and "
    "condition: the strongest attacker decides): tier 1 at least 0.40, tier 2 at least 0.30, tier 3 at least "
    "0.20, and tier 4 below 0.20, listed after the others and not ranked for privacy. Within a tier, "
    "submissions are ordered by utility: higher mean Dice of the brain first, then lower failure rate. "
    "A submission that failed validation is shown with its reason and not ranked. The 'none' baseline "
    "(the original, untouched volumes) is the reference row and is not ranked.")
REFERENCE_NOTE = ("The reference row ({who}) scores the original, untouched volumes, as VoicePrivacy's "
                  "original-versus-original: its figures are the attackers' strength on this cohort. Under each "
                  "submission's value, 'none:' gives the reference's figure for the same attacker.")
#: attribute inference (benchmark.scoring.attributes): metric -> whether a higher value means a stronger attacker
ATTRIBUTE_METRICS = {"sex_balanced_accuracy": True, "age_mae": False}
FALLBACK_NOTE = ("No semi-informed attack was scored for {who}: the worst-case EER over the attacks that were "
                 "scored is used instead (marked *), which overstates privacy against an informed attacker.")




# ---------------------------------------------------------------------------------------------- rows

def _num(x: Any) -> Optional[float]:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def attack_groups(metrics: dict[str, float]) -> dict[str, dict[str, list[Optional[float]]]]:
    """``{"photo2mri/arcface/semi_informed": {"eer": [value, ci_low, ci_high], ...}}``."""
    out: dict[str, dict[str, list[Optional[float]]]] = {}
    for k, v in metrics.items():
        key = MetricKey.parse(k)
        metric, bound = key.statistic if key is not None else ("", "")
        if metric not in GROUPED_METRICS:
            continue
        slot = out.setdefault(str(key.attacker), {}).setdefault(metric, [None, None, None])
        slot[{"": 0, "_ci_low": 1, "_ci_high": 2}[bound]] = _num(v)
    return out


def ranking_eer(groups: dict[str, dict[str, list]]) -> tuple[Optional[float], Optional[str], bool]:
    """(worst EER, its attack, whether semi-informed attacks decided) from the attack groups."""
    def worst(keys):
        vals = [(groups[g]["eer"][0], g) for g in keys if groups[g].get("eer") and groups[g]["eer"][0] is not None]
        return min(vals) if vals else (None, None)

    semi = [g for g in groups if MetricKey.parse(g).knowledge == RANKING_KNOWLEDGE]
    eer, attack = worst(semi)
    if eer is not None:
        return eer, attack, True
    eer, attack = worst(list(groups))
    return eer, attack, False


def tier_of(eer: Optional[float]) -> Optional[int]:
    if eer is None:
        return None
    for i, floor in enumerate(FLOORS):
        if eer >= floor:
            return i + 1
    return len(FLOORS) + 1


def make_row(run, reference: str) -> dict[str, Any]:
    tags, metrics = run.data.tags, {k: float(v) for k, v in run.data.metrics.items()}
    team, system = tags.get("team", "?"), tags.get("system", "?")
    groups = attack_groups(metrics)
    eer, attack, semi = ranking_eer(groups)
    if eer is None and _num(metrics.get("privacy/worst_eer")) is not None:
        eer, attack, semi = metrics["privacy/worst_eer"], tags.get("privacy.worst_eer_attacker"), False
    validation = tags.get("validation.status", "unknown")
    return {
        "rank": None, "tier": None, "status": "", "reference": f"{team}/{system}" == reference,
        "team": team, "system": system, "submission": f"{team}/{system}", "split": tags.get("split"),
        "run_id": run.info.run_id,
        "start_time": datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc).isoformat(timespec="seconds"),
        "validation": validation, "reason": tags.get("validation.reason", "") if validation == "failed" else "",
        "ranking_eer": eer, "ranking_attacker": attack, "ranking_semi_informed": semi,
        "worst_eer": _num(metrics.get("privacy/worst_eer")),
        "worst_eer_attacker": tags.get("privacy.worst_eer_attacker") if "privacy/worst_eer" in metrics else None,
        "worst_linkability": _num(metrics.get("privacy/worst_linkability")),
        "worst_linkability_attacker": (tags.get("privacy.worst_linkability_attacker")
                                       if "privacy/worst_linkability" in metrics else None),
        "dice_mean": _num(metrics.get("utility/brain_dice_mean")),
        "failure_rate": _num(metrics.get("utility/failure_rate")),
        "utility": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("utility/")},
        "attributes": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("attributes/")},
        **worst_attributes(metrics), "attacks": groups, "plots": [], "vs_reference": {},
    }


def worst_attributes(metrics: dict[str, float]) -> dict[str, Any]:
    """The strongest attribute attacker per metric of :data:`ATTRIBUTE_METRICS` (highest sex balanced
    accuracy, lowest age MAE), with its chance level: ``{"sex_balanced_accuracy": v, "..._attacker": a,
    "..._chance": c}``; None where no attack inferred it."""
    out: dict[str, Any] = {}
    for metric, higher in ATTRIBUTE_METRICS.items():
        vals = [(v, k.split("/")[1]) for k, v in metrics.items()
                if k.startswith("attributes/") and k.count("/") == 2 and k.endswith("/" + metric) and _num(v) is not None]
        best = (max if higher else min)(vals, key=lambda x: (x[0], x[1])) if vals else (None, None)
        out[metric], out[f"{metric}_attacker"] = best
        out[f"{metric}_chance"] = _num(metrics.get(f"attributes/{best[1]}/{metric}_chance")) if best[1] else None
    return out


def reference_values(row: dict[str, Any], ref: dict[str, Any]) -> dict[str, Optional[float]]:
    """The reference row's figures for the attackers that decided ``row``'s values (the same keys)."""
    def attack_value(group: Optional[str], metric: str) -> Optional[float]:
        slot = ref["attacks"].get(group or "", {}).get(metric)
        return slot[0] if slot else None

    out = {"ranking_eer": attack_value(row["ranking_attacker"], "eer"),
           "worst_eer": attack_value(row["worst_eer_attacker"], "eer"),
           "worst_linkability": attack_value(row["worst_linkability_attacker"], "linkability")}
    for metric in ATTRIBUTE_METRICS:
        who = row.get(f"{metric}_attacker")
        out[metric] = _num(ref.get("attributes", {}).get(f"{who}/{metric}")) if who else None
    return out


def rank_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set tier, rank and status; return the rows in leaderboard order (reference, ranked, unranked)."""
    def utility_key(r):
        dice = r["dice_mean"] if r["dice_mean"] is not None else -math.inf
        fail = r["failure_rate"] if r["failure_rate"] is not None else math.inf
        return (-dice, fail, r["submission"])

    ref, ranked, unranked = [], [], []
    for r in rows:
        if r["reference"]:
            r["tier"] = tier_of(r["ranking_eer"])
            r["status"] = "reference" if r["validation"] != "failed" else "reference, failed validation"
            ref.append(r)
        elif r["validation"] == "failed":
            r["status"] = "failed validation"
            unranked.append(r)
        elif r["ranking_eer"] is None:
            r["status"] = "not scored (no EER)"
            unranked.append(r)
        else:
            r["tier"] = tier_of(r["ranking_eer"])
            r["status"] = "ranked" if r["tier"] <= len(FLOORS) else "below the privacy floors"
            ranked.append(r)
    ranked.sort(key=lambda r: (r["tier"], *utility_key(r)))
    for i, r in enumerate(ranked):
        r["rank"] = i + 1
    unranked.sort(key=lambda r: r["submission"])
    return ref + ranked + unranked


# ---------------------------------------------------------------------------------------------- plots

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def _plot_paths(c, run_id: str, tcfg: TrackingConfig, path: str | None = None, depth: int = 0) -> list[str]:
    out = []
    for a in retry(lambda: c.list_artifacts(run_id, path), "list artifacts", tcfg):
        if a.is_dir:
            if depth < 3:
                out += _plot_paths(c, run_id, tcfg, a.path, depth + 1)
        elif a.path.lower().endswith(PLOT_SUFFIXES) and not is_biometric("", Path(a.path)):
            if "det" in Path(a.path).name.lower() or "plots" in Path(a.path).parts:
                out.append(a.path)
    return sorted(out, key=lambda p: ("det" not in Path(p).name.lower(), p))


def copy_plots(c, row: dict[str, Any], out_dir: Path, tcfg: TrackingConfig, max_plots: int) -> list[str]:
    """Copy the run's DET plots into ``out_dir/img/``; return their paths relative to ``out_dir``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bar per thumbnail
    rels = []
    paths = _plot_paths(c, row["run_id"], tcfg)[:max_plots]
    if not paths:
        return rels
    with tempfile.TemporaryDirectory(prefix="leaderboard-") as tmp:
        for p in paths:
            local = Path(retry(lambda: c.download_artifacts(row["run_id"], p, tmp), "download artifact", tcfg))
            rel = f"img/{_safe(row['submission'])}__{row['split']}__{_safe(p)}"
            write_bytes(out_dir / rel, local.read_bytes())
            rels.append(rel)
    return rels


# ---------------------------------------------------------------------------------------------- outputs

def _fmt(v: Optional[float], digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _fmt_ci(slot: Optional[list]) -> str:
    if not slot or slot[0] is None:
        return ""
    text = _fmt(slot[0])
    if slot[1] is not None and slot[2] is not None:
        text += f" [{_fmt(slot[1])}, {_fmt(slot[2])}]"
    return text


def _group_order(groups: set[str]) -> list[str]:
    def key(g):
        cond, attack, know = g.split("/")
        k = KNOWLEDGE_ORDER.index(know) if know in KNOWLEDGE_ORDER else len(KNOWLEDGE_ORDER)
        return (cond, attack, k, know)
    return sorted(groups, key=key)


def _rank_text(r: dict[str, Any]) -> str:
    if r["reference"]:
        return "ref"
    return "" if r["rank"] is None else str(r["rank"])


def _eer_text(r: dict[str, Any]) -> str:
    if r["ranking_eer"] is None:
        return ""
    star = "" if r["ranking_semi_informed"] else "*"
    return f"{_fmt(r['ranking_eer'])}{star}"


def _ref(r: dict[str, Any], key: str) -> Optional[float]:
    """The reference's figure for the attacker behind ``r[key]`` (None for the reference itself)."""
    return r.get("vs_reference", {}).get(key)


def _attr_text(r: dict[str, Any], metric: str) -> str:
    """'0.708 (chance 0.500)': the strongest attribute attacker's figure with its chance level."""
    if r.get(metric) is None:
        return ""
    digits = 1 if metric == "age_mae" else 3
    chance = r.get(f"{metric}_chance")
    return _fmt(r[metric], digits) + (f" (chance {_fmt(chance, digits)})" if chance is not None else "")


def to_csv(rows: list[dict[str, Any]], groups: list[str]) -> str:
    cols = ["rank", "tier", "team", "system", "status", "reason", "ranking_eer", "ranking_attacker",
            "ranking_semi_informed", "worst_eer", "worst_eer_attacker", "worst_linkability",
            "worst_linkability_attacker", "dice_mean", "failure_rate"]
    for m in ATTRIBUTE_METRICS:
        cols += [m, f"{m}_attacker", f"{m}_chance"]
    ref_cols = [f"reference_{k}" for k in ("ranking_eer", "worst_eer", "worst_linkability", *ATTRIBUTE_METRICS)]
    cols += ["run_id", "start_time"]
    metric_cols = [f"{g}/{m}{ci}" for g in groups for m in ATTACK_METRICS for ci in ("", "_ci_low", "_ci_high")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols + ref_cols + metric_cols + ["plots"])
    for r in rows:
        vals = [("ref" if (c == "rank" and r["reference"]) else r.get(c)) for c in cols]
        vals += [r.get("vs_reference", {}).get(c[len("reference_"):]) for c in ref_cols]
        for g in groups:
            for m in ATTACK_METRICS:
                slot = r["attacks"].get(g, {}).get(m) or [None, None, None]
                vals += slot
        vals.append(" ".join(r["plots"]))
        w.writerow(["" if v is None else v for v in vals])
    return buf.getvalue()


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(board: dict[str, Any]) -> str:
    rows, groups = board["rows"], board["attack_groups"]
    lines = [f"# {board['title']}", "", f"Split `{board['split']}`, experiment `{board['experiment']}`, "
             f"built {board['generated_at']}.", "", "## Ranking policy", "", board["policy"], ""]
    lines += [f"> {n}" for n in board["notes"]] + ([""] if board["notes"] else [])
    head = ["Rank", "Tier", "Team", "System", "Status", "Ranking EER", "Attacker", "Worst EER",
            "Worst linkability", "Sex bal. acc.", "Age MAE (years)", "Dice", "Failure rate"]
    lines += ["## Ranking", "", "(none x): the reference's figure for the same attacker.", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def with_ref(text: str, r: dict[str, Any], key: str, digits: int = 3) -> str:
        v = _ref(r, key)
        return f"{text} (none {_fmt(v, digits)})" if text and v is not None else text

    for r in rows:
        status = r["status"] + (f": {r['reason']}" if r["reason"] else "")
        cells = [_rank_text(r), r["tier"] or "", r["team"], r["system"], status,
                 with_ref(_eer_text(r), r, "ranking_eer"), r["ranking_attacker"] or "",
                 with_ref(_fmt(r["worst_eer"]), r, "worst_eer"),
                 with_ref(_fmt(r["worst_linkability"]), r, "worst_linkability"),
                 with_ref(_attr_text(r, "sex_balanced_accuracy"), r, "sex_balanced_accuracy"),
                 with_ref(_attr_text(r, "age_mae"), r, "age_mae", 1),
                 _fmt(r["dice_mean"]), _fmt(r["failure_rate"])]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if groups:
        lines += ["", "## Per attack: EER / linkability / AUC [95% interval]", ""]
        head = ["Team/System"] + groups
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["submission"]]
            for g in groups:
                a = r["attacks"].get(g, {})
                cells.append(" / ".join(_fmt_ci(a.get(m)) or "-" for m in ATTACK_METRICS))
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


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


def to_html(board: dict[str, Any]) -> str:
    rows, groups = board["rows"], board["attack_groups"]
    e = html.escape
    header = [_th("#", "num"), _th("Tier", "num"), _th("Team", "text", "txt"), _th("System", "text", "txt"),
              _th("Status", "text", "txt"),
              _th("Ranking EER", "num", title="worst-case semi-informed EER (the lowest); * = over all attacks"),
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
    body = []
    for r in rows:
        cls = ["reference"] if r["reference"] else (["failed"] if r["validation"] == "failed" else [])
        if r["tier"]:
            cls.append(f"tier{r['tier']}")
        rank_sort = 0 if r["reference"] else r["rank"]
        status = e(r["status"])
        if r["reason"]:
            status += f'<br><span class="reason">{e(r["reason"])}</span>'
        if r["reference"]:
            status += '<br><small>attack strength: the original volumes</small>'

        def none(key: str, digits: int = 3) -> str:
            v = _ref(r, key)
            return "" if v is None else f'<br><small class="vsref" title="{e(REF_TITLE)}">none: {_fmt(v, digits)}</small>'

        eer_html = e(_eer_text(r)) + _attacker(r["ranking_attacker"]) + none("ranking_eer")
        worst_eer = e(_fmt(r["worst_eer"])) + _attacker(r["worst_eer_attacker"]) + none("worst_eer")
        worst_link = e(_fmt(r["worst_linkability"])) + _attacker(r["worst_linkability_attacker"]) + \
            none("worst_linkability")
        sex = e(_attr_text(r, "sex_balanced_accuracy")) + _attacker(r.get("sex_balanced_accuracy_attacker")) + \
            none("sex_balanced_accuracy")
        age = e(_attr_text(r, "age_mae")) + _attacker(r.get("age_mae_attacker")) + none("age_mae", 1)
        imgs = "".join(f'<a href="{e(p)}"><img src="{e(p)}" alt="DET plot {e(Path(p).name)}"></a>'
                       for p in r["plots"])
        cells = [_td(_rank_text(r), rank_sort), _td(r["tier"] or "", r["tier"], "tier"),
                 _td(r["team"], r["team"], "txt"), _td(r["system"], r["system"], "txt"),
                 _td(status, r["status"], "txt", raw=True), _td(eer_html, r["ranking_eer"], raw=True),
                 _td(worst_eer, r["worst_eer"], raw=True), _td(worst_link, r["worst_linkability"], raw=True),
                 _td(sex, r.get("sex_balanced_accuracy"), raw=True), _td(age, r.get("age_mae"), raw=True),
                 _td(_fmt(r["dice_mean"]), r["dice_mean"]), _td(_fmt(r["failure_rate"]), r["failure_rate"]),
                 _td(imgs, len(r["plots"]), "plots txt", raw=True)]
        for g in groups:
            a = r["attacks"].get(g, {})
            for m in ATTACK_METRICS:
                slot = a.get(m)
                cells.append(_td(_fmt_ci(slot), slot[0] if slot else None, "ci"))
        body.append(f'<tr class="{" ".join(cls)}" data-submission="{e(r["submission"])}">' + "".join(cells) + "</tr>")
    policy = f"<p>{e(board['policy'])}</p>" + "".join(f'<p class="note">{e(n)}</p>' for n in board["notes"])
    meta = (f"Split <b>{e(board['split'])}</b> &middot; experiment <code>{e(board['experiment'])}</code> &middot; "
            f"{len(rows)} submission(s) &middot; built {e(board['generated_at'])}")
    page = TEMPLATE.read_text(encoding="utf-8")
    for k, v in {"title": e(board["title"]), "meta": meta, "policy": policy, "header": "".join(header),
                 "rows": "\n".join(body)}.items():
        page = page.replace("{{" + k + "}}", v)
    return page


# ---------------------------------------------------------------------------------------------- build

def build_leaderboard(tracking_cfg: Any, out_dir: str | Path, split: str = "test",
                      lb_cfg: LeaderboardConfig | None = None) -> Path:
    """Read the experiment's runs, rank the latest run of each submission, write the site; return ``out_dir``."""
    tcfg = tracking_config(tracking_cfg)
    lb = lb_cfg or LeaderboardConfig(split=split)
    out_dir = Path(out_dir)
    all_runs = runs(tcfg)
    if not all_runs:
        raise BenchmarkError(f"no finished runs in experiment '{tcfg.experiment}' at {tcfg.uri}; "
                             "score a submission first (python -m benchmark score / run)")
    split_runs = [r for r in all_runs if r.data.tags.get("split") == split]
    if not split_runs:
        have = sorted({r.data.tags.get("split", "?") for r in all_runs})
        raise BenchmarkError(f"no runs of split '{split}' in experiment '{tcfg.experiment}' "
                             f"(splits tracked: {', '.join(have)}); set leaderboard.split")
    latest: dict[str, Any] = {}
    for r in split_runs:  # newest first
        sub = f"{r.data.tags.get('team', '?')}/{r.data.tags.get('system', '?')}"
        latest.setdefault(sub, r)
    rows = [make_row(r, lb.reference) for r in latest.values()]
    if not any(r["reference"] for r in rows):
        team, _, system = lb.reference.partition("/")
        rows.append({"rank": None, "tier": None, "status": "", "reference": True, "team": team, "system": system,
                     "submission": lb.reference, "split": split, "run_id": None, "start_time": None,
                     "validation": "unknown", "reason": "", "ranking_eer": None, "ranking_attacker": None,
                     "ranking_semi_informed": False, "worst_eer": None, "worst_eer_attacker": None,
                     "worst_linkability": None, "worst_linkability_attacker": None, "dice_mean": None,
                     "failure_rate": None, "utility": {}, "attributes": {}, **worst_attributes({}),
                     "attacks": {}, "plots": [], "vs_reference": {}})
    rows = rank_rows(rows)
    ref = next(r for r in rows if r["reference"])
    for r in rows:
        if r["reference"] and r["run_id"] is None:
            r["status"] = "reference, not scored yet"
        elif not r["reference"] and ref["run_id"] is not None:
            r["vs_reference"] = reference_values(r, ref)
    c = client(tcfg)
    img = out_dir / "img"
    for r in rows:
        if r["run_id"]:
            r["plots"] = copy_plots(c, r, out_dir, tcfg, lb.max_plots)
    keep = {out_dir / p for r in rows for p in r["plots"]}
    if img.is_dir():
        for stale in img.iterdir():
            if stale.is_file() and stale not in keep:
                stale.unlink()
    fallback = [r["submission"] for r in rows if r["ranking_eer"] is not None and not r["ranking_semi_informed"]]
    notes = [REFERENCE_NOTE.format(who=ref["submission"])] if ref["run_id"] is not None else []
    if fallback:
        who = "any submission" if len(fallback) == sum(r["ranking_eer"] is not None for r in rows) \
            else ", ".join(fallback)
        notes.append(FALLBACK_NOTE.format(who=who))
    board = {
        "title": lb.title, "experiment": tcfg.experiment, "tracking_uri": tcfg.uri, "split": split,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "policy": POLICY, "floors": list(FLOORS), "ranking_knowledge": RANKING_KNOWLEDGE, "notes": notes,
        "reference": ref["submission"],
        "attack_groups": _group_order({g for r in rows for g in r["attacks"]}), "rows": rows,
    }
    written = [write_json(out_dir / "leaderboard.json", board),
               write_text(out_dir / "leaderboard.csv", to_csv(rows, board["attack_groups"])),
               write_text(out_dir / "leaderboard.md", to_markdown(board)),
               write_text(out_dir / "index.html", to_html(board))]
    _readable(written + sorted(keep))
    return out_dir


def _readable(paths: list[Path]) -> None:
    """A site is read by others (a web server): files as 0644 less the umask, not mkstemp's 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        os.chmod(p, 0o644 & ~umask)


def leaderboard_config(cfg: DictConfig | None) -> LeaderboardConfig:
    return typed(LeaderboardConfig, cfg.get("leaderboard") if cfg is not None else None, "leaderboard")


def terminal_table(out_dir: str | Path) -> str:
    """The main columns of ``leaderboard.json`` as a plain text table."""
    board = json.loads((Path(out_dir) / "leaderboard.json").read_text())
    head = ("#", "tier", "submission", "status", "rank EER", "(none)", "worst link.", "(none)", "sex b.acc",
            "(none)", "age MAE", "(none)", "Dice", "fail")

    def ref(r: dict[str, Any], key: str, digits: int = 3) -> str:
        v = r.get("vs_reference", {}).get(key)
        return "" if v is None else _fmt(v, digits)

    rows = [(_rank_text(r), str(r["tier"] or ""), r["submission"], r["status"], _eer_text(r), ref(r, "ranking_eer"),
             _fmt(r["worst_linkability"]), ref(r, "worst_linkability"), _fmt(r.get("sex_balanced_accuracy")),
             ref(r, "sex_balanced_accuracy"), _fmt(r.get("age_mae"), 1), ref(r, "age_mae", 1),
             _fmt(r["dice_mean"]), _fmt(r["failure_rate"])) for r in board["rows"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]
    ref_row = next((r for r in board["rows"] if r.get("reference")), None)
    if ref_row is not None:
        lines.append(f"(none): {ref_row['submission']}, the original volumes, against the same attacker: the attack's "
                     "strength; sex b.acc: highest balanced accuracy over the attacks (chance 0.5); age MAE in years")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- browser

CHROMIUM = "/usr/bin/chromium"  # Debian's package; playwright drives it, never a browser of its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium_page(html_path: str | Path, width: int = 1280, height: int = 720,
                  executable: str = CHROMIUM) -> Iterator[Any]:
    """A playwright page (headless Debian chromium, fresh profile) showing ``html_path`` from file://."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchmarkError("opening the page needs the playwright package: pip install -e '.[test]'") from None
    if not Path(executable).is_file():
        raise BenchmarkError("chromium not found; install Debian's: apt-get install -y chromium", executable)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=executable, headless=True,
                                                   args=CHROMIUM_ARGS, viewport={"width": width, "height": height})
        try:
            page = ctx.new_page()
            page.goto(Path(html_path).resolve().as_uri())
            yield page
        finally:
            ctx.close()


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1280, height: int = 720,
               full_page: bool = False) -> Path:
    """Save a PNG of the page as headless chromium renders it (for the README, or a test)."""
    with chromium_page(html_path, width, height) as page, atomic_path(png_path, suffix=".png") as tmp:
        page.screenshot(path=str(tmp), full_page=full_page)
    _readable([Path(png_path)])
    return Path(png_path)


__all__ = ["LeaderboardConfig", "build_leaderboard", "rank_rows", "tier_of", "ranking_eer", "attack_groups",
           "POLICY", "chromium_page", "screenshot"]
