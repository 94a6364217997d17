"""What a run holds: params (the flattened config), metrics (a split's numeric results), tags, and which
artifacts may be logged (renders, embeddings and photographs are biometric data: left out by default)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

MAX_PARAM_VAL_LENGTH = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_VAL_LENGTH = 8000
MAX_KEY_LENGTH = 250
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
TRUNCATED = "...[truncated]"

#: artifact folders (keys) and path components that hold biometric data
BIOMETRIC_NAMES = frozenset({"render", "renders", "embedding", "embeddings", "photo", "photos", "face", "faces",
                             "biometric", "biometrics", "crops", "aligned"})
#: file types that hold embeddings or photographs, never plots or scores
BIOMETRIC_SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".pkl", ".pickle", ".jpg", ".jpeg", ".nii", ".nii.gz",
                      ".mgz", ".onnx")


_KEY_BAD = re.compile(r"[^/\w.\- :]")


def clean_key(key: str) -> str:
    """A valid MLflow param/metric/tag name: bad characters become '_', no '//' or './', at most 250."""
    key = _KEY_BAD.sub("_", str(key))
    parts = [p for p in key.split("/") if p not in ("", ".", "..")]
    key = "/".join(parts) or "_"
    return key[:MAX_KEY_LENGTH]


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts to dotted keys; lists and scalars become strings (lists as JSON)."""
    out: dict[str, str] = {}
    if isinstance(obj, Mapping):
        if not obj and prefix:
            out[prefix] = "{}"
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)):
        text = json.dumps(obj, default=str)
    elif obj is None:
        text = "null"
    else:
        text = str(obj)
    out[prefix or "value"] = text
    return out


def config_params(cfg_container: Mapping[str, Any]) -> dict[str, str]:
    """The resolved config as MLflow params: dotted keys, values truncated to MLflow's 6000 characters."""
    params = {}
    for k, v in flatten(cfg_container).items():
        if len(v) > MAX_PARAM_VAL_LENGTH:
            v = v[: MAX_PARAM_VAL_LENGTH - len(TRUNCATED)] + TRUNCATED
        params[clean_key(k)] = v
    return params


def split_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The numeric results of one split as MLflow metrics (None and non-numbers are left out)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, bool) or v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[clean_key(k)] = f
    return out


def is_biometric(key: str, path: Path) -> bool:
    """Whether an artifact may hold renders, embeddings or photographs (by folder key, folders, file type)."""
    words = [w.lower() for w in Path(key).parts] + [w.lower() for w in path.parts[:-1]]
    if any(w in BIOMETRIC_NAMES for w in words):
        return True
    name = path.name.lower()
    if any(w in BIOMETRIC_NAMES for w in re.split(r"[^a-z0-9]+", name.split(".")[0])):
        return True
    return name.endswith(BIOMETRIC_SUFFIXES)


def artifact_files(path: Path) -> Iterable[tuple[Path, Path]]:
    """(file, destination below the artifact key): a file by its name, a folder's files by their relative path."""
    if path.is_symlink():
        return
    if path.is_file():
        yield path, Path(path.name)
    elif path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.is_symlink():
                yield p, p.relative_to(path)


def validation_tags(validation: Optional[Mapping[str, Any]]) -> dict[str, str]:
    if validation is None:
        return {"validation.status": "unknown"}
    ok = bool(validation.get("ok"))
    tags = {"validation.status": "passed" if ok else "failed"}
    if not ok:
        reason = validation.get("reason") or "; ".join(map(str, validation.get("errors") or [])) \
            or "validation failed"
        tags["validation.reason"] = str(reason)[:MAX_TAG_VAL_LENGTH]
    n = validation.get("n_errors")
    if n is not None:
        tags["validation.n_errors"] = str(n)
    return tags


def run_name(team: str, system: str, split: str) -> str:
    return f"{team}/{system}/{split}"


def provenance_tags(results: Mapping[str, Any]) -> dict[str, str]:
    """``reused`` (``true``/``false``; ``reused.entry``: the result-cache entry whose figures these are),
    ``cohort`` (the prepared cohort's fingerprint), ``cohort.synthetic`` (``true``: the generated cohort, no
    real person), ``code_version`` (``git describe``) and ``code_hash`` (the scoring code) from results.json's
    ``provenance`` block."""
    prov = dict(results.get("provenance") or {})
    tags = {"reused": "true" if results.get("reused") else "false"}
    if results.get("reused"):  # the figures of an earlier run of the same inputs (benchmark.scoring.result_cache)
        tags["reused.entry"] = str(results["reused"])[:MAX_TAG_VAL_LENGTH]
    for tag, key in (("cohort", "cohort"), ("code_version", "git"), ("code_hash", "code")):
        if prov.get(key):
            tags[tag] = str(prov[key])[:MAX_TAG_VAL_LENGTH]
    tags["cohort.synthetic"] = "true" if prov.get("synthetic") else "false"
    return tags


def run_tags(results: Mapping[str, Any], split: str, validation: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """The tags of a split's run: who, which split (and every split scored), validation, the worst-case
    attackers, reuse and provenance (:func:`provenance_tags`)."""
    sub = dict(results.get("submission") or {})
    team, system = str(sub.get("team") or "unknown"), str(sub.get("system") or "unknown")
    tags = {"team": team, "system": system, "submission": f"{team}/{system}", "split": split,
            "splits": ",".join(results.get("splits") or {}) or split,
            "submission.path": str(sub.get("path", "")), "n_failures": str(len(results.get("failures") or [])),
            "mlflow.runName": run_name(team, system, split), **validation_tags(validation),
            **provenance_tags(results)}
    for k, v in dict((results.get("privacy") or {}).get(split) or {}).items():
        tags[f"privacy.{clean_key(k)}"] = str(v)[:MAX_TAG_VAL_LENGTH]
    return tags
