"""The MLflow store: a client for ``tracking.uri`` (a SQLite file created and migrated once, under a lock),
the edition's experiment, and reading its finished runs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

from benchmark.core.files import file_lock
from benchmark.tracking._config import TrackingConfig
from benchmark.tracking._content import clean_key
from benchmark.tracking._retry import STORE_ERRORS, is_transient, retry

#: the UI's experiment type: a model-training experiment, not a GenAI one (the runs table itself needs the
#: UI's "Model training" switch, ``?workflowType=machine_learning`` in the link: README)
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_TAGS = {EXPERIMENT_KIND: "custom_model_development",
                   "mlflow.note.content": "Defacing privacy benchmark: one run per submission and split. Filter "
                                          "with tags.team, tags.system, tags.split, tags.cohort, tags.code_version, "
                                          "tags.reused; params hold the resolved config."}


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
        # one process at a time creates or migrates a SQLite store's tables (a lock file beside it)
        with file_lock(db.with_name(db.name + ".lock")) if db is not None else contextlib.nullcontext():
            c = MlflowClient(tracking_uri=uri)
            c.search_experiments(max_results=1)  # touches the store: creates and migrates a new SQLite file
        return c

    def transient(e: BaseException) -> bool:
        text = str(e).lower()
        return is_transient(e) or "already exists" in text or "duplicate column" in text

    return retry(make, "connect", tcfg, transient)


def experiment_id(c, tcfg: TrackingConfig, create: bool = True) -> Optional[str]:
    """The edition's experiment id, created on first use (a concurrent creation is tolerated)."""
    def get_or_create():
        exp = c.get_experiment_by_name(tcfg.experiment)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                c.restore_experiment(exp.experiment_id)
            if create and exp.tags.get(EXPERIMENT_KIND) is None:  # an edition made before the kind was set
                c.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND, EXPERIMENT_TAGS[EXPERIMENT_KIND])
            return exp.experiment_id
        if not create:
            return None
        location = tcfg.artifact_location
        db = _sqlite_file(_absolute_uri(tcfg.uri))
        if location is None and db is not None:
            location = (db.parent / "mlruns" / clean_key(tcfg.experiment).replace("/", "_")).resolve().as_uri()
        try:
            return c.create_experiment(tcfg.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
        except STORE_ERRORS as exc:
            text = str(exc).lower()
            if "already exists" in text or "unique constraint" in text or "resource_already_exists" in text:
                exp = c.get_experiment_by_name(tcfg.experiment)
                if exp is not None:
                    return exp.experiment_id
            raise

    return retry(get_or_create, "experiment", tcfg)



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

