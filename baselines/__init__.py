"""Defacing baselines behind one interface: ``get_baseline(name, **overrides).anonymize(img) -> img``.

Each baseline is configured in ``conf/baseline/<name>.yaml`` (a ``_target_`` and its parameters) and
built with ``hydra.utils.instantiate``.
"""

from __future__ import annotations

from typing import Any

from benchmark.core import registry
from benchmark.core.config import CONF_DIR as CONF_ROOT

from baselines.base import Baseline

CONF_DIR = CONF_ROOT / "baseline"

__all__ = ["Baseline", "CONF_DIR", "available", "get_baseline"]


def available() -> list[str]:
    """Names of the configured baselines."""
    return registry.available("baseline")


def get_baseline(name: str, **overrides: Any) -> Baseline:
    """Build the baseline configured in ``conf/baseline/<name>.yaml``, schema-checked.

    Overrides replace config values; dotted keys reach nested ones (``**{"registration.seed": 3}``).
    Values that are not plain data (a ``BrainMasker``, say) are passed to the constructor as they are
    (the rules of :func:`benchmark.core.registry.build`).
    """
    return registry.build("baseline", name, expected=Baseline, **overrides)
