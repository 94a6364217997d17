"""MLflow tracking: one experiment per challenge edition, one run per (submission, split).

A run holds:

- params: the resolved config, flattened to dotted keys (``dataset.n_persons``); values longer than
  MLflow's 6000 characters are truncated (the whole config is also an artifact, ``config/config.yaml``);
- metrics: the keys of that split in ``results.json`` (``photo2mri/arcface/semi_informed/eer``, ...);
- tags: ``team``, ``system``, ``submission`` (team/system), ``split``, ``validation.status``
  (``passed``/``failed``/``unknown``), ``validation.reason`` when it failed, the worst-case attackers,
  ``reused`` (the result-cache entry) when the figures were not computed anew;
- artifacts: the files given (plots, score files, config, validation report), ``results.json`` and the
  validation report. Renders, embeddings and photographs are biometric data and are never logged
  unless ``tracking.log_biometric_artifacts`` is true.

The default store is a SQLite file in the working folder (``sqlite:///mlruns.db``, artifacts in
``mlruns/`` beside it); ``tracking.uri`` points at any server. SQLite allows one writer at a time:
concurrent ``score`` processes meet "database is locked", which is retried with backoff.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, TypeVar

import yaml

from benchmark.core.keys import SPLITS
from benchmark.core.errors import BenchmarkError

log = logging.getLogger(__name__)

T = TypeVar("T")

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


@dataclass
class TrackingConfig:
    """The ``tracking`` config group (conf/tracking/*.yaml)."""

    uri: str = "sqlite:///mlruns.db"  # any MLflow tracking URI: sqlite:///file.db, http://host:5000, ...
    experiment: str = "defacing-privacy-2026"  # one experiment per challenge edition
    artifact_location: Optional[str] = None  # for a new experiment; default: mlruns/ beside a SQLite file, else the server's
    log_biometric_artifacts: bool = False  # renders, embeddings, photographs: off unless asked
    retries: int = 10  # "database is locked" and other transient errors
    backoff_s: float = 0.2  # first wait; doubles each try, with jitter, capped at 5 s


def tracking_config(cfg: Any) -> TrackingConfig:
    """A TrackingConfig from a DictConfig/dict node (``_target_`` ignored), or the defaults for None."""
    if cfg is None:
        return TrackingConfig()
    if isinstance(cfg, TrackingConfig):
        return cfg
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    known = {f.name for f in fields(TrackingConfig)}
    node = {k: v for k, v in dict(cfg).items() if k != "_target_"}
    unknown = sorted(set(node) - known)
    if unknown:
        raise BenchmarkError(f"config: 'tracking.{unknown[0]}': not a tracking setting "
                             f"(known: {', '.join(sorted(known))})")
    return TrackingConfig(**node)


# ---------------------------------------------------------------------------------------------- retries

_TRANSIENT = ("database is locked", "database table is locked", "busy", "temporarily unavailable",
              "connection refused", "connection reset", "max retries exceeded", "timed out", "503", "502")


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(t in text for t in _TRANSIENT)


def retry(fn: Callable[[], T], what: str, tcfg: TrackingConfig,
          transient: Callable[[BaseException], bool] = _is_transient) -> T:
    """Call ``fn``; on a transient error wait (exponential backoff with jitter) and try again."""
    delay = max(tcfg.backoff_s, 0.01)
    for attempt in range(tcfg.retries + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - MLflow and SQLAlchemy raise many types
            if attempt >= tcfg.retries or not transient(exc):
                raise
            log.info("MLflow %s: %s; retrying in %.2f s", what, str(exc).splitlines()[0][:120], delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------------- client

def _sqlite_file(uri: str) -> Optional[Path]:
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None


def _absolute_uri(uri: str) -> str:
    """``sqlite:///mlruns.db`` relative to the working folder, made absolute (stable across chdir)."""
    path = _sqlite_file(uri)
    if path is None or path.is_absolute():
        return uri
    query = uri.split("?", 1)[1] if "?" in uri else None
    return f"sqlite:///{path.resolve()}" + (f"?{query}" if query else "")


def client(tcfg: TrackingConfig):
    """An ``MlflowClient`` for ``tcfg.uri`` (the SQLite folder is created; store setup is retried)."""
    from mlflow.tracking import MlflowClient

    uri = _absolute_uri(tcfg.uri)
    db = _sqlite_file(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)

    def make():
        with _file_lock(db):  # one process at a time creates or migrates a SQLite store's tables
            c = MlflowClient(tracking_uri=uri)
            c.search_experiments(max_results=1)  # touches the store: creates and migrates a new SQLite file
        return c

    def transient(e: BaseException) -> bool:
        text = str(e).lower()
        return _is_transient(e) or "already exists" in text or "duplicate column" in text

    return retry(make, "connect", tcfg, transient)


@contextlib.contextmanager
def _file_lock(db: Optional[Path]) -> Iterator[None]:
    """An exclusive lock on ``<db>.lock`` beside a SQLite file (POSIX); nothing for other stores."""
    if db is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rely on the retries
        yield
        return
    fd = os.open(db.with_name(db.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def experiment_id(c, tcfg: TrackingConfig, create: bool = True) -> Optional[str]:
    """The edition's experiment id, created on first use (a concurrent creation is tolerated)."""
    def get_or_create():
        exp = c.get_experiment_by_name(tcfg.experiment)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                c.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        if not create:
            return None
        location = tcfg.artifact_location
        db = _sqlite_file(_absolute_uri(tcfg.uri))
        if location is None and db is not None:
            location = (db.parent / "mlruns" / clean_key(tcfg.experiment).replace("/", "_")).resolve().as_uri()
        try:
            return c.create_experiment(tcfg.experiment, artifact_location=location)
        except Exception as exc:  # noqa: BLE001
            text = str(exc).lower()
            if "already exists" in text or "unique constraint" in text or "resource_already_exists" in text:
                exp = c.get_experiment_by_name(tcfg.experiment)
                if exp is not None:
                    return exp.experiment_id
            raise

    return retry(get_or_create, "experiment", tcfg)


# ---------------------------------------------------------------------------------------------- content

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


def _files(path: Path) -> Iterable[tuple[Path, Path]]:
    """(file, destination below the artifact key): a file by its name, a folder's files by their relative path."""
    if path.is_symlink():
        return
    if path.is_file():
        yield path, Path(path.name)
    elif path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.is_symlink():
                yield p, p.relative_to(path)


def _validation_tags(validation: Optional[Mapping[str, Any]]) -> dict[str, str]:
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


# ---------------------------------------------------------------------------------------------- logging

def log_results(results: Mapping[str, Any], cfg_container: Mapping[str, Any] | None, tracking_cfg: Any,
                artifacts: Mapping[str, Iterable[str | os.PathLike]] | None = None,
                validation: Optional[Mapping[str, Any]] = None) -> list[str]:
    """Log one MLflow run per split of ``results``; returns the run ids, in split order.

    ``artifacts`` maps an artifact folder to files or folders. A key whose first component names a split
    (``"test/plots"``) goes to that split's run only (as ``plots``); any other key goes to every run.
    Biometric artifacts are skipped unless ``tracking_cfg.log_biometric_artifacts``.
    A submission that failed validation (``validation["ok"]`` false) and has no split results still gets
    one run per split, without metrics, tagged with the reason: the leaderboard shows it unranked.
    """
    tcfg = tracking_config(tracking_cfg)
    sub = dict(results.get("submission") or {})
    team, system = str(sub.get("team") or "unknown"), str(sub.get("system") or "unknown")
    splits: dict[str, Mapping[str, Any]] = dict(results.get("splits") or {})
    if not splits:
        if validation is not None and not validation.get("ok"):
            splits = {s: {} for s in SPLITS}
        else:
            raise BenchmarkError(f"results of {team}/{system} hold no split to log")
    privacy = dict(results.get("privacy") or {})
    failures = list(results.get("failures") or [])
    cfg_container = dict(cfg_container or {})
    params = config_params(cfg_container)
    validation_tags = _validation_tags(validation)

    c = client(tcfg)
    exp_id = experiment_id(c, tcfg)
    run_ids = []
    with tempfile.TemporaryDirectory(prefix="tracking-") as tmp:
        tmp = Path(tmp)
        (tmp / "config").mkdir()
        (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(cfg_container, sort_keys=False))
        (tmp / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
        if validation is not None:
            (tmp / "validation").mkdir()
            (tmp / "validation" / "validation.json").write_text(json.dumps(validation, indent=2, default=str))
        for split, values in splits.items():
            tags = {"team": team, "system": system, "submission": f"{team}/{system}", "split": split,
                    "submission.path": str(sub.get("path", "")), "n_failures": str(len(failures)),
                    "mlflow.runName": run_name(team, system, split), **validation_tags}
            if results.get("reused"):  # the figures of an earlier run of the same inputs (benchmark.scoring.result_cache)
                tags["reused"] = str(results["reused"])[:MAX_TAG_VAL_LENGTH]
            for k, v in dict(privacy.get(split) or {}).items():
                tags[f"privacy.{clean_key(k)}"] = str(v)[:MAX_TAG_VAL_LENGTH]
            run_ids.append(_log_run(c, tcfg, exp_id, split, tags, params, split_metrics(values or {}),
                                    artifacts or {}, tmp))
    return run_ids


def _log_run(c, tcfg: TrackingConfig, exp_id: str, split: str, tags: dict[str, str], params: dict[str, str],
             metrics: dict[str, float], artifacts: Mapping[str, Iterable[str | os.PathLike]], tmp: Path) -> str:
    from mlflow.entities import Metric, Param

    run = retry(lambda: c.create_run(exp_id, tags=tags, run_name=tags["mlflow.runName"]), "create run", tcfg)
    rid = run.info.run_id
    try:
        now = int(time.time() * 1000)
        plist = [Param(k, v) for k, v in params.items()]
        mlist = [Metric(k, v, now, 0) for k, v in metrics.items()]
        for i in range(0, len(plist), MAX_PARAMS_PER_BATCH):
            chunk = plist[i: i + MAX_PARAMS_PER_BATCH]
            retry(lambda: c.log_batch(rid, params=chunk), "log params", tcfg)
        for i in range(0, len(mlist), MAX_METRICS_PER_BATCH):
            chunk_m = mlist[i: i + MAX_METRICS_PER_BATCH]
            retry(lambda: c.log_batch(rid, metrics=chunk_m), "log metrics", tcfg)
        own = [(tmp / "config" / "config.yaml", "config"), (tmp / "results.json", None)]
        if (tmp / "validation" / "validation.json").is_file():
            own.append((tmp / "validation" / "validation.json", "validation"))
        for path, dest in own:
            retry(lambda: c.log_artifact(rid, str(path), dest), "log artifact", tcfg)
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
                for f, rel in _files(given):
                    if not tcfg.log_biometric_artifacts and is_biometric(str(key), rel):
                        skipped += 1
                        continue
                    dest = (dest_root / rel.parent).as_posix()
                    dest = None if dest in ("", ".") else dest
                    retry(lambda: c.log_artifact(rid, str(f), dest), "log artifact", tcfg)
        if skipped:
            retry(lambda: c.set_tag(rid, "artifacts.biometric_skipped", str(skipped)), "tag", tcfg)
        retry(lambda: c.set_terminated(rid, "FINISHED"), "end run", tcfg)
    except BaseException:
        try:
            c.set_terminated(rid, "FAILED")
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    return rid


def runs(tcfg: TrackingConfig, split: Optional[str] = None) -> list:
    """Every finished run of the edition's experiment (of one split, when given), newest first."""
    db = _sqlite_file(_absolute_uri(tcfg.uri))
    if db is not None and not db.is_file():
        return []  # nothing tracked yet: do not create an empty store just to read it
    c = client(tcfg)
    exp_id = experiment_id(c, tcfg, create=False)
    if exp_id is None:
        return []
    filt = "attributes.status = 'FINISHED'"
    if split:
        filt += f" and tags.split = '{split}'"
    out, token = [], None
    while True:
        page = retry(lambda: c.search_runs([exp_id], filter_string=filt, order_by=["attributes.start_time DESC"],
                                           max_results=1000, page_token=token), "search runs", tcfg)
        out += list(page)
        token = page.token
        if not token:
            return out


def summary(run_ids: list[str], tcfg: TrackingConfig) -> str:
    return f"tracked {len(run_ids)} run(s) in experiment '{tcfg.experiment}' at {tcfg.uri}"


__all__ = ["TrackingConfig", "tracking_config", "log_results", "runs", "client", "experiment_id",
           "config_params", "flatten", "is_biometric", "retry"]
