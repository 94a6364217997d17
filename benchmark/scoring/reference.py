"""The sanity rows, as VoicePrivacy's original-versus-original: the ``none`` baseline's figures beside a submission.

The ``none`` baseline submits the original volumes, so its figures are the attackers' strength on this
cohort: an EER near 0 there says the attack works, and a submission's EER is read against it. Each
submission's ``results.json`` carries them as a ``reference`` block, for the same keys::

    "reference": {"submission": "baseline/none", "path": "...", "cached": true,
                  "splits": {"test": {"mri2mri/arcface/ignorant/eer": 0.01, ...}},
                  "privacy": {"test": {"worst_eer_attacker": ...}}}

The none baseline's results come from the result cache (:mod:`benchmark.scoring.result_cache`): scoring ``none``
(``run`` always does, first) fills it, and scoring any other submission reads it, or scores ``none``
once when it is missing (its embeddings are cached too, so this is cheap after the first time).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

import benchmark.scoring.result_cache as result_cache
from benchmark.core.errors import BenchmarkError
from benchmark.data.prepare import Prepared

REFERENCE_BASELINE = "none"


def reference_name(cfg: DictConfig) -> str:
    """team/system of the reference (``leaderboard.reference``, default ``baseline/none``)."""
    from benchmark.leaderboard import leaderboard_config

    return leaderboard_config(cfg).reference


def reference_dir(cfg: DictConfig) -> Path:
    """Where the benchmark writes the none baseline: ``<paths.submissions_dir>/baseline-none``."""
    from benchmark.submission.anonymize import baseline_dir

    return baseline_dir(cfg.paths.submissions_dir, REFERENCE_BASELINE)


def is_reference(cfg: DictConfig, results: dict[str, Any]) -> bool:
    sub = results.get("submission", {})
    return f"{sub.get('team')}/{sub.get('system')}" == reference_name(cfg)


def _score_none(cfg: DictConfig, prepared: Prepared, none_dir: Path, entry: str) -> tuple[Optional[dict], str]:
    """Score the none submission (validated against the kit) without plots into cache entry ``entry``;
    (results, why not)."""
    from benchmark.scoring.score import score_submission
    from benchmark.submission.validate import validate_submission, validation_config

    report = validate_submission(none_dir, prepared.kit, validation_config(cfg))
    if not report.ok:
        return None, f"the reference submission {none_dir} is not valid for this cohort: {report.reason()}"
    ref_cfg = OmegaConf.merge(cfg, {"scoring": {"plots": False, "reference": False}})
    tmp = Path(tempfile.mkdtemp(prefix="reference-"))
    try:
        results = score_submission(ref_cfg, prepared, none_dir, tmp)
        result_cache.save(cfg, entry, results, tmp, plots=False)
        return results, ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reference_block(cfg: DictConfig, prepared: Prepared, results: dict[str, Any]) -> tuple[Optional[dict], str]:
    """The none figures for the keys of ``results`` (cached, or scored now); (block, message when none)."""
    none_dir = reference_dir(cfg)
    if not (none_dir / "submission.yaml").is_file():
        from baselines import get_baseline

        from benchmark.submission.anonymize import anonymize_kit

        anonymize_kit(prepared, get_baseline(REFERENCE_BASELINE), none_dir, REFERENCE_BASELINE,
                      cfg.limits.max_voxels, cfg.progress, cfg.workers)
    entry = result_cache.key(cfg, prepared, none_dir)
    hit = result_cache.load(cfg, entry)
    if hit is not None:
        ref = hit[0]
    else:
        ref, why = _score_none(cfg, prepared, none_dir, entry)
        if ref is None:
            return None, f"reference: {why}"
    sub = ref.get("submission", {})
    block = {"submission": f"{sub.get('team')}/{sub.get('system')}", "path": str(none_dir), "cached": hit is not None,
             "splits": {}, "privacy": {}}
    for split, flat in results.get("splits", {}).items():
        theirs = ref.get("splits", {}).get(split, {})
        block["splits"][split] = {k: theirs[k] for k in flat if k in theirs}
        if split in ref.get("privacy", {}):
            block["privacy"][split] = ref["privacy"][split]
    return block, ""


def add_reference(cfg: DictConfig, prepared: Prepared, results: dict[str, Any]) -> None:
    """Add the ``reference`` block to ``results``, unless they are the reference's own.

    A failure here never stops scoring: it becomes a message.
    """
    if not cfg.scoring.get("reference", True) or not results.get("splits"):
        return
    try:
        if is_reference(cfg, results):
            return
        block, why = reference_block(cfg, prepared, results)
    except BenchmarkError as exc:
        block, why = None, f"reference: not added ({exc})"
    if block is not None:
        results["reference"] = block
    else:
        results.setdefault("messages", []).append(why)
