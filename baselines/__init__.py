"""Defacing baselines behind one interface: ``get_baseline(name, **overrides).anonymize(img) -> img``.

Each baseline is configured in ``conf/baseline/<name>.yaml`` (a ``_target_`` and its parameters) and
built with ``hydra.utils.instantiate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError

from baselines.base import Baseline

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "baseline"

__all__ = ["Baseline", "CONF_DIR", "available", "get_baseline"]


def available() -> list[str]:
    """Names of the configured baselines."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def get_baseline(name: str, **overrides: Any) -> Baseline:
    """Build the baseline configured in ``conf/baseline/<name>.yaml``.

    Overrides replace config values; dotted keys reach nested ones (``**{"registration.seed": 3}``).
    Values that are not plain data (a ``BrainMasker``, say) are passed to the constructor as they are.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise BenchmarkError(f"unknown baseline {name!r}; choose one of {', '.join(available())}", path)
    cfg = OmegaConf.load(path)
    objects = {}
    for key, value in overrides.items():
        if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict)):
            OmegaConf.update(cfg, key, value, force_add=True)
        else:
            objects[key] = value
    baseline = instantiate(cfg, **objects)
    if not isinstance(baseline, Baseline):
        raise BenchmarkError(f"{cfg.get('_target_')} is not a Baseline", path)
    return baseline
