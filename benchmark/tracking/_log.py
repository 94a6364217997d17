"""Logging a submission's results (the ``results.json`` mapping): one MLflow run per split."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import sha256_file
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

    A split whose run would hold exactly what the latest finished run of that submission and split holds
    (tag ``content_digest``: :func:`content_digest`) is not logged again: its id is returned (an unchanged
    submission scored again, ``run`` on a warm cache, adds no run).
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
    synthetic = bool((results.get("provenance") or {}).get("synthetic"))
    biometric = tcfg.log_biometric_artifacts or synthetic
    with tempfile.TemporaryDirectory(prefix="tracking-") as tmp:
        own = _own_artifacts(Path(tmp), results, cfg_container, validation)
        ids = []
        for split, values in splits.items():
            tags, metrics = run_tags(results, split, validation), split_metrics(values or {})
            files = _split_artifacts(split, artifacts or {})
            tags[CONTENT_TAG] = content_digest(tags, params, metrics, results, cfg_container, validation, files,
                                               biometric)
            ids.append(_tracked(c, tcfg, exp_id, tags)
                       or _log_run(c, tcfg, exp_id, tags, params, metrics, own, files, biometric))
        return ids


CONTENT_TAG = "content_digest"
#: tags that say how a run came about, not what it holds
_CIRCUMSTANCE_TAGS = ("reused", "reused.entry", CONTENT_TAG)


def content_digest(tags: Mapping[str, str], params: Mapping[str, str], metrics: Mapping[str, float],
                   results: Mapping[str, Any], cfg_container: Mapping[str, Any],
                   validation: Optional[Mapping[str, Any]], artifacts: list[tuple[Path, str, Path]],
                   biometric: bool) -> str:
    """SHA-256 of what a split's run holds: its tags (less whether its figures were reused), params,
    metrics, the config, ``results.json`` (less ``reused``), the validation report, and each artifact
    file's destination and bytes."""
    h = hashlib.sha256(json.dumps({
        "tags": {k: v for k, v in tags.items() if k not in _CIRCUMSTANCE_TAGS}, "params": dict(params),
        "metrics": dict(metrics), "config": dict(cfg_container), "validation": validation,
        "results": {k: v for k, v in results.items() if k != "reused"}, "biometric": biometric,
    }, sort_keys=True, default=str).encode())
    for path, key, dest in artifacts:
        h.update(f"{key}\0{dest.as_posix()}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def _split_artifacts(split: str, artifacts: Artifacts) -> list[tuple[Path, str, Path]]:
    """(file, artifact key, path below the key's folder in the run) of every artifact file of ``split``'s
    run (see :func:`log_results`)."""
    out = []
    for key, paths in artifacts.items():
        parts = Path(str(key)).parts
        if parts and parts[0] in SPLITS:
            if parts[0] != split:
                continue
            parts = parts[1:]
        for given in paths:
            given = Path(given)
            if not given.exists():
                raise BenchmarkError("artifact not found", given)
            out += [(f, str(key), Path(*parts) / rel) for f, rel in artifact_files(given)]
    return out


def _tracked(c, tcfg: TrackingConfig, exp_id: str, tags: Mapping[str, str]) -> Optional[str]:
    """The id of the latest finished run of this submission and split when it holds the same content."""
    who, split = tags["submission"], tags["split"]
    if "'" in who + split:  # not expressible in a filter string: log anew
        return None
    latest = retry(lambda: c.search_runs([exp_id], filter_string=f"attributes.status = 'FINISHED' and "
                                         f"tags.submission = '{who}' and tags.split = '{split}'",
                                         order_by=["attributes.start_time DESC"], max_results=1),
                   "search runs", tcfg)
    if latest and latest[0].data.tags.get(CONTENT_TAG) == tags[CONTENT_TAG]:
        return latest[0].info.run_id
    return None


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


def _log_run(c, tcfg: TrackingConfig, exp_id: str, tags: dict[str, str], params: dict[str, str],
             metrics: dict[str, float], own: list[tuple[Path, Optional[str]]], files: list[tuple[Path, str, Path]],
             biometric: bool) -> str:
    """One finished run (marked FAILED, and the error raised, when logging fails half-way)."""
    run = retry(lambda: c.create_run(exp_id, tags=tags, run_name=tags["mlflow.runName"]), "create run", tcfg)
    rid = run.info.run_id
    finished = False
    try:
        _log_values(c, tcfg, rid, params, metrics)
        for path, dest in own:
            retry(lambda: c.log_artifact(rid, str(path), dest), "log artifact", tcfg)
        skipped = _log_artifacts(c, tcfg, rid, files, biometric)
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


def _log_artifacts(c, tcfg: TrackingConfig, rid: str, files: list[tuple[Path, str, Path]], biometric: bool) -> int:
    """Log a split's artifact files (:func:`_split_artifacts`), biometric ones only when ``biometric``;
    returns how many biometric files were skipped."""
    skipped = 0
    for f, key, dest in files:
        if not biometric and is_biometric(key, dest):  # dest's folders are the key's (less the split) and the file's
            skipped += 1
            continue
        folder = dest.parent.as_posix()
        retry(lambda: c.log_artifact(rid, str(f), None if folder in ("", ".") else folder), "log artifact", tcfg)
    return skipped


def summary(run_ids: list[str], tcfg: TrackingConfig) -> str:
    return f"tracked {len(run_ids)} run(s) in experiment '{tcfg.experiment}' at {tcfg.uri}"
