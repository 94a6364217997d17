"""Scored results kept by everything they depend on, so that an unchanged submission is scored once.

Scoring a submission is a pure function of its volumes and ``submission.yaml``, the prepared cohort,
the scoring config (``scoring.*`` but ``plots``, ``reference``, ``reuse``, ``shards`` and ``executor``), the seed, the limits,
the attacks' configs and the code scoring runs (:func:`code_modules`: the scoring path and the modules of
the classes the attack configs instantiate, hashed by :func:`benchmark.core.provenance.code_hash`; never the
leaderboard, tracking or command-line code). :func:`key` hashes all of them; an entry
``<paths.cache_dir>/results/<key>/`` holds the results (before the reference block and validation are
added) and the score files and plots they list. ``run`` and ``score`` copy a hit into the new output
folder (``results.json`` then records the entry as ``reused``) and track it as a new run;
``scoring.reuse=false`` scores anew. The ``none`` baseline's entry is
also the reference block of every other submission (:mod:`benchmark.scoring.reference`).

Entries are written to a temporary folder and renamed, so a killed run never leaves half an entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from omegaconf import DictConfig, OmegaConf

from benchmark.core.files import config_hash, file_lock, sha256_file, write_json
from benchmark.core.provenance import code_hash
from benchmark.data.prepared import Prepared
from benchmark.scoring.results import Results
from benchmark.scoring.attackers import attack_nodes
from benchmark.submission.format import volume_path

VERSION = 1  # bump when cached figures change meaning without a code change
NOT_FIGURES = ("plots", "reference", "reuse", "shards", "executor")  # scoring switches that change no figure
RESULTS = "results.json"
META = "entry.json"
SCORING = "benchmark.scoring.score"  # the scoring path: its imports reach the metrics, the scorer, the adaptation


def _targets(node: Any) -> set[str]:
    """Every ``_target_`` in a config container, nested ones too."""
    if isinstance(node, dict):
        return {t for v in node.values() for t in _targets(v)} | ({node["_target_"]} if "_target_" in node else set())
    if isinstance(node, list):
        return {t for v in node for t in _targets(v)}
    return set()


def code_modules(cfg: DictConfig) -> tuple[str, ...]:
    """The modules whose code the scored figures depend on: the scoring path and the modules of the classes
    the attack configs instantiate (reached only through ``_target_``, not by imports)."""
    targets = {t for node in attack_nodes(cfg).values() for t in _targets(OmegaConf.to_container(node, resolve=True))}
    return (SCORING, *sorted({t.rpartition(".")[0] for t in targets}))


def key(cfg: DictConfig, prepared: Prepared, submission: Path) -> str:
    """A hash of everything the scored figures of the submission folder ``submission`` depend on."""
    scoring = OmegaConf.to_container(cfg.scoring, resolve=True)
    for k in NOT_FIGURES:
        scoring.pop(k, None)
    attacks = {name: OmegaConf.to_container(node, resolve=True) for name, node in attack_nodes(cfg).items()}
    files = {vid: volume_path(submission, vid) for vid in prepared.ids()}
    files["submission.yaml"] = submission / "submission.yaml"
    content = {name: sha256_file(p) if p.is_file() else "" for name, p in files.items()}
    return config_hash({"version": VERSION, "code": code_hash(*code_modules(cfg)), "prepared": prepared.fingerprint, "scoring": scoring,
                        "seed": cfg.seed, "limits": OmegaConf.to_container(cfg.limits, resolve=True),
                        "attacks": attacks, "files": content})


def entry_dir(cfg: DictConfig, k: str) -> Path:
    return Path(cfg.paths.cache_dir) / "results" / k


@contextlib.contextmanager
def scoring(cfg: DictConfig, k: str) -> Iterator[None]:
    """Held while entry ``k`` is looked up and, when missing, scored and saved: a second process wanting the
    same entry (``run`` scores the reference beside the submissions that read it) waits for the first and
    then finds it, instead of scoring it again."""
    folder = entry_dir(cfg, k)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(folder.with_name(f".{k}.lock")):
        yield


def load(cfg: DictConfig, k: str, plots: bool = False) -> Optional[tuple[Results, Path]]:
    """(results, entry folder) of a finished entry, or None; with ``plots`` only an entry that has them."""
    folder = entry_dir(cfg, k)
    try:
        meta = json.loads((folder / META).read_text())
        results = Results.from_json(json.loads((folder / RESULTS).read_text()))
    except (OSError, ValueError):
        return None
    if plots and not meta.get("plots"):
        return None
    return results, folder


def save(cfg: DictConfig, k: str, results: Results, out_dir: Path, plots: bool) -> Path:
    """Keep ``results`` and the artifacts it lists (relative to ``out_dir``) as entry ``k``."""
    folder = entry_dir(cfg, k)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{k}.", dir=folder.parent))
    try:
        copy_artifacts(results, out_dir, tmp)
        results.write(tmp / RESULTS)
        write_json(tmp / META, {"plots": plots})  # written last: an entry without it is unfinished
        old = folder.with_name(f".{k}.old.{os.getpid()}")
        try:
            if folder.exists():  # an entry without plots, replaced by one with them
                os.replace(folder, old)
            os.replace(tmp, folder)
        except OSError:  # another process finished the same entry at the same moment: keep its
            pass
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def copy_artifacts(results: Results, src: Path, dst: Path) -> None:
    """Copy the artifacts ``results`` lists (paths relative to its output folder) from ``src`` to ``dst``:
    into an entry when saving it, out of it into a new output folder when reusing it."""
    for rel in results.artifacts or []:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)
