"""Composing a command's config: ``conf/config.yaml`` with Hydra overrides, checked against the schemas.

Every component group (``dataset``, ``baseline``, ``attack``, ``tracking``) is validated against its
class's schema (:func:`benchmark.core.config.validate_node`); a user's mistake is one line of
:class:`~benchmark.core.errors.BenchmarkError` naming the key.
"""

from __future__ import annotations

from typing import Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.core.config import CONF_DIR, config_error_line, register, validate_node
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import DEV

GROUPS = ("dataset", "baseline", "attack", "tracking")  # component groups, each checked against its class


def widened(overrides: Sequence[str]) -> list[str]:
    """``group.key=value`` of a component group as ``++group.key=value``: any parameter of the group's class
    can be set from the command line, listed in its YAML or not (``dataset.facial_hair_prob=1.0``); the
    class's schema, not the YAML's keys, then decides what is valid (:func:`checked`)."""
    out = []
    for o in overrides:
        name = o.split("=", 1)[0]
        out.append(f"++{o}" if "=" in o and "." in name and name.split(".", 1)[0] in GROUPS else o)
    return out


def compose(overrides: Sequence[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with overrides, checked against the schemas; one-line errors."""
    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose("config", overrides=widened(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise BenchmarkError(config_error_line(exc)) from None
    HydraConfig.instance().set_config(cfg)  # group choices (baseline=...) stay readable
    return checked(cfg)


def checked(cfg: DictConfig) -> DictConfig:
    """The config without its ``hydra`` node, each component group validated against its class's schema."""
    OmegaConf.set_struct(cfg, False)
    if "hydra" in cfg:
        del cfg["hydra"]
    OmegaConf.set_struct(cfg, True)
    for group in GROUPS:
        if cfg.get(group) is not None:
            OmegaConf.set_struct(cfg, False)
            cfg[group] = validate_node(cfg[group], group)
            OmegaConf.set_struct(cfg, True)
    return cfg


def chosen(key: str) -> str | None:
    """The value of ``key=...`` (or ``+key=``/``++key=``) among the command line's overrides, if given."""
    if not HydraConfig.initialized():
        return None
    for o in HydraConfig.get().overrides.task:
        name, _, value = str(o).partition("=")
        if name.lstrip("+") == key:
            return value
    return None


def apply_command(command: str, cfg: DictConfig) -> DictConfig:
    """What a command reads from the command line beyond the config: ``run baseline=X`` = ``baselines=[X]``,
    ``split=X`` = ``scoring.splits=[X]`` (``kit=<dev kit>`` alone: ``[dev]``)."""
    if cfg.get("split") or cfg.get("kit"):  # split=dev: scoring.splits=[dev]; a dev kit holds only dev
        OmegaConf.set_struct(cfg, False)
        cfg.scoring.splits = [cfg.split or DEV]
        OmegaConf.set_struct(cfg, True)
    if command == "run" and chosen("baseline") is not None:
        if chosen("baselines") is not None:
            raise BenchmarkError("give either baseline=<name> (one baseline, e.g. swept with -m) or "
                                 "baselines=[a,b], not both")
        OmegaConf.set_struct(cfg, False)
        cfg.baselines = [HydraConfig.get().runtime.choices["baseline"]]
        OmegaConf.set_struct(cfg, True)
    return cfg
