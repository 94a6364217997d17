"""Validate, score and track one submission (``score``, and ``run`` for each submission).

A valid submission's results come from the result cache when nothing they depend on changed
(:mod:`benchmark.scoring.result_cache`), else it is scored; it then gets the ``none`` baseline's figures
for the same keys as its ``reference`` block: read from the cache, or, when missing, the none baseline
is anonymised and scored here once (:mod:`benchmark.scoring.reference`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf

import benchmark.scoring.result_cache as result_cache
from benchmark.core import registry
from benchmark.core.errors import BenchmarkError
from benchmark.core.shards import sharding
from benchmark.core.files import write_json, write_text
from benchmark.core.provenance import code_hash, git_version
from benchmark.data.prepared import Prepared
from benchmark.scoring import reference
from benchmark.scoring.results import Provenance, Reference, Results, Validation
from benchmark.scoring.score import score_submission
from benchmark.scoring.shards import fill_cache
from benchmark.submission.anonymize import anonymize_kit
from benchmark.submission.unpack import is_archive, scratch_target
from benchmark.submission.validate import (ValidationReport, report_path, validate_submission, validation_config,
                                          write_report)
from benchmark.leaderboard import RENDERS, leaderboard_config, write_renders
from benchmark.tracking import log_results, tracking_config


def default_output_dir(cfg: DictConfig, team: str, system: str, command: str = "score") -> Path:
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path(cfg.paths.outputs_dir) / command / stamp / f"{team}-{system}"


def evaluate(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path | None = None,
             command: str = "score", report: Optional[ValidationReport] = None) -> tuple[Path, Results]:
    """Validate, score and track one submission; returns (results.json path, results).

    A submission that fails validation is not scored: it is tracked with its reason (unranked on the
    leaderboard) and its results hold no split. A scored submission gets the ``none`` baseline's figures
    for the same keys as its ``reference`` block (:mod:`benchmark.scoring.reference`, :func:`add_reference`); scoring
    ``none`` itself caches them. ``report``: the folder's validation report when :func:`to_score` has just
    made it (not validated again).
    """
    limits = validation_config(cfg)
    if is_archive(submission) and submission.is_file() and not limits.unpack_dir:
        # scoring reads the unpacked volumes after validation: unpack beside the cache, remove after
        with scratch_target(cfg.paths.cache_dir, submission) as target:
            return _evaluate(cfg, prepared, submission, out_dir, command,
                             dataclasses.replace(limits, unpack_dir=str(target)))
    return _evaluate(cfg, prepared, submission, out_dir, command, limits, report)


def to_score(cfg: DictConfig, prepared: Prepared, submission: Path) -> tuple[Optional[ValidationReport], Optional[Path]]:
    """(the validation report of ``submission``, None for an archive; the folder scoring would read when
    ``submission`` is a valid folder whose results are not in the result cache, else None). Pass the
    report on to :func:`evaluate`."""
    if is_archive(submission):
        return None, None
    report = validate_submission(submission, prepared.kit, validation_config(cfg), cfg.paths.cache_dir)
    if not report.ok:
        return report, None
    root = Path(report.root or submission)
    return report, None if _cached(cfg, result_cache.key(cfg, prepared, root)) is not None else root


def _cached(cfg: DictConfig, entry: str) -> Optional[tuple[Results, Path]]:
    """(results, entry folder) of result-cache entry ``entry`` when it is there and ``scoring.reuse`` allows it."""
    return result_cache.load(cfg, entry, plots=cfg.scoring.plots) if cfg.scoring.get("reuse", True) else None


def _scored(cfg: DictConfig, prepared: Prepared, root: Path, out_dir: Path) -> Results:
    """The results of the valid submission folder ``root``: scored now, or an unchanged submission's
    from the result cache (:mod:`benchmark.scoring.result_cache`), its score files and plots copied to ``out_dir``."""
    entry = result_cache.key(cfg, prepared, root)
    with result_cache.scoring(cfg, entry):  # another process scoring the same entry: wait, then reuse it
        hit = _cached(cfg, entry)
        if hit is not None:
            results, folder = hit
            result_cache.copy_artifacts(results, folder, out_dir)
            results.reused = str(folder)  # provenance: these figures were computed by an earlier run
            return results
        fill_cache(cfg, prepared, root)  # scoring.shards > 1: the per-volume work as jobs first
        results = score_submission(cfg, prepared, root, out_dir)
        result_cache.save(cfg, entry, results, out_dir, cfg.scoring.plots)
        return results


def _evaluate(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path | None, command: str,
              limits, report: Optional[ValidationReport] = None) -> tuple[Path, Results]:
    report = report or validate_submission(submission, prepared.kit, limits, cfg.paths.cache_dir)
    write_report(report, report_path(submission, limits))
    team = report.team or submission.name
    system = report.system or "?"
    out_dir = out_dir or default_output_dir(cfg, team, system, command)
    if report.ok:
        results = _scored(cfg, prepared, Path(report.root or submission), out_dir)
        add_reference(cfg, prepared, results)  # none's figures, same keys
        for split in results.splits:  # the submission page's renders: synthetic persons only, unless asked
            write_renders(prepared, Path(report.root or submission), out_dir, split, leaderboard_config(cfg).renders,
                          tracking_config(cfg.tracking).log_biometric_artifacts, cfg.limits.max_voxels,
                          cfg.paths.cache_dir)
        results.submission.path = str(submission)  # the archive, not its scratch folder
        results.validation = Validation(True)
    else:
        results = Results.invalid(team, system, str(submission), report.reason())
    results.provenance = provenance(cfg, prepared)
    path = results.write(out_dir / "results.json")
    write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    write_json(out_dir / "validation.json", report.to_dict())
    artifacts = {f"{split}/{kind}": [out_dir / kind / split] for split in results.splits
                 for kind in ("plots", "scores", "utility", RENDERS) if (out_dir / kind / split).is_dir()}
    log_results(results.to_json(), OmegaConf.to_container(cfg, resolve=True), cfg.tracking, artifacts, report.to_dict())
    return path, results


def provenance(cfg: DictConfig, prepared: Prepared) -> Provenance:
    """What the figures were made from, to filter and compare runs: the cohort's fingerprint, the scoring
    code's hash (:mod:`benchmark.scoring.result_cache`) and the checkout's ``git describe``."""
    return Provenance(prepared.fingerprint, code_hash(*result_cache.code_modules(cfg)),
                      git_version() or "unknown (not a git checkout)", prepared.synthetic)


def _score_reference(cfg: DictConfig, prepared: Prepared, none_dir: Path, entry: str) -> tuple[Optional[Results], str]:
    """Score the none submission (validated against the kit) without plots into cache entry ``entry``;
    (results, why not)."""
    report = validate_submission(none_dir, prepared.kit, validation_config(cfg), cfg.paths.cache_dir)
    if not report.ok:
        return None, f"the reference submission {none_dir} is not valid for this cohort: {report.reason()}"
    ref_cfg = OmegaConf.merge(cfg, {"scoring": {"plots": False, "reference": False}})
    tmp = Path(tempfile.mkdtemp(prefix="reference-"))
    try:
        fill_cache(ref_cfg, prepared, none_dir)
        results = score_submission(ref_cfg, prepared, none_dir, tmp)
        result_cache.save(cfg, entry, results, tmp, plots=False)
        return results, ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _reference_block(cfg: DictConfig, prepared: Prepared, results: Results) -> tuple[Optional[Reference], str]:
    """The none figures for the keys of ``results`` (cached, or anonymised and scored now); (block, message when none)."""
    none_dir = reference.reference_dir(cfg)
    if not (none_dir / "submission.yaml").is_file():
        anonymize_kit(prepared, registry.build("baseline", reference.REFERENCE_BASELINE), none_dir,
                      reference.REFERENCE_BASELINE, cfg.limits.max_voxels, cfg.progress, cfg.workers,
                      sharding(cfg))
    entry = reference.entry(cfg, prepared)
    with result_cache.scoring(cfg, entry):  # run scores none in another process at the same time: wait for it
        ref = reference.cached(cfg, entry)
        was_cached = ref is not None
        if ref is None:
            ref, why = _score_reference(cfg, prepared, none_dir, entry)
            if ref is None:
                return None, f"reference: {why}"
    return reference.reference_block(ref, none_dir, was_cached, results), ""


def add_reference(cfg: DictConfig, prepared: Prepared, results: Results) -> None:
    """Add the ``reference`` block to ``results``, unless they are the reference's own.

    A failure here never stops scoring: it becomes a message.
    """
    try:
        if not reference.wanted(cfg, results):
            return
        block, why = _reference_block(cfg, prepared, results)
    except BenchmarkError as exc:
        block, why = None, f"reference: not added ({exc})"
    if block is not None:
        results.reference = block
    else:
        results.messages.append(why)
