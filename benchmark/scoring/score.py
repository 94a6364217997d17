"""``score submission=<dir>``: attack a submission at each knowledge level and compute the metrics.

For each split (dev, test), condition (mri2mri, photo2mri), attack and knowledge level, the trial
list is scored and the metrics of :mod:`benchmark.metrics` are computed with person-level bootstrap
intervals and, per split, chance levels from person permutations (:mod:`benchmark.scoring.chance`). Keys follow DESIGN.md: ``<condition>/<attack>/<knowledge>/<metric>``.

Knowledge levels (VoicePrivacy's, adapted to faces):
- ``ignorant``: original enrollment (session-1 scans or photos), anonymised trials, pretrained model;
- ``lazy_informed``: mri2mri enrolls the submission's own anonymised session-1 volumes; photo2mri
  reconstructs the removed face (``fill``) before rendering the trials;
- ``semi_informed``: the recogniser adapted on the anonymised training pool (:mod:`benchmark.attacks.adapt`).

Every expensive product (embeddings) is cached on disk, writes are atomic, and a volume that fails is
reported in ``failures`` while the rest is scored.
"""

from __future__ import annotations

import dataclasses
import functools

import datetime as _dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

import benchmark.metrics as M
from benchmark.attacks import Attack, Embedding, get_attack
from benchmark.data.splits import TrialList
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_json, write_text
from benchmark.data.prepare import Prepared, prepare
from benchmark.core.progress import progress
from benchmark.scoring.chance import chance_metrics
from benchmark.submission.format import read_info, volume_path

KNOWLEDGE = ("ignorant", "lazy_informed", "semi_informed")
METRICS_WITH_CI = ("eer", "min_cllr", "linkability", "linkability_binned", "auc", "rank1", "rank5")


@dataclass
class TrialScores:
    """The scores of one trial list under one attacker."""

    split: str
    condition: str
    attack: str
    knowledge: str
    lines: list[tuple[str, str, bool, float]]  # enroll_id, trial_id, target, score
    enroll_person: dict[str, str]
    trial_person: dict[str, str]
    detected: dict[str, bool]  # trial id -> face detected in its render

    @property
    def key(self) -> str:
        return f"{self.condition}/{self.attack}/{self.knowledge}"

    def arrays(self) -> M.Trials:
        return M.Trials(scores=np.array([s for *_, s in self.lines], float),
                        mated=np.array([t for _, _, t, _ in self.lines], bool),
                        enroll_subject=np.array([self.enroll_person[e] for e, *_ in self.lines]),
                        trial_subject=np.array([self.trial_person[t] for _, t, *_ in self.lines]))

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores (n_enroll, n_trial), enroll identities, trial identities) for rank-k."""
        enrolls = sorted({e for e, *_ in self.lines})
        trials = sorted({t for _, t, *_ in self.lines})
        ei = {e: i for i, e in enumerate(enrolls)}
        ti = {t: i for i, t in enumerate(trials)}
        mat = np.full((len(enrolls), len(trials)), -np.inf)
        for e, t, _, s in self.lines:
            mat[ei[e], ti[t]] = s
        return (mat, np.array([self.enroll_person[e] for e in enrolls]),
                np.array([self.trial_person[t] for t in trials]))


class Scorer:
    """Embeds the samples of a prepared dataset and a submission, with one failure not stopping the rest."""

    def __init__(self, prepared: Prepared, submission: Path, show: bool = True):
        self.prepared = prepared
        self.submission = submission
        self.show = show
        self.key = prepared.splits.volume_key()
        self.failures: dict[str, str] = {}

    def _safe(self, sample_id: str, fn: Callable[[], Embedding]) -> Embedding | None:
        if sample_id in self.failures:
            return None
        try:
            return fn()
        except BenchmarkError as exc:
            self.failures[sample_id] = str(exc)
        except Exception as exc:  # a library failing on one volume must not stop the run
            self.failures[sample_id] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return None

    def original_volume(self, attack: Attack, vid: str) -> Embedding | None:
        v = self.key[vid]
        path = self.prepared.dataset.session(v.participant_id, v.session_id).t1w
        return self._safe(vid, lambda: attack.embed_volume_file(path))

    def submitted_volume(self, attack: Attack, vid: str) -> Embedding | None:
        return self._safe(vid, lambda: attack.embed_volume_file(volume_path(self.submission, vid)))

    def photos(self, attack: Attack, enroll_id: str) -> Embedding | None:
        pid = self.prepared.splits.enrollments[enroll_id]
        paths = self.prepared.dataset.participant(pid).photos
        return self._safe(enroll_id, lambda: attack.embed_photo_files(paths))

    def score(self, tl: TrialList, attack: Attack, attack_name: str, knowledge: str,
              trial_attack: Attack | None = None) -> TrialScores:
        """Score a trial list; ``trial_attack`` embeds the trials when it differs (``fill``)."""
        trial_attack = trial_attack or attack
        enroll_ids = sorted(tl.enroll)
        trial_ids = sorted({t.trial_id for t in tl.trials})
        if tl.condition == "photo2mri":
            enroll = {e: self.photos(attack, e) for e in progress(enroll_ids, "enroll photos", self.show)}
        elif knowledge == "lazy_informed":
            enroll = {e: self.submitted_volume(attack, e) for e in progress(enroll_ids, "enroll (anonymised)", self.show)}
        else:
            enroll = {e: self.original_volume(attack, e) for e in progress(enroll_ids, "enroll volumes", self.show)}
        fitted = [e for e in enroll.values() if e is not None]
        if len(fitted) >= 2:
            attack.fit(fitted)  # scikit-learn habit: statistics from enrollment only (geo's z-scoring)
        trials = {t: self.submitted_volume(trial_attack, t)
                  for t in progress(trial_ids, f"{tl.split}/{tl.condition}/{attack_name}/{knowledge}", self.show)}
        lines = [(t.enroll_id, t.trial_id, t.target, attack.similarity(enroll[t.enroll_id], trials[t.trial_id]))
                 for t in tl.trials if enroll.get(t.enroll_id) is not None and trials.get(t.trial_id) is not None]
        return TrialScores(tl.split, tl.condition, attack_name, knowledge, lines, dict(tl.enroll),
                           {t: self.key[t].participant_id for t in trial_ids},
                           {t: e.detected for t, e in trials.items() if e is not None})


def trial_metrics(ts: TrialScores, n_boot: int, level: float, seed: int = 0) -> dict[str, float]:
    """The metrics of one scored trial list, keyed ``<condition>/<attack>/<knowledge>/<metric>``.

    The keys of ``METRICS_WITH_CI`` carry person-level bootstrap intervals (``_ci_low``, ``_ci_high``;
    rank-k over probe persons, :func:`benchmark.metrics.rank_k_ci`). ``linkability`` is the smoothed
    D<->sys (:func:`benchmark.metrics.smooth_linkability`, at least 2 mated trials);
    ``linkability_binned`` the VoicePrivacy value, which needs at least 10 mated trials: its bins are
    n_mated // 10, but at least 2 (from 10 to 19 mated trials the reference's single bin gives D = 0
    whatever the scores); below 10 it is left out.
    """
    tr = ts.arrays()
    mated, nonmated = tr.scores[tr.mated], tr.scores[~tr.mated]
    metric = {name: name for name in ("eer", "min_cllr", "auc")}
    if len(mated) >= 2:
        metric["linkability"] = M.smooth_linkability
    if len(mated) >= 20:
        metric["linkability_binned"] = "linkability"
    elif len(mated) >= 10:
        metric["linkability_binned"] = functools.partial(M.linkability, n_bins=2)
    out: dict[str, float] = {}
    for name, fn in metric.items():
        out[name] = float((getattr(M, fn) if isinstance(fn, str) else fn)(mated, nonmated))
        if n_boot > 0:
            lo, hi = M.bootstrap_ci(fn, tr, unit="subject", n=n_boot, seed=seed, level=level)
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    mat, eid, tid = ts.matrix()
    for k in (1, 5):
        out[f"rank{k}"] = float(M.rank_k(mat, eid, tid, k))
        if n_boot > 0:
            lo, hi = M.rank_k_ci(mat, eid, tid, k, n=n_boot, seed=seed, level=level)
            out[f"rank{k}_ci_low"], out[f"rank{k}_ci_high"] = lo, hi
    out["detection_rate"] = float(np.mean(list(ts.detected.values()))) if ts.detected else 0.0
    out["n_trials"] = float(len(ts.lines))
    return {f"{ts.key}/{k}": v for k, v in out.items()}


def privacy_summary(flat: dict[str, float]) -> tuple[dict[str, float], dict[str, str]]:
    """Worst case over every attacker: the minimum EER and the maximum linkability, and who got them."""
    eers = {k[: -len("/eer")]: v for k, v in flat.items() if k.endswith("/eer") and k.count("/") == 3}
    links = {k[: -len("/linkability")]: v for k, v in flat.items() if k.endswith("/linkability") and k.count("/") == 3}
    values: dict[str, float] = {}
    who: dict[str, str] = {}
    if eers:
        worst = min(eers, key=lambda k: (eers[k], k))
        values["privacy/worst_eer"], who["worst_eer_attacker"] = eers[worst], worst
    if links:
        worst = max(links, key=lambda k: (links[k], k))
        values["privacy/worst_linkability"], who["worst_linkability_attacker"] = links[worst], worst
    return values, who


def write_scores(ts: TrialScores, folder: Path) -> Path:
    """VoicePrivacy-style score file: ``<enroll_id> <trial_id> <score>``."""
    path = folder / "scores" / ts.split / f"{ts.key.replace('/', '__')}.txt"
    write_text(path, "".join(f"{e} {t} {s:.6f}\n" for e, t, _, s in ts.lines))
    return path


def _attackers(cfg: DictConfig, prepared: Prepared, submission: Path) -> tuple[dict, list[str]]:
    """(attack, knowledge) -> (enrollment attack, trial attack), and messages for levels skipped.

    Lazy-informed photo2mri trials use the attack with ``fill``; the semi-informed attacker is the
    attack with a back end adapted on the submission's anonymised training pool (:mod:`benchmark.attacks.adapt`).
    """
    sc = cfg.scoring
    cache_root = str(Path(cfg.paths.cache_dir) / "embeddings")
    out, messages = {}, []
    for name in sc.attacks:
        base = get_attack(name, cache_root=cache_root)
        for level in sc.knowledge:
            if level == "semi_informed":
                pool = _training_pool(prepared, submission)
                if len(pool.persons) < 2:
                    messages.append(f"{name}/semi_informed: skipped, the training pool has fewer than two persons")
                    continue
                from benchmark.attacks.adapt import adapt_attack, summary

                # its own instance: the back end refits the attack's statistics (geo's z-scoring)
                adapted = adapt_attack(get_attack(name, cache_root=cache_root), pool, sc.adapt,
                                       Path(cfg.paths.cache_dir) / "adapted", cfg.progress)
                messages.append(f"{name}/semi_informed: {summary(adapted)}")
                out[(name, level)] = (adapted, adapted)
            elif level == "lazy_informed":
                out[(name, level)] = (base, get_attack(name, cache_root=cache_root, fill=True))
            else:
                out[(name, level)] = (base, base)
    return out, messages


def _training_pool(prepared: Prepared, submission: Path):
    """The semi-informed attacker's pool: the train persons' sessions as the submission anonymised them,
    the same sessions in the original (the attacker anonymised a pool it holds) and their photographs."""
    from benchmark.attacks.adapt import Pool

    train = [v for v in prepared.splits.volumes if v.role == "train"]
    anonymised = [(volume_path(submission, v.pseudonym), v.participant_id, v.session_id) for v in train]
    original = [(prepared.dataset.session(v.participant_id, v.session_id).t1w, v.participant_id, v.session_id)
                for v in train]
    photos = {pid: list(prepared.dataset.participant(pid).photos) for pid in sorted({v.participant_id for v in train})}
    return Pool(anonymised=anonymised, original=original, photos=photos)


def score_submission(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path) -> dict[str, Any]:
    sc = cfg.scoring
    info = read_info(submission)
    unknown = sorted(set(sc.knowledge) - set(KNOWLEDGE))
    if unknown:
        raise BenchmarkError(f"config: 'scoring.knowledge': unknown level(s) {unknown}; choose from {list(KNOWLEDGE)}")
    scorer = Scorer(prepared, submission, show=cfg.progress)
    attackers, messages = _attackers(cfg, prepared, submission)
    results: dict[str, Any] = {"submission": {"team": info.team, "system": info.system, "path": str(submission)},
                               "splits": {}, "privacy": {}, "failures": [],
                               "messages": list(prepared.splits.messages) + messages}
    artifacts: list[Path] = []
    for split in sc.splits:
        flat: dict[str, float] = {}
        scored: list[TrialScores] = []
        for tl in prepared.splits.trial_lists:
            if tl.split != split or tl.condition not in sc.conditions:
                continue
            for (name, level), (enroll_attack, trial_attack) in attackers.items():
                if tl.condition == "mri2mri" or level != "lazy_informed":
                    ts = scorer.score(tl, enroll_attack, name, level)
                else:
                    ts = scorer.score(tl, enroll_attack, name, level, trial_attack=trial_attack)
                if not ts.lines:
                    continue
                artifacts.append(write_scores(ts, out_dir))
                scored.append(ts)
                flat.update(trial_metrics(ts, sc.bootstrap, sc.ci_level, seed=cfg.seed))
                if sc.plots:
                    artifacts += _plots(ts, out_dir)
        summary, who = privacy_summary(flat)
        flat.update(summary)
        if sc.permutations > 0 and scored:
            chance, notes = chance_metrics({ts.key: M.ScoreMatrix(*ts.matrix()) for ts in scored},
                                           sc.permutations, cfg.seed)
            flat.update(chance)
            results["messages"] += [f"{split}: {note}" for note in notes]
        if sc.attributes:
            flat.update(_attributes(cfg, scorer, split, attackers, results["messages"]))
        if sc.utility:
            flat.update(_utility(cfg, prepared, scorer, split))
        results["splits"][split] = dict(sorted(flat.items()))
        results["privacy"][split] = who
    results["failures"] = [{"id": k, "error": v} for k, v in sorted(scorer.failures.items())]
    results["artifacts"] = sorted(str(p.relative_to(out_dir)) for p in artifacts)
    return results


def _attributes(cfg: DictConfig, scorer: Scorer, split: str, attackers: dict, messages: list[str]) -> dict[str, float]:
    """``attributes/<attack>/*`` (:mod:`benchmark.scoring.attributes`): the ignorant attacker's recogniser (original
    enrollment, pretrained model) embeds; messages for what could not be inferred are appended."""
    from benchmark.scoring.attributes import attribute_results

    sc = cfg.scoring
    cache_root = str(Path(cfg.paths.cache_dir) / "embeddings")
    attacks = {name: (attackers[(name, "ignorant")][0] if (name, "ignorant") in attackers
                      else get_attack(name, cache_root=cache_root)) for name in sc.attacks}
    flat, msgs = attribute_results(scorer, split, attacks, sc.bootstrap, sc.ci_level, cfg.seed, cfg.progress)
    messages.extend(msgs)
    return flat


def _plots(ts: TrialScores, out_dir: Path) -> list[Path]:
    tr = ts.arrays()
    mated, nonmated = tr.scores[tr.mated], tr.scores[~tr.mated]
    if len(mated) == 0 or len(nonmated) == 0:
        return []
    stem = out_dir / "plots" / ts.split / ts.key.replace("/", "__")
    paths = M.det_plot(mated, nonmated, stem.with_name(stem.name + "__det"), label=ts.key)
    paths += M.cmc_plot(*ts.matrix(), stem.with_name(stem.name + "__cmc"), label=ts.key)
    if len(mated) >= 10:  # the linkability histogram: n_mated // 10 bins, at least 2 (see trial_metrics)
        paths += M.linkability_plot(mated, nonmated, stem.with_name(stem.name + "__linkability"),
                                    n_bins=max(2, len(mated) // 10))
    return [Path(p) for p in paths]


def _utility(cfg: DictConfig, prepared: Prepared, scorer: Scorer, split: str) -> dict[str, float]:
    """Brain preservation of the split's anonymised trial volumes (one scan per person) against their
    originals: a cohort sample of what the defacing did to the brain (deepbet masks, about 5 s a volume)."""
    from benchmark.data.volume import load_volume
    from benchmark.anatomy.preservation import brain_preservation, summarise

    rows = []
    vids = [v.pseudonym for v in prepared.splits.volumes if v.split == split and v.role == "trial"]
    for vid in progress(vids, f"utility ({split})", cfg.progress):
        v = scorer.key[vid]
        try:
            original = load_volume(prepared.dataset.session(v.participant_id, v.session_id).t1w,
                                   cfg.limits.max_voxels, canonical=False)
            anonymised = load_volume(volume_path(scorer.submission, vid), cfg.limits.max_voxels, canonical=False)
            rows.append(brain_preservation(original, anonymised))
        except BenchmarkError as exc:
            scorer.failures.setdefault(vid, str(exc))
    return {f"utility/{k}": float(v) for k, v in summarise(rows).items()} if rows else {}


def default_output_dir(cfg: DictConfig, team: str, system: str, command: str = "score") -> Path:
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path(cfg.paths.outputs_dir) / command / stamp / f"{team}-{system}"


def evaluate(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path | None = None,
             command: str = "score") -> tuple[Path, dict[str, Any]]:
    """Validate, score and track one submission; returns (results.json path, results).

    A submission that fails validation is not scored: it is tracked with its reason (unranked on the
    leaderboard) and its results hold no split. A scored submission gets the ``none`` baseline's figures
    for the same keys as its ``reference`` block (:mod:`benchmark.scoring.reference`); scoring ``none`` itself
    caches them.
    """
    from benchmark.submission.unpack import is_archive, scratch_target
    from benchmark.submission.validate import validation_config

    limits = validation_config(cfg)
    if is_archive(submission) and submission.is_file() and not limits.unpack_dir:
        # scoring reads the unpacked volumes after validation: unpack beside the cache, remove after
        with scratch_target(cfg.paths.cache_dir, submission) as target:
            return _evaluate(cfg, prepared, submission, out_dir, command,
                             dataclasses.replace(limits, unpack_dir=str(target)))
    return _evaluate(cfg, prepared, submission, out_dir, command, limits)


def _scored(cfg: DictConfig, prepared: Prepared, root: Path, out_dir: Path) -> dict[str, Any]:
    """The results of the valid submission folder ``root``: scored now, or an unchanged submission's
    from the result cache (:mod:`benchmark.scoring.result_cache`), its score files and plots copied to ``out_dir``."""
    import benchmark.scoring.result_cache as result_cache

    entry = result_cache.key(cfg, prepared, root)
    hit = result_cache.load(cfg, entry, plots=cfg.scoring.plots) if cfg.scoring.get("reuse", True) else None
    if hit is not None:
        results, folder = hit
        result_cache.copy_artifacts(results, folder, out_dir)
        results["reused"] = str(folder)  # provenance: these figures were computed by an earlier run
        return results
    results = score_submission(cfg, prepared, root, out_dir)
    result_cache.save(cfg, entry, results, out_dir, cfg.scoring.plots)
    return results


def _evaluate(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path | None, command: str,
              limits) -> tuple[Path, dict[str, Any]]:
    from benchmark.scoring.reference import add_reference
    from benchmark.tracking import log_results
    from benchmark.submission.validate import report_path, validate_submission, write_report

    report = validate_submission(submission, prepared.kit, limits)
    write_report(report, report_path(submission, limits))
    team = report.team or submission.name
    system = report.system or "?"
    out_dir = out_dir or default_output_dir(cfg, team, system, command)
    if report.ok:
        results = _scored(cfg, prepared, Path(report.root or submission), out_dir)
        add_reference(cfg, prepared, results)  # none's figures, same keys
        results["submission"]["path"] = str(submission)  # the archive, not its scratch folder
    else:
        results = {"submission": {"team": team, "system": system, "path": str(submission)}, "splits": {},
                   "privacy": {}, "failures": [], "messages": [f"validation failed: {report.reason()}"]}
    results["validation"] = {"ok": report.ok, "reason": "" if report.ok else report.reason()}
    path = write_json(out_dir / "results.json", results)
    write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    write_json(out_dir / "validation.json", report.to_dict())
    artifacts = {f"{split}/{kind}": [out_dir / kind / split] for split in results["splits"]
                 for kind in ("plots", "scores") if (out_dir / kind / split).is_dir()}
    log_results(results, OmegaConf.to_container(cfg, resolve=True), cfg.tracking, artifacts, report.to_dict())
    return path, results


def run(cfg: DictConfig) -> int:
    if not cfg.submission:
        raise BenchmarkError("give the submission to score: submission=<dir>")
    submission = Path(cfg.submission)
    prepared = prepare(cfg)
    path, results = evaluate(cfg, prepared, submission, Path(cfg.output_dir) if cfg.output_dir else None)
    if not results["validation"]["ok"]:
        print(f"error: {submission}: not a valid submission: {results['validation']['reason']} "
              f"(tracked unranked; details in {path.parent / 'validation.json'})", file=sys.stderr)
        print(path)
        return 2
    print(path)
    return 0
