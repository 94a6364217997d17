"""Retrying MLflow calls on transient errors ("database is locked" of a SQLite store, a busy server)."""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

from benchmark.tracking._config import TrackingConfig

log = logging.getLogger("benchmark.tracking")

T = TypeVar("T")

# What a store raises: MLflow's own errors, the SQL store's (SQLAlchemy), the file system's and the network's
# (requests' errors are OSErrors). Anything else is a programming error and is never retried.
STORE_ERRORS = (MlflowException, SQLAlchemyError, OSError)
_TRANSIENT = ("database is locked", "database table is locked", "busy", "temporarily unavailable",
              "connection refused", "connection reset", "max retries exceeded", "timed out", "503", "502")


def is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(t in text for t in _TRANSIENT)


def retry(fn: Callable[[], T], what: str, tcfg: TrackingConfig,
          transient: Callable[[BaseException], bool] = is_transient) -> T:
    """Call ``fn``; on a transient error wait (exponential backoff with jitter) and try again."""
    delay = max(tcfg.backoff_s, 0.01)
    for attempt in range(tcfg.retries + 1):
        try:
            return fn()
        except STORE_ERRORS as exc:
            if attempt >= tcfg.retries or not transient(exc):
                raise
            log.info("MLflow %s: %s; retrying in %.2f s", what, str(exc).splitlines()[0][:120], delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")  # pragma: no cover

