"""The attackers of a scoring run: each configured attack at each knowledge level.

The attacks are ``scoring.attacks`` (names in ``conf/attack``), or the one the command line chose with
``attack=<name>`` (with its overrides, ``attack.views=[...]``). Knowledge levels:

- ``ignorant``: the pretrained attack, original enrollment;
- ``lazy_informed``: photo2mri trials are embedded by the attack with ``fill`` (the removed face reconstructed);
- ``semi_informed``: the attack with a back end adapted on the submission's anonymised training pool
  (:mod:`benchmark.attacks.adapt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from benchmark.attacks import Attack
from benchmark.attacks.adapt import Pool, adapt_attack, summary
from benchmark.core import registry
from benchmark.core.keys import LAZY_INFORMED, SEMI_INFORMED, TRAIN
from benchmark.data.prepared import Prepared
from benchmark.submission.format import volume_path


def attack_nodes(cfg: DictConfig) -> dict[str, DictConfig]:
    """name -> config node of each attack scored: the chosen ``attack`` group, else ``scoring.attacks``."""
    if cfg.get("attack") is not None:
        return {str(cfg.attack.name): cfg.attack}
    return {name: registry.load("attack", name) for name in cfg.scoring.attacks}


def build_attack(cfg: DictConfig, name: str, node: DictConfig, **overrides: Any) -> Attack:
    """The attack ``node`` describes, its embeddings cached under ``<paths.cache_dir>/embeddings``."""
    return registry.build("attack", name, node=node, expected=Attack,
                          cache_root=str(Path(cfg.paths.cache_dir) / "embeddings"), **overrides)


def attackers(cfg: DictConfig, prepared: Prepared, submission: Path) -> tuple[dict, list[str]]:
    """(attack, knowledge) -> (enrollment attack, trial attack), and messages for levels skipped."""
    sc = cfg.scoring
    out, messages = {}, []
    for name, node in attack_nodes(cfg).items():
        base = build_attack(cfg, name, node)
        for level in sc.knowledge:
            if level == SEMI_INFORMED:
                pool = training_pool(prepared, submission)
                if len(pool.persons) < 2:
                    messages.append(f"{name}/{SEMI_INFORMED}: skipped, the training pool has fewer than two persons")
                    continue
                # its own instance: the back end refits the attack's statistics (geo's z-scoring)
                adapted = adapt_attack(build_attack(cfg, name, node), pool, sc.adapt,
                                       Path(cfg.paths.cache_dir) / "adapted", cfg.progress)
                messages.append(f"{name}/{SEMI_INFORMED}: {summary(adapted)}")
                out[(name, level)] = (adapted, adapted)
            elif level == LAZY_INFORMED:
                out[(name, level)] = (base, build_attack(cfg, name, node, fill=True))
            else:
                out[(name, level)] = (base, base)
    return out, messages


def training_pool(prepared: Prepared, submission: Path) -> Pool:
    """The semi-informed attacker's pool: the train persons' sessions as the submission anonymised them,
    the same sessions in the original (the attacker anonymised a pool it holds) and their photographs."""
    train = [v for v in prepared.splits.volumes if v.role == TRAIN]
    anonymised = [(volume_path(submission, v.pseudonym), v.participant_id, v.session_id) for v in train]
    original = [(prepared.dataset.session(v.participant_id, v.session_id).path, v.participant_id, v.session_id)
                for v in train]
    photos = {pid: list(prepared.dataset.participant(pid).photos) for pid in sorted({v.participant_id for v in train})}
    return Pool(anonymised=anonymised, original=original, photos=photos)
