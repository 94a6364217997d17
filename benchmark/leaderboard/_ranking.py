"""Ranking policy: one row per submission from its tracked run, privacy tiers, utility order, reference figures.

Ranking as in the VoicePrivacy Challenge (see :data:`POLICY`): privacy floors on the worst-case
semi-informed EER, then utility within each floor. A submission that failed validation is listed with its
reason, unranked; the reference row (the ``none`` baseline, the original volumes) is always shown.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Optional

from benchmark.core.keys import KNOWLEDGE, SEMI_INFORMED, MetricKey

FLOORS = (0.40, 0.30, 0.20)  # tier 1, 2, 3; below the last: tier 4
KNOWLEDGE_ORDER = KNOWLEDGE
RANKING_KNOWLEDGE = SEMI_INFORMED
ATTACK_METRICS = ("eer", "linkability", "auc")
GROUPED_METRICS = ("eer", "min_cllr", "linkability", "auc", "rank1", "rank5", "detection_rate")

POLICY = (
    "Ranking follows the VoicePrivacy Challenge. Submissions are first grouped by privacy floors on the "
    "worst-case EER of the semi-informed attacker (the lowest EER over every semi-informed attack and "
    "condition: the strongest attacker decides). A floor counts as cleared only when the lower end of that "
    "EER's 95% bootstrap interval is at or above it: tier 1 at least 0.40, tier 2 at least 0.30, tier 3 at "
    "least 0.20, and tier 4 below 0.20, listed after the others and not ranked for privacy. A submission "
    "whose worst-case EER is indistinguishable from chance (permutation p >= 0.05, the chance level "
    "calibrated for the minimum over all attackers) is tier 1 whatever its point estimate. Within a tier, "
    "submissions are ordered by utility: higher mean Dice of the brain first, then lower failure rate, then "
    "higher ranking EER. "
    "A submission that failed validation is shown with its reason and not ranked. The 'none' baseline "
    "(the original, untouched volumes) is the reference row and is not ranked.")
REFERENCE_NOTE = ("The reference row ({who}) scores the original, untouched volumes, as VoicePrivacy's "
                  "original-versus-original: its figures are the attackers' strength on this cohort. Under each "
                  "submission's value, 'none:' gives the reference's figure for the same attacker.")
#: attribute inference (benchmark.scoring.attributes): metric -> whether a higher value means a stronger attacker
ATTRIBUTE_METRICS = {"sex_balanced_accuracy": True, "age_mae": False}
NO_INTERVAL_NOTE = ("No interval for the ranking EER of {who}: tiered on the point estimate, which the minimum "
                    "over attackers biases low.")
FALLBACK_NOTE = ("No semi-informed attack was scored for {who}: the worst-case EER over the attacks that were "
                 "scored is used instead (marked *), which overstates privacy against an informed attacker.")


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


def ranking_eer(groups: dict[str, dict[str, list]],
                unranked: frozenset[str] = frozenset()) -> tuple[Optional[float], Optional[str], bool]:
    """(worst EER, its attack, whether semi-informed attacks decided) from the attack groups; attacks in
    ``unranked`` (context such as ``anatomy``, named by the run's ``privacy.unranked_attacks`` tag) are
    left out, as in ``privacy/worst_eer``."""
    groups = {g: v for g, v in groups.items() if MetricKey.parse(g).attack not in unranked}

    def worst(keys):
        vals = [(groups[g]["eer"][0], g) for g in keys if groups[g].get("eer") and groups[g]["eer"][0] is not None]
        return min(vals) if vals else (None, None)

    semi = [g for g in groups if MetricKey.parse(g).knowledge == RANKING_KNOWLEDGE]
    eer, attack = worst(semi)
    if eer is not None:
        return eer, attack, True
    eer, attack = worst(list(groups))
    return eer, attack, False


def chance_fields(metrics: dict[str, float], groups: dict[str, dict[str, list]],
                  attack: Optional[str]) -> dict[str, Any]:
    """The ranking EER's interval (its attacker's) and the family-wise chance level of the worst case:
    ``privacy/worst_eer_chance`` (null median), ``_chance_p05``, ``_p``, and whether the worst case is
    distinguishable from chance (None where the run has no chance keys: an older run)."""
    slot = groups.get(attack or "", {}).get("eer") or [None, None, None]
    flag = _num(metrics.get("privacy/distinguishable_from_chance"))
    return {"ranking_ci_low": slot[1], "ranking_ci_high": slot[2],
            "chance": _num(metrics.get("privacy/worst_eer_chance")),
            "chance_p05": _num(metrics.get("privacy/worst_eer_chance_p05")),
            "chance_p": _num(metrics.get("privacy/worst_eer_p")),
            "distinguishable": None if flag is None else flag >= 0.5}


def row_tier(r: dict[str, Any]) -> Optional[int]:
    return ranking_tier(r["ranking_eer"], r.get("ranking_ci_low"), r.get("distinguishable"))


def ranking_tier(eer: Optional[float], ci_low: Optional[float], distinguishable: Optional[bool]) -> Optional[int]:
    """Tier 1 when indistinguishable from chance; else the floors the interval's lower end clears (the point
    estimate where there is no interval: see :data:`NO_INTERVAL_NOTE`)."""
    if eer is None:
        return None
    if distinguishable is False:
        return 1
    return tier_of(eer if ci_low is None else ci_low)


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
    unranked = frozenset(a for a in tags.get("privacy.unranked_attacks", "").split(",") if a)
    eer, attack, semi = ranking_eer(groups, unranked)
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
        **chance_fields(metrics, groups, attack), "worst_eer": _num(metrics.get("privacy/worst_eer")),
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
        return (-dice, fail, -r["ranking_eer"], r["submission"])

    ref, ranked, unranked = [], [], []
    for r in rows:
        if r["reference"]:
            r["tier"] = row_tier(r)
            r["status"] = "reference" if r["validation"] != "failed" else "reference, failed validation"
            ref.append(r)
        elif r["validation"] == "failed":
            r["status"] = "failed validation"
            unranked.append(r)
        elif r["ranking_eer"] is None:
            r["status"] = "not scored (no EER)"
            unranked.append(r)
        else:
            r["tier"] = row_tier(r)
            r["status"] = "ranked" if r["tier"] <= len(FLOORS) else "below the privacy floors"
            ranked.append(r)
        if r.get("distinguishable") is False:
            r["status"] += ", indistinguishable from chance"
    ranked.sort(key=lambda r: (r["tier"], *utility_key(r)))
    for i, r in enumerate(ranked):
        r["rank"] = i + 1
    unranked.sort(key=lambda r: r["submission"])
    return ref + ranked + unranked



def group_order(groups: set[str]) -> list[str]:
    """Attack groups by condition, attack, then knowledge from the least informed attacker up."""
    def key(g):
        cond, attack, know = g.split("/")
        k = KNOWLEDGE_ORDER.index(know) if know in KNOWLEDGE_ORDER else len(KNOWLEDGE_ORDER)
        return (cond, attack, k, know)
    return sorted(groups, key=key)


def unscored_reference(reference: str, split: str) -> dict[str, Any]:
    """The reference row before the reference was scored: shown, with no figure."""
    team, _, system = reference.partition("/")
    return {"rank": None, "tier": None, "status": "", "reference": True, "team": team, "system": system,
            "submission": reference, "split": split, "run_id": None, "start_time": None,
            "validation": "unknown", "reason": "", "ranking_eer": None, "ranking_attacker": None,
            "ranking_semi_informed": False, **chance_fields({}, {}, None), "worst_eer": None,
            "worst_eer_attacker": None,
            "worst_linkability": None, "worst_linkability_attacker": None, "dice_mean": None,
            "failure_rate": None, "utility": {}, "attributes": {}, **worst_attributes({}),
            "attacks": {}, "plots": [], "vs_reference": {}}


def board_rows(split_runs: list, reference: str, split: str) -> list[dict[str, Any]]:
    """The ranked rows of the latest run of each submission (``split_runs`` newest first), the reference
    row always among them; each other row carries the reference's figures for its attackers."""
    latest: dict[str, Any] = {}
    for r in split_runs:
        latest.setdefault(f"{r.data.tags.get('team', '?')}/{r.data.tags.get('system', '?')}", r)
    rows = [make_row(r, reference) for r in latest.values()]
    if not any(r["reference"] for r in rows):
        rows.append(unscored_reference(reference, split))
    rows = rank_rows(rows)
    ref = next(r for r in rows if r["reference"])
    for r in rows:
        if r["reference"] and r["run_id"] is None:
            r["status"] = "reference, not scored yet"
        elif not r["reference"] and ref["run_id"] is not None:
            r["vs_reference"] = reference_values(r, ref)
    return rows


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """The notes above the table: what the reference row is, and who was ranked without a semi-informed EER."""
    ref = next(r for r in rows if r["reference"])
    out = [REFERENCE_NOTE.format(who=ref["submission"])] if ref["run_id"] is not None else []
    fallback = [r["submission"] for r in rows if r["ranking_eer"] is not None and not r["ranking_semi_informed"]]
    if fallback:
        who = "any submission" if len(fallback) == sum(r["ranking_eer"] is not None for r in rows) \
            else ", ".join(fallback)
        out.append(FALLBACK_NOTE.format(who=who))
    no_ci = [r["submission"] for r in rows if r["ranking_eer"] is not None and r.get("ranking_ci_low") is None]
    if no_ci:
        out.append(NO_INTERVAL_NOTE.format(who=", ".join(no_ci)))
    return out
