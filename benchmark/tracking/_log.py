"""Logging a submission's results (the ``results.json`` mapping): one MLflow run per split."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import SPLITS
from benchmark.tracking._config import TrackingConfig, tracking_config
from benchmark.tracking._content import (MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH, artifact_files,
                                         config_params, is_biometric, run_tags, split_metrics)
from benchmark.tracking._retry import STORE_ERRORS, retry
from benchmark.tracking._store import client, experiment_id

Artifacts = Mapping[str, Iterable[str | os.PathLike]]


def log_results(results: Mapping[str, Any], cfg_container: Mapping[str, Any] | None, tracking_cfg: Any,
                artifacts: Artifacts | None = None, validation: Optional[Mapping[str, Any]] = None) -> list[str]:
    """Log one MLflow run per split of ``results``; returns the run ids, in split order.

    ``artifacts`` maps an artifact folder to files or folders. A key whose first component names a split
    (``"test/plots"``) goes to that split's run only (as ``plots``); any other key goes to every run.
    Biometric artifacts are skipped unless ``tracking_cfg.log_biometric_artifacts``, or the results say the
    cohort is the synthetic one (``provenance.synthetic``: renders of no real person).
    A submission that failed validation (``validation["ok"]`` false) and has no split results still gets
    one run per split, without metrics, tagged with the reason: the leaderboard shows it unranked.
    """
    tcfg = tracking_config(tracking_cfg)
    splits: dict[str, Mapping[str, Any]] = dict(results.get("splits") or {})
    if not splits:
        if validation is not None and not validation.get("ok"):
            splits = {s: {} for s in SPLITS}
        else:
            sub = results.get("submission") or {}
            raise BenchmarkError(f"results of {sub.get('team') or 'unknown'}/{sub.get('system') or 'unknown'} "
                                 "hold no split to log")
    cfg_container = dict(cfg_container or {})
    params = config_params(cfg_container)
    c = client(tcfg)
    exp_id = experiment_id(c, tcfg)
    with tempfile.TemporaryDirectory(prefix="tracking-") as tmp:
        own = _own_artifacts(Path(tmp), results, cfg_container, validation)
        synthetic = bool((results.get("provenance") or {}).get("synthetic"))
        return [_log_run(c, tcfg, exp_id, split, run_tags(results, split, validation), params,
                         split_metrics(values or {}), own, artifacts or {}, synthetic)
                for split, values in splits.items()]


def _own_artifacts(tmp: Path, results: Mapping[str, Any], cfg_container: Mapping[str, Any],
                   validation: Optional[Mapping[str, Any]]) -> list[tuple[Path, Optional[str]]]:
    """(file, artifact folder) of what every run holds: the config, ``results.json``, the validation report."""
    (tmp / "config").mkdir()
    (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(dict(cfg_container), sort_keys=False))
    (tmp / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
    own: list[tuple[Path, Optional[str]]] = [(tmp / "config" / "config.yaml", "config"), (tmp / "results.json", None)]
    if validation is not None:
        (tmp / "validation").mkdir()
        (tmp / "validation" / "validation.json").write_text(json.dumps(validation, indent=2, default=str))
        own.append((tmp / "validation" / "validation.json", "validation"))
    return own


def _log_run(c, tcfg: TrackingConfig, exp_id: str, split: str, tags: dict[str, str], params: dict[str, str],
             metrics: dict[str, float], own: list[tuple[Path, Optional[str]]], artifacts: Artifacts,
             synthetic: bool = False) -> str:
    """One finished run (marked FAILED, and the error raised, when logging fails half-way)."""
    run = retry(lambda: c.create_run(exp_id, tags=tags, run_name=tags["mlflow.runName"]), "create run", tcfg)
    rid = run.info.run_id
    finished = False
    try:
        _log_values(c, tcfg, rid, params, metrics)
        for path, dest in own:
            retry(lambda: c.log_artifact(rid, str(path), dest), "log artifact", tcfg)
        skipped = _log_artifacts(c, tcfg, rid, split, artifacts, tcfg.log_biometric_artifacts or synthetic)
        if skipped:
            retry(lambda: c.set_tag(rid, "artifacts.biometric_skipped", str(skipped)), "tag", tcfg)
        retry(lambda: c.set_terminated(rid, "FINISHED"), "end run", tcfg)
        finished = True
    finally:
        if not finished:  # the error on its way out matters more than a store that cannot mark the run
            with contextlib.suppress(*STORE_ERRORS):
                c.set_terminated(rid, "FAILED")
    return rid


def _log_values(c, tcfg: TrackingConfig, rid: str, params: dict[str, str], metrics: dict[str, float]) -> None:
    """Params and metrics in batches of MLflow's maximum size."""
    from mlflow.entities import Metric, Param  # mlflow loads slowly: only when logging

    now = int(time.time() * 1000)
    plist = [Param(k, v) for k, v in params.items()]
    mlist = [Metric(k, v, now, 0) for k, v in metrics.items()]
    for i in range(0, len(plist), MAX_PARAMS_PER_BATCH):
        chunk = plist[i: i + MAX_PARAMS_PER_BATCH]
        retry(lambda: c.log_batch(rid, params=chunk), "log params", tcfg)
    for i in range(0, len(mlist), MAX_METRICS_PER_BATCH):
        chunk_m = mlist[i: i + MAX_METRICS_PER_BATCH]
        retry(lambda: c.log_batch(rid, metrics=chunk_m), "log metrics", tcfg)


def _log_artifacts(c, tcfg: TrackingConfig, rid: str, split: str, artifacts: Artifacts, biometric: bool) -> int:
    """Log the given files of this split's run (see :func:`log_results`), biometric ones only when
    ``biometric``; returns how many biometric files were skipped."""
    skipped = 0
    for key, paths in artifacts.items():
        parts = Path(str(key)).parts
        if parts and parts[0] in SPLITS:
            if parts[0] != split:
                continue
            parts = parts[1:]
        dest_root = Path(*parts) if parts else Path()
        for given in paths:
            given = Path(given)
            if not given.exists():
                raise BenchmarkError("artifact not found", given)
            for f, rel in artifact_files(given):
                if not biometric and is_biometric(str(key), rel):
                    skipped += 1
                    continue
                dest = (dest_root / rel.parent).as_posix()
                dest = None if dest in ("", ".") else dest
                retry(lambda: c.log_artifact(rid, str(f), dest), "log artifact", tcfg)
    return skipped


def summary(run_ids: list[str], tcfg: TrackingConfig) -> str:
    return f"tracked {len(run_ids)} run(s) in experiment '{tcfg.experiment}' at {tcfg.uri}"
