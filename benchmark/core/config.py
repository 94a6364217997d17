"""Structured configs: the top-level schema, and typed schemas derived from each component's class.

Hydra composes ``conf/``; the top-level :class:`Config` dataclass checks every fixed key and type.
Each group node (``dataset``, ``baseline``, ``attack`` ...) names its class in ``_target_``; its schema is
derived from that class's fields or ``__init__`` signature (:func:`schema_for`), so a wrong key or
type in any group is caught before anything runs, with the key named, and the class stays the one
place where a component's parameters are declared.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, TypeVar

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import CONDITIONS, KNOWLEDGE, TEST
from benchmark.core.shards import ExecutorConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
DEFAULT_MAX_VOXELS = 1 << 28  # a header declaring more voxels is refused before any array is allocated


@dataclass
class SplitFractions:
    """The config's ``splits`` node: the share of persons in each split (benchmark.data.splits)."""

    dev: float = 0.2
    test: float = 0.4
    train: float = 0.4
    min_persons: int = 10  # smaller cohorts put every person in test
    seed: int = 0


@dataclass
class ValidationConfig:
    """Limits and tolerances of ``validate``; the config's ``validation`` node."""

    affine_atol: float = 1e-3  # mm: largest difference allowed in any affine entry
    max_file_mb: float = 200.0  # per volume file, as stored (compressed)
    max_total_gb: float = 50.0  # all files of the submission together
    max_unpacked_gb: float = 60.0  # an archive may not unpack to more than this
    max_members: int = 100_000  # an archive may not hold more members than this
    max_voxels: int = DEFAULT_MAX_VOXELS  # a header declaring more is refused before reading; run() takes limits.max_voxels
    check_data: bool = True  # read every voxel: finite, not all zero, not truncated
    workers: int = 0  # volumes checked in parallel (threads; gzip releases the GIL); 0: the top-level workers
    report: Optional[str] = None  # where validation.json goes; default: in the submission folder, or beside the archive
    unpack_dir: Optional[str] = None  # where an archive is unpacked (kept); default: a temporary folder, removed
    ignore_extra: bool = False  # ids outside the kit's list are a warning, not an error (scoring from a dev kit)


@dataclass
class LeaderboardConfig:
    """The config's ``leaderboard`` node (output folder: ``paths.leaderboard_dir``)."""

    split: str = TEST  # the split that ranks
    reference: str = "baseline/none"  # team/system of the reference row
    title: str = "Defacing privacy challenge: leaderboard"
    renders: int = 4  # persons of the split rendered, defaced beside the original, for each submission page


@dataclass
class PathsConfig:
    cache_dir: str = ".cache"  # renders, embeddings, brain masks, generated cohorts
    prepared_dir: str = "prepared"  # splits, trial lists, keys (organiser-only) and the participant kit
    submissions_dir: str = "submissions"
    leaderboard_dir: str = "leaderboard"
    outputs_dir: str = "outputs"


@dataclass
class LimitsConfig:
    max_voxels: int = DEFAULT_MAX_VOXELS


@dataclass
class PrepareConfig:
    write_kit: bool = True  # also write the participant kit (volumes under pseudonyms, list of ids)
    write_dev_kit: bool = True  # and the dev kit beside it (dev split with keys: benchmark.data.devkit)


@dataclass
class FinetuneConfig:
    """Training of the semi-informed attacker's embedding head with the ArcFace loss (benchmark.attacks.adapt).

    The head is a linear map started at the identity and pulled back to it (L2-SP); its checkpoints
    every ``eval_every`` epochs compete with the pretrained recogniser in cross-validation on the pool.
    With ``network: true`` the ArcFace recogniser's output block is also fine-tuned first (slower).
    """

    epochs: int = 40  # 0: no head
    eval_every: int = 10  # checkpoint (candidate) interval, epochs
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    l2sp: float = 1e-3  # weight of ||W - I||^2 (L2-SP: stay near the pretrained map)
    margin: float = 0.2  # additive angular margin m, radians
    scale: float = 32.0  # s
    # Optional safety cap in seconds per training run; off by default because a wall-clock cap makes the
    # adapted attacker (and so the figures) depend on the machine's load. Runs stop after ``epochs``.
    budget_s: Optional[float] = None
    seed: int = 0
    network: bool = False  # ArcFace only: also fine-tune the recogniser's output block (cached)
    weight_decay: float = 5e-4  # network fine-tuning only


@dataclass
class AdaptConfig:
    """How the semi-informed attacker adapts to a submission on its anonymised training pool."""

    # augmentation views for training (the attack's own views come first); each costs a render per pool volume
    views: list[Any] = field(default_factory=lambda: [{}, {"azimuth": -12}, {"azimuth": 12}])
    folds: int = 3  # person-level cross-validation folds on the pool for choosing the back end
    shift: bool = True  # candidate: mean shift of anonymised trials onto the enrollment domain
    snorm: bool = True  # candidate: S-norm against pool cohorts
    min_gain: float = 0.0  # a candidate must beat the pretrained recogniser's pool EER by this much
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass
class ScoringConfig:
    splits: list[str] = field(default_factory=lambda: [TEST])
    conditions: list[str] = field(default_factory=lambda: list(CONDITIONS))
    # names in conf/attack (attack=<name>: that one); shape and anatomy score mri2mri only, anatomy is
    # context (not in the worst case)
    attacks: list[str] = field(default_factory=lambda: ["arcface", "dlib", "geo", "shape", "anatomy"])
    knowledge: list[str] = field(default_factory=lambda: list(KNOWLEDGE))
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    bootstrap: int = 1000  # person-level resamples for the confidence intervals; 0 = none
    ci_level: float = 0.95
    permutations: int = 1000  # person relabellings for the chance levels (<key>_chance, _p); 0 = none
    utility: bool = True  # brain preservation of every anonymised volume
    attributes: bool = True  # attribute inference (age, sex) from the trial embeddings (benchmark.scoring.attributes)
    reference: bool = True  # add the 'none' baseline's figures as results.json's reference block
    plots: bool = True  # DET, CMC and linkability plots
    reuse: bool = True  # an unchanged submission's cached results (benchmark.scoring.result_cache); false: score anew
    # > 1: the per-volume work (embeddings, brain masks; anonymisation of the baselines) runs as this many
    # submitit jobs filling the shared cache, then this process assembles the results (benchmark.scoring.shards)
    shards: int = 1
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)


@dataclass
class AnglesStudyConfig:
    """``study angles``: the trial renders' camera grid, degrees (inclusive ranges)."""

    azimuth: list[float] = field(default_factory=lambda: [-60.0, 60.0])
    elevation: list[float] = field(default_factory=lambda: [-30.0, 30.0])
    azimuth_step: float = 30.0
    elevation_step: float = 15.0


@dataclass
class ColourStudyConfig:
    """``study colour``: the photo2mri variants compared (grey renders, colour renders, grey photographs)."""

    variants: list[str] = field(default_factory=lambda: ["grey", "colour", "grey_photo"])
    skin_rgb: list[float] = field(default_factory=lambda: [0.80, 0.62, 0.52])  # the colour renders' albedo, a mid skin tone


@dataclass
class StudiesConfig:
    """The ``study`` command's options (benchmark.studies); each study has its own node."""

    split: str = TEST
    conditions: list[str] = field(default_factory=lambda: list(CONDITIONS))
    bootstrap: int = 200  # person-level resamples for the intervals; 0 = none
    angles: AnglesStudyConfig = field(default_factory=AnglesStudyConfig)
    colour: ColourStudyConfig = field(default_factory=ColourStudyConfig)


@dataclass
class Config:
    dataset: Any = None
    baseline: Any = None
    attack: Any = None  # attack=<name> (conf/attack): score with that attack only, instead of scoring.attacks
    tracking: Any = None
    splits: SplitFractions = field(default_factory=SplitFractions)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    baselines: list[str] = field(default_factory=lambda: ["none", "quickshear", "facemask", "blur", "refacing", "erase"])
    submissions: list[str] = field(default_factory=list)  # extra submission folders for run
    submission: str = ""  # a submission folder or archive (validate, score)
    kit_dir: str = ""  # the participant kit to validate against; default: the prepared one
    kit: str = ""  # score: a dev kit folder (kit-dev) to score from alone, without the organiser's files
    split: str = ""  # score/run: score this split only (scoring.splits=[split]); with kit=: dev
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    leaderboard: LeaderboardConfig = field(default_factory=LeaderboardConfig)
    output_dir: str = ""  # where score writes; default outputs/score/<date>/<team>-<system>
    study: str = ""  # the study the study command runs (python -m benchmark study <name>)
    studies: StudiesConfig = field(default_factory=StudiesConfig)
    progress: bool = True
    workers: int = 1  # processes for per-volume work (anonymisation); results equal a serial run's
    seed: int = 0


_SIMPLE = (int, float, str, bool)


def _omegaconf_type(tp: Any) -> Any:
    """The annotation if OmegaConf can validate it, else Any."""
    if tp in _SIMPLE:
        return tp
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union and len(args) == 2 and type(None) in args:
        inner = _omegaconf_type(next(a for a in args if a is not type(None)))
        return typing.Optional[inner] if inner is not Any else Any
    if origin in (list, tuple) and args and args[0] in _SIMPLE:
        return list[args[0]]
    return Any


@lru_cache(maxsize=None)
def schema_for(target: str) -> type:
    """A dataclass with ``_target_`` and the typed parameters of the class ``target`` names."""
    cls = get_class(target)
    params: list[tuple[str, Any, Any]] = [("_target_", str, field(default=target))]
    hints = typing.get_type_hints(cls.__init__ if not dataclasses.is_dataclass(cls) else cls)
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else "???")
            params.append((f.name, _omegaconf_type(hints.get(f.name, Any)), field(default_factory=lambda d=default: d)))
    else:
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            default = "???" if p.default is inspect.Parameter.empty else p.default
            params.append((name, _omegaconf_type(hints.get(name, Any)), field(default_factory=lambda d=default: d)))
    return dataclasses.make_dataclass(f"{cls.__name__}Config", params)


def validate_node(node: DictConfig, where: str) -> DictConfig:
    """Merge a component node onto its class's schema; a wrong key or type raises BenchmarkError."""
    if node is None:
        return node
    target = node.get("_target_")
    if not target:
        if isinstance(node, (DictConfig, dict)) and len(node):  # options set on the command line, no class
            keys = ", ".join(f"{where}.{k}" for k in node)
            raise BenchmarkError(f"config: '{where}': {keys} set but no {where} chosen (add {where}=<name>, "
                                 f"one of conf/{where}/)")
        raise BenchmarkError(f"config group '{where}' has no _target_")
    try:
        if isinstance(node, DictConfig):  # resolve ${...} against the whole config while it is attached
            node = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
        schema = OmegaConf.structured(schema_for(target))
        merged = OmegaConf.merge(schema, node)
    except OmegaConfBaseException as exc:
        raise BenchmarkError(config_error_line(exc, prefix=where)) from None
    except (ImportError, ValueError) as exc:
        raise BenchmarkError(f"config: '{where}._target_': cannot load {target} ({exc})") from None
    return merged


def config_error_line(exc: BaseException, prefix: str = "") -> str:
    """One line naming the key: "config: 'dataset.n_persons': Value 'x' could not be converted to Integer"."""
    cause = exc
    while cause.__cause__ is not None and not getattr(cause, "full_key", None):
        cause = cause.__cause__
    key = getattr(cause, "full_key", None) or getattr(cause, "key", None) or ""
    if prefix and key and not str(key).startswith(prefix):
        key = f"{prefix}.{key}"
    msg = str(getattr(cause, "msg", None) or cause).strip().splitlines()
    msg = msg[0] if msg else type(cause).__name__
    return f"config: '{key}': {msg}" if key else f"config: {msg}"


T = TypeVar("T")


def typed(cls: type[T], node: Any, where: str) -> T:
    """The config node ``where`` (a DictConfig, a dict or None: the defaults) as the dataclass ``cls``."""
    if node is None:
        return cls()
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    values.pop("_target_", None)
    try:
        return cls(**values)
    except TypeError as exc:
        raise BenchmarkError(f"config: '{where}': {exc}") from None


def register() -> None:
    ConfigStore.instance().store(name="base_config", node=Config)
