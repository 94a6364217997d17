"""The ``tracking`` config group (conf/tracking/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from benchmark.core.errors import BenchmarkError


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
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    known = {f.name for f in fields(TrackingConfig)}
    node = {k: v for k, v in dict(cfg).items() if k != "_target_"}
    unknown = sorted(set(node) - known)
    if unknown:
        raise BenchmarkError(f"config: 'tracking.{unknown[0]}': not a tracking setting "
                             f"(known: {', '.join(sorted(known))})")
    return TrackingConfig(**node)

