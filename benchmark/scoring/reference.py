"""The sanity rows, as VoicePrivacy's original-versus-original: the ``none`` baseline's figures beside a submission.

The ``none`` baseline submits the original volumes, so its figures are the attackers' strength on this
cohort: an EER near 0 there says the attack works, and a submission's EER is read against it. Each
submission's ``results.json`` carries them as a ``reference`` block, for the same keys::

    "reference": {"submission": "baseline/none", "path": "...", "cached": true,
                  "splits": {"test": {"mri2mri/arcface/ignorant/eer": 0.01, ...}},
                  "privacy": {"test": {"worst_eer_attacker": ...}}}

The none baseline's results come from the result cache (:mod:`benchmark.scoring.result_cache`): scoring ``none``
(``run`` always does, first) fills it, and scoring any other submission reads it here; when it is
missing, the command (:mod:`benchmark.cli.evaluate`) anonymises and scores ``none`` once (its embeddings
are cached too, so this is cheap after the first time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from omegaconf import DictConfig

import benchmark.scoring.result_cache as result_cache
from benchmark.core.config import LeaderboardConfig, typed
from benchmark.data.prepared import Prepared
from benchmark.scoring.results import Reference, Results
from benchmark.submission.anonymize import baseline_dir

REFERENCE_BASELINE = "none"


def reference_name(cfg: DictConfig) -> str:
    """team/system of the reference (``leaderboard.reference``, default ``baseline/none``)."""
    return typed(LeaderboardConfig, cfg.get("leaderboard"), "leaderboard").reference


def reference_dir(cfg: DictConfig) -> Path:
    """Where the benchmark writes the none baseline: ``<paths.submissions_dir>/baseline-none``."""
    return baseline_dir(cfg.paths.submissions_dir, REFERENCE_BASELINE)


def is_reference(cfg: DictConfig, results: Results) -> bool:
    return results.submission.name == reference_name(cfg)


def wanted(cfg: DictConfig, results: Results) -> bool:
    """Whether ``results`` get a reference block: ``scoring.reference``, scored splits, not the reference's own."""
    return bool(cfg.scoring.get("reference", True) and results.splits and not is_reference(cfg, results))


def entry(cfg: DictConfig, prepared: Prepared) -> str:
    """The none baseline's result-cache entry."""
    return result_cache.key(cfg, prepared, reference_dir(cfg))


def cached(cfg: DictConfig, entry: str) -> Optional[Results]:
    """The none baseline's cached results (entry ``entry``), or None."""
    hit = result_cache.load(cfg, entry)
    return hit[0] if hit is not None else None


def reference_block(ref: Results, none_dir: Path, was_cached: bool, results: Results) -> Reference:
    """The none figures ``ref`` for the keys of ``results``."""
    block = Reference(ref.submission.name, str(none_dir), cached=was_cached)
    for split, flat in results.splits.items():
        theirs = ref.splits.get(split, {})
        block.splits[split] = {k: theirs[k] for k in flat if k in theirs}
        if split in ref.privacy:
            block.privacy[split] = ref.privacy[split]
    return block
