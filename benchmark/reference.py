"""The sanity rows, as VoicePrivacy's original-versus-original: the ``none`` baseline's figures beside a submission.

The ``none`` baseline submits the original volumes, so its figures are the attackers' strength on this
cohort: an EER near 0 there says the attack works, and a submission's EER is read against it. Each
submission's ``results.json`` carries them as a ``reference`` block, for the same keys::

    "reference": {"submission": "baseline/none", "path": "...", "cached": true,
                  "splits": {"test": {"mri2mri/arcface/ignorant/eer": 0.01, ...}},
                  "privacy": {"test": {"worst_eer_attacker": ...}}}

The none results of a prepared cohort and scoring config are cached under
``<paths.cache_dir>/reference/<key>.json`` (key: the prepared cohort, the scoring config, the seed, the
attacks' configs, the content of the none volumes and the benchmark's code): scoring ``none`` (``run`` always does, first)
writes them, and scoring any other submission reads them, or scores ``none`` once when they are missing
(its embeddings are cached too, so this is cheap after the first time).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from .errors import BenchmarkError
from .io import config_hash, sha256_file, write_json
from .prepare import Prepared

REFERENCE_VERSION = 1  # bump when the figures of a scoring config change meaning (cached files go stale)
PACKAGE = Path(__file__).resolve().parent
REFERENCE_BASELINE = "none"


def reference_name(cfg: DictConfig) -> str:
    """team/system of the reference (``leaderboard.reference``, default ``baseline/none``)."""
    from .leaderboard import leaderboard_config

    return leaderboard_config(cfg).reference


def reference_dir(cfg: DictConfig) -> Path:
    """Where the benchmark writes the none baseline: ``<paths.submissions_dir>/baseline-none``."""
    from .anonymize import baseline_dir

    return baseline_dir(cfg.paths.submissions_dir, REFERENCE_BASELINE)


def is_reference(cfg: DictConfig, results: dict[str, Any]) -> bool:
    sub = results.get("submission", {})
    return f"{sub.get('team')}/{sub.get('system')}" == reference_name(cfg)


def cache_key(cfg: DictConfig, prepared: Prepared, none_dir: Path) -> str:
    """A hash of everything the none figures depend on."""
    from .attacks import CONF_ATTACK
    from .submission import volume_path

    scoring = OmegaConf.to_container(cfg.scoring, resolve=True)
    for k in ("plots", "reference"):  # not a figure
        scoring.pop(k, None)
    attacks = {a: (CONF_ATTACK / f"{a}.yaml").read_text() if (CONF_ATTACK / f"{a}.yaml").is_file() else ""
               for a in scoring.get("attacks", [])}
    volumes = {vid: sha256_file(volume_path(none_dir, vid)) if volume_path(none_dir, vid).is_file() else ""
               for vid in prepared.ids()}
    code = {str(f.relative_to(PACKAGE)): sha256_file(f) for f in sorted(PACKAGE.rglob("*.py"))}
    return config_hash({"version": REFERENCE_VERSION, "code": code, "prepared": prepared.root.name, "scoring": scoring,
                        "seed": cfg.seed, "limits": OmegaConf.to_container(cfg.limits, resolve=True),
                        "attacks": attacks, "volumes": volumes})


def cache_path(cfg: DictConfig, key: str) -> Path:
    return Path(cfg.paths.cache_dir) / "reference" / f"{key}.json"


def store(cfg: DictConfig, prepared: Prepared, submission: Path, results: dict[str, Any]) -> Optional[Path]:
    """Cache the results of the reference submission itself (``evaluate`` of none calls this)."""
    if not results.get("splits"):
        return None
    key = cache_key(cfg, prepared, submission)
    return write_json(cache_path(cfg, key), _essentials(results, submission))


def _essentials(results: dict[str, Any], submission: Path) -> dict[str, Any]:
    sub = results.get("submission", {})
    return {"submission": f"{sub.get('team')}/{sub.get('system')}", "path": str(submission),
            "splits": results.get("splits", {}), "privacy": results.get("privacy", {}),
            "failures": results.get("failures", [])}


def _score_none(cfg: DictConfig, prepared: Prepared, none_dir: Path) -> tuple[Optional[dict], str]:
    """Score the none submission (validated against the kit) without plots; (results, why not)."""
    from .scoring import score_submission
    from .validate import validate_submission, validation_config

    report = validate_submission(none_dir, prepared.kit, validation_config(cfg))
    if not report.ok:
        return None, f"the reference submission {none_dir} is not valid for this cohort: {report.reason()}"
    ref_cfg = OmegaConf.merge(cfg, {"scoring": {"plots": False, "reference": False}})
    tmp = Path(tempfile.mkdtemp(prefix="reference-"))
    try:
        return score_submission(ref_cfg, prepared, none_dir, tmp), ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reference_block(cfg: DictConfig, prepared: Prepared, results: dict[str, Any]) -> tuple[Optional[dict], str]:
    """The none figures for the keys of ``results`` (cached, or scored now); (block, message when none)."""
    none_dir = reference_dir(cfg)
    if not (none_dir / "submission.yaml").is_file():
        from baselines import get_baseline

        from .anonymize import anonymize_kit

        anonymize_kit(prepared, get_baseline(REFERENCE_BASELINE), none_dir, REFERENCE_BASELINE,
                      cfg.limits.max_voxels, cfg.progress, cfg.workers)
    key = cache_key(cfg, prepared, none_dir)
    path = cache_path(cfg, key)
    cached = True
    try:
        ref = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = False
        scored, why = _score_none(cfg, prepared, none_dir)
        if scored is None:
            return None, f"reference: {why}"
        ref = _essentials(scored, none_dir)
        write_json(path, ref)
    block = {"submission": ref["submission"], "path": ref["path"], "cached": cached, "splits": {}, "privacy": {}}
    for split, flat in results.get("splits", {}).items():
        theirs = ref.get("splits", {}).get(split, {})
        block["splits"][split] = {k: theirs[k] for k in flat if k in theirs}
        if split in ref.get("privacy", {}):
            block["privacy"][split] = ref["privacy"][split]
    return block, ""


def add_reference(cfg: DictConfig, prepared: Prepared, submission: Path, results: dict[str, Any]) -> None:
    """Cache the figures when ``results`` are the reference's own, else add the ``reference`` block.

    A failure here never stops scoring: it becomes a message.
    """
    if not cfg.scoring.get("reference", True) or not results.get("splits"):
        return
    try:
        if is_reference(cfg, results):
            store(cfg, prepared, submission, results)
            return
        block, why = reference_block(cfg, prepared, results)
    except BenchmarkError as exc:
        block, why = None, f"reference: not added ({exc})"
    if block is not None:
        results["reference"] = block
    else:
        results.setdefault("messages", []).append(why)
