"""``python -m benchmark <command> -m key=a,b ...``: Hydra's multirun, with Hydra's sweeper and launchers.

The sweep is Hydra's own (``Hydra.multirun`` with the config tree of ``conf/``, as ``@hydra.main`` would
run it): the basic sweeper expands ``baseline=none,blur`` or ``submission=a,b`` into jobs and the launcher
chosen by ``hydra/launcher`` runs them: Hydra's ``basic`` (one after another, the default), ``joblib_local``
(processes on one machine, hydra-joblib-launcher), ``local`` (submitit's local executor) or ``slurm``
(sbatch jobs, hydra-submitit-launcher). Each job runs the same command function as a single run.

Before anything is launched, every job's config is composed and checked against the schemas here (a typo
in the third value of a sweep fails in a second with one line, not after two jobs on a cluster), and jobs
that would write one folder are refused:

- ``anonymize``, ``run``: two jobs anonymising one baseline into one ``submissions/baseline-<name>``
  (one job's validation would meet the other's half-written files; different settings would mix volumes);
- ``score``, ``run``: one ``output_dir`` given for several jobs. Without ``output_dir`` each job writes its
  results into its own job folder, ``<hydra.sweep.dir>/<job number>`` (``outputs/multirun/...``).

What jobs share is safe to share: the disk cache and prepared lists are written atomically (a rename of a
complete file), a synthetic cohort is generated in a temporary folder and renamed, and concurrent writers
of the SQLite MLflow store are serialised (a file lock for the schema, retries on "database is locked").
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from hydra import version
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.cli.commands import dispatch
from benchmark.cli.compose import apply_command, checked, compose, widened
from benchmark.core import registry
from benchmark.core.config import CONF_DIR, config_error_line, register
from benchmark.core.errors import BenchmarkError
from benchmark.data.prepare import prepared_root
from benchmark.scoring.reference import REFERENCE_BASELINE
from benchmark.submission.anonymize import baseline_dir, baseline_name

log = logging.getLogger(__name__)


def expand(overrides: Sequence[str]) -> list[list[str]] | None:
    """The overrides of each job, as Hydra's basic sweeper will launch them; None for another sweeper."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise BenchmarkError(config_error_line(exc)) from None
    if any(o.key_or_group.startswith(("hydra/sweeper", "hydra.sweeper")) for o in parsed):
        return None  # another sweeper (optuna, ...) decides its jobs as it goes
    batches = BasicSweeper.split_arguments(parsed, None)
    return [job for batch in batches for job in batch]


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def _swept(jobs: Sequence[Sequence[str]]) -> set[str]:
    """The keys whose value differs between jobs."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for o in job:
            values.setdefault(_key(o), set()).add(o)
    return {k for k, v in values.items() if len(v) > 1 or any(len(job) and k not in map(_key, job) for job in jobs)}


def _describe(job: Sequence[str], swept: set[str]) -> str:
    shown = [o for o in job if _key(o) in swept]
    return " ".join(shown) or "(no override)"


def _baseline_folders(command: str, cfg: DictConfig) -> list[tuple[Path, str]]:
    """(folder, what its volumes are made from) for each baseline folder the job writes."""
    if command == "anonymize" and cfg.get("baseline") is not None:
        names = [baseline_name(cfg)]
    elif command == "run":
        names = list(dict.fromkeys([REFERENCE_BASELINE, *cfg.baselines]))  # run always makes none
    else:
        return []
    chosen = baseline_name(cfg) if cfg.get("baseline") is not None else None
    out = []
    for name in names:
        node = cfg.baseline if name == chosen else registry.load("baseline", name)
        node = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True, default=str)
        out.append((baseline_dir(cfg.paths.submissions_dir, name).resolve(),
                    f"{prepared_root(cfg).name}|{node}"))
    return out


def check_jobs(command: str, jobs: list[list[str]]) -> list[DictConfig]:
    """Compose and check every job's config; refuse two jobs writing the same folder."""
    swept = _swept(jobs)
    cfgs: list[DictConfig] = []
    submissions: dict[Path, tuple[int, str]] = {}
    outputs: dict[str, int] = {}
    for num, job in enumerate(jobs):
        try:
            cfg = apply_command(command, compose(job))
        except BenchmarkError as exc:
            raise BenchmarkError(f"job {num} ({_describe(job, swept)}): {exc}") from None
        cfgs.append(cfg)
        raw_subs = str(OmegaConf.to_container(cfg.paths, resolve=False).get("submissions_dir", ""))
        for folder, made_from in ([] if "${" in raw_subs else _baseline_folders(command, cfg)):
            # jobs may share a baseline folder only when they would make the same volumes (anonymize_kit
            # then takes a lock and the later job finds them done); different settings would wipe the
            # folder under a job still scoring it
            if folder in submissions and submissions[folder][1] != made_from:
                other = submissions[folder][0]
                raise BenchmarkError(
                    f"jobs {other} and {num} ({_describe(jobs[other], swept)} / {_describe(job, swept)}) would "
                    f"write {folder} with different settings; sweep baseline names, anonymise once and sweep "
                    "score -m, or give each job its own folder: 'paths.submissions_dir=submissions/${hydra:job.num}'")
            submissions.setdefault(folder, (num, made_from))
        if command in ("score", "run"):
            raw = OmegaConf.to_container(cfg, resolve=False).get("output_dir") or ""
            if raw and "${" not in raw:
                if raw in outputs:
                    raise BenchmarkError(
                        f"jobs {outputs[raw]} and {num} would both write output_dir={raw}; leave output_dir out "
                        "(each job writes into its own job folder) or make it differ per job, e.g. "
                        "output_dir=outputs/${hydra:job.num}")
                outputs[raw] = num
    return cfgs


def job(command: str, cfg: DictConfig) -> int:
    """One Hydra job: the command on its config, results in the job's own folder; user errors -> 2."""
    try:
        cfg = apply_command(command, checked(cfg))
        if command in ("score", "run") and not cfg.output_dir:
            OmegaConf.set_struct(cfg, False)
            cfg.output_dir = HydraConfig.get().runtime.output_dir
            OmegaConf.set_struct(cfg, True)
        return dispatch(command, cfg)
    except BenchmarkError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2


def multirun(command: str, overrides: Sequence[str], show_cfg: bool = False) -> int:
    """Run ``command`` over Hydra's sweep of ``overrides`` with the configured launcher; the worst exit status."""
    overrides = widened(overrides)
    jobs = expand(overrides)
    cfgs: list[DictConfig] = []
    if jobs is not None:
        cfgs = check_jobs(command, jobs)
        if show_cfg:
            for num, (job_overrides, cfg) in enumerate(zip(jobs, cfgs)):
                print(f"# job {num}: {' '.join(job_overrides)}\n{OmegaConf.to_yaml(cfg)}")
            return 0
    register()
    version.setbase("1.3")
    GlobalHydra.instance().clear()
    try:
        hydra = Hydra.create_main_hydra2(task_name=command,
                                         config_search_path=create_config_search_path(str(CONF_DIR)))
        returns = hydra.multirun(config_name="config", task_function=functools.partial(job, command),
                                 overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise BenchmarkError(config_error_line(exc)) from None
    finally:
        GlobalHydra.instance().clear()
    worst = 0
    done = [r for batch in returns for r in batch]
    swept = _swept([list(r.overrides or []) for r in done])
    for num, r in enumerate(done):
        rc = int(r.return_value or 0)
        worst = max(worst, rc)
        where = r.hydra_cfg.hydra.runtime.output_dir if r.hydra_cfg is not None else "?"
        status = "ok" if rc == 0 else f"failed (exit {rc})"
        print(f"job {num} ({_describe(r.overrides or [], swept)}): {status} -> {where}")
    if command == "run" and cfgs:
        # each job built the leaderboard when it finished; build it once more now that all have landed,
        # so the page holds every job's runs whatever order they finished in
        built = set()
        for cfg in cfgs:
            where = (json.dumps(OmegaConf.to_container(cfg.tracking, resolve=True), sort_keys=True, default=str),
                     str(Path(cfg.paths.leaderboard_dir).resolve()),
                     json.dumps(OmegaConf.to_container(cfg.leaderboard, resolve=True), sort_keys=True, default=str))
            if where not in built:
                built.add(where)
                print()
                dispatch("leaderboard", cfg)
    return worst
