"""One registry for every component (attacks, baselines, datasets, tracking): ``conf/<group>/<name>.yaml``.

A component's yaml names its class in ``_target_`` and sets its parameters; :func:`build` loads it,
applies keyword overrides, checks the node against the class's schema (:func:`benchmark.core.config.validate_node`)
and instantiates it with ``hydra.utils.instantiate``. Every mistake (unknown name, wrong key or type, an
option the class refuses) is one line of :class:`~benchmark.core.errors.BenchmarkError`.

Override rules: plain values (None, bool, numbers, strings, lists, tuples, dicts) replace config values,
dotted keys reaching nested ones (``**{"registration.seed": 3}``); other objects (a ``BrainMasker``, say)
are passed to the constructor as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.core.config import CONF_DIR, config_error_line, validate_node
from benchmark.core.errors import BenchmarkError

PLAIN = (bool, int, float, str, list, tuple, dict)


def available(group: str) -> list[str]:
    """Names of the components configured in ``conf/<group>``."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def load(group: str, name: str) -> DictConfig:
    """The node of ``conf/<group>/<name>.yaml``; an unknown name raises BenchmarkError listing the known ones."""
    path = config_path(group, name)
    if not path.is_file():
        raise BenchmarkError(f"unknown {group} '{name}'; available: {', '.join(available(group))}", path)
    return OmegaConf.load(path)


def build(group: str, name: Optional[str] = None, *, node: Optional[DictConfig] = None,
          expected: Optional[type] = None, **overrides: Any) -> Any:
    """The component ``conf/<group>/<name>.yaml`` describes, or ``node`` (a composed config's group node),
    with keyword ``overrides``, checked against its class's schema; ``expected``: the type it must have."""
    where = group if name is None else f"{group}.{name}"
    path = None if name is None else config_path(group, name)
    try:  # a composed node: ${...} resolve against the whole config while the node is attached to it
        node = load(group, name) if node is None else OmegaConf.create(OmegaConf.to_container(node, resolve=True))
    except OmegaConfBaseException as exc:
        raise BenchmarkError(config_error_line(exc, prefix=where), path) from None
    objects = {}
    for key, value in overrides.items():
        if value is None or isinstance(value, PLAIN):
            OmegaConf.update(node, key, value, merge=False, force_add=True)
        else:
            objects[key] = value
    try:
        component = instantiate(validate_node(node, where), **objects)
    except OmegaConfBaseException as exc:  # a mandatory value left unset (root: ???), a ${...} to nowhere
        raise BenchmarkError(config_error_line(exc, prefix=where), path) from None
    except InstantiationException as exc:  # an option the class itself refused
        cause = exc.__cause__
        if isinstance(cause, BenchmarkError):
            raise cause from None
        first = str(cause or exc).strip().splitlines()
        raise BenchmarkError(f"{where}: {first[0] if first else type(cause or exc).__name__}", path) from None
    if expected is not None and not isinstance(component, expected):
        raise BenchmarkError(f"{where}: {node.get('_target_')} is not a {expected.__name__}", path)
    return component


def config_path(group: str, name: str) -> Path:
    return CONF_DIR / group / f"{name}.yaml"
