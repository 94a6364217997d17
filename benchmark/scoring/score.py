"""Scoring a submission (the ``score`` command's work): attack it at each knowledge level, compute the metrics.

For each split (dev, test), condition (mri2mri, photo2mri), attack and knowledge level, the trial
list is scored and the metrics of :mod:`benchmark.metrics` are computed with person-level bootstrap
intervals and, per split, chance levels from person permutations (:mod:`benchmark.scoring.chance`).
Keys: ``<condition>/<attack>/<knowledge>/<metric>`` (:class:`benchmark.core.keys.MetricKey`).

Knowledge levels (VoicePrivacy's, adapted to faces):
- ``ignorant``: original enrollment (session-1 scans or photos), anonymised trials, pretrained model;
- ``lazy_informed``: mri2mri enrolls the submission's own anonymised session-1 volumes; photo2mri
  reconstructs the removed face (``fill``) before rendering the trials;
- ``semi_informed``: the recogniser adapted on the anonymised training pool (:mod:`benchmark.attacks.adapt`).

Every expensive product (embeddings) is cached on disk, writes are atomic, and a volume that fails (an
expected failure: :data:`benchmark.scoring.scorer.EXPECTED_FAILURES`) is reported in ``failures`` per
attacker while the rest is scored; so are volumes the submission copied unchanged and trial lists no
trial of which could be scored. Each split counts them in ``failures/count`` (``failures/copied``: the copies).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from threadpoolctl import threadpool_limits

import benchmark.metrics as M
from benchmark.anatomy.preservation import brain_preservation, summarise
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_text
from benchmark.core.keys import CONDITIONS, IGNORANT, KNOWLEDGE, LAZY_INFORMED, MRI2MRI, PHOTO2MRI, MetricKey
from benchmark.core.progress import progress
from benchmark.data.prepared import Prepared
from benchmark.data.volume import load_volume
from benchmark.scoring.attackers import attack_nodes, attackers, build_attack
from benchmark.scoring.attributes import attribute_results
from benchmark.scoring.chance import chance_metrics
from benchmark.scoring.results import Failure, Results, SubmissionInfo
from benchmark.scoring.scorer import Scorer, TrialScores
from benchmark.submission.format import read_info, volume_path

METRICS_WITH_CI = ("eer", "min_cllr", "linkability", "linkability_binned", "auc", "rank1", "rank5")


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
    out.update(distractor_metrics(mat, eid, tid))
    out["detection_rate"] = float(np.mean(list(ts.detected.values()))) if ts.detected else 0.0
    out["n_trials"] = float(len(ts.lines))
    return {str(ts.attacker.with_metric(k)): v for k, v in out.items()}


FPIRS = (0.01, 0.1)  # DIR at these false-positive identification rates, when the gallery has distractors


def distractor_metrics(mat: np.ndarray, eid: np.ndarray, tid: np.ndarray) -> dict[str, float]:
    """Identification with and without the gallery's distractors (enrolled persons with no trial).

    Only when there are distractors: ``n_distractors``; ``rank1``/``rank5`` without them
    (``_no_distractors``; the plain keys hold the figures with them); DIR at FPIR 1% and 10%
    (:func:`benchmark.metrics.dir_at_fpir`, ``dir_fpir1``, ``dir_fpir10``) with and without them.
    """
    extra = np.setdiff1d(eid, tid)
    if extra.size == 0:
        return {}
    keep = ~np.isin(eid, extra)
    out = {"n_distractors": float(extra.size)}
    for k in (1, 5):
        out[f"rank{k}_no_distractors"] = float(M.rank_k(mat[keep], eid[keep], tid, k))
    for f in FPIRS:
        name = f"dir_fpir{round(100 * f)}"
        out[name] = float(M.dir_at_fpir(mat, eid, tid, f))
        out[f"{name}_no_distractors"] = float(M.dir_at_fpir(mat[keep], eid[keep], tid, f))
    return out


def privacy_summary(flat: dict[str, float], unranked: frozenset[str] = frozenset()) -> tuple[dict[str, float], dict[str, str]]:
    """Worst case over every attacker: the minimum EER and the maximum linkability, and who got them.
    Attacks named in ``unranked`` (context such as ``anatomy``: what no defacer of the head can lower)
    are left out."""
    keys = {k: MetricKey.parse(k) for k in flat}
    keys = {k: mk for k, mk in keys.items() if mk is not None and mk.attack not in unranked}
    eers = {str(mk.attacker): flat[k] for k, mk in keys.items() if mk.metric == "eer"}
    links = {str(mk.attacker): flat[k] for k, mk in keys.items() if mk.metric == "linkability"}
    values: dict[str, float] = {}
    who: dict[str, str] = {"unranked_attacks": ",".join(sorted(unranked))} if unranked else {}
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


def score_submission(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path) -> Results:
    """Score the valid submission folder ``submission`` on every split; score files and plots go to ``out_dir``.

    BLAS runs on one thread meanwhile: split over threads, a long dot product (``anatomy``'s cosine of
    descriptors of ~10^5 values) sums in another order, and the figures must not depend on which process
    scores them (``run``'s pool workers have one thread each, ``score`` every core)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _score_submission(cfg, prepared, submission, out_dir)


def _score_submission(cfg: DictConfig, prepared: Prepared, submission: Path, out_dir: Path) -> Results:
    sc = cfg.scoring
    info = read_info(submission)
    unknown = sorted(set(sc.knowledge) - set(KNOWLEDGE))
    if unknown:
        raise BenchmarkError(f"config: 'scoring.knowledge': unknown level(s) {unknown}; choose from {list(KNOWLEDGE)}")
    scorer = Scorer(prepared, submission, show=cfg.progress)
    attacking, messages = attackers(cfg, prepared, submission)
    messages = list(prepared.splits.messages) + messages
    splits, privacy, artifacts = {}, {}, []
    list_failures: list[Failure] = []
    unranked = frozenset(name for (name, _), (a, _) in attacking.items() if not getattr(a, "ranked", True))
    for name, attack in {n: a for (n, _), (a, _) in attacking.items()}.items():
        messages += [f"{name}: {c} skipped: {attack.skip_reason}" for c in sc.conditions if not _serves(attack, c)]
    for split in sc.splits:
        scored, empty, artifacts_split = _score_split(cfg, prepared, scorer, split, attacking, out_dir)
        artifacts += artifacts_split
        flat: dict[str, float] = {}
        for ts in scored:
            flat.update(trial_metrics(ts, sc.bootstrap, sc.ci_level, seed=cfg.seed))
        for ts, n_listed in empty:  # every trial failed for this attacker: reported, not dropped
            list_failures.append(Failure(f"{split}/{ts.key}", f"{ts.attack}/{ts.knowledge}", "trial list", split,
                                         f"no trial could be scored ({n_listed} trials)"))
            flat[str(ts.attacker.with_metric("n_trials"))] = 0.0
        summary, privacy[split] = privacy_summary(flat, unranked)
        flat.update(summary)
        if sc.permutations > 0 and scored:
            chance, notes = chance_metrics({ts.key: M.ScoreMatrix(*ts.matrix()) for ts in scored
                                            if ts.attack not in unranked}, sc.permutations, cfg.seed)
            flat.update(chance)
            messages += [f"{split}: {note}" for note in notes]
        if sc.attributes:
            flat.update(_attributes(cfg, scorer, split, attacking, messages))
        if sc.utility:
            figures, per_volume = _utility(cfg, prepared, scorer, split, out_dir)
            flat.update(figures)
            artifacts += per_volume
        splits[split] = flat
    failures = _copied(info, scorer) + [Failure(**f) for f in scorer.failure_list()] + list_failures
    for split, flat in splits.items():  # how many failures each split met: a tracked metric
        mine = [f for f in failures if f.split == split]
        flat["failures/count"] = float(len(mine))
        flat["failures/copied"] = float(sum(f.sample == "copied" for f in mine))
        splits[split] = dict(sorted(flat.items()))
    return Results(SubmissionInfo(info.team, info.system, str(submission)), splits, privacy, failures, messages,
                   artifacts=sorted(str(p.relative_to(out_dir)) for p in artifacts))


def _score_split(cfg: DictConfig, prepared: Prepared, scorer: Scorer, split: str, attacking: dict,
                 out_dir: Path) -> tuple[list[TrialScores], list[tuple[TrialScores, int]], list[Path]]:
    """Every trial list of ``split`` scored by every attacker, the score files and plots written; (scored,
    lists where no trial could be scored, artifacts)."""
    sc = cfg.scoring
    scored: list[TrialScores] = []
    empty: list[tuple[TrialScores, int]] = []
    artifacts: list[Path] = []
    for tl in prepared.splits.trial_lists:
        if tl.split != split or tl.condition not in sc.conditions:
            continue
        for (name, level), (enroll_attack, trial_attack) in attacking.items():
            if not _serves(enroll_attack, tl.condition):
                continue
            if tl.condition == MRI2MRI or level != LAZY_INFORMED:
                ts = scorer.score(tl, enroll_attack, name, level)
            else:
                ts = scorer.score(tl, enroll_attack, name, level, trial_attack=trial_attack)
            if not ts.lines:
                empty.append((ts, len(tl.trials)))
                continue
            artifacts.append(write_scores(ts, out_dir))
            scored.append(ts)
            if sc.plots:
                artifacts += _plots(ts, out_dir)
    return scored, empty, artifacts


def _serves(attack, condition: str) -> bool:
    """Whether the attack scores this condition (volume-only attacks such as ``shape`` skip photo2mri)."""
    return condition in getattr(attack, "conditions", CONDITIONS)


def _copied(info, scorer: Scorer) -> list[Failure]:
    """The volumes the submission says it copied unchanged (``anonymize`` with ``baseline.on_failure=copy``)."""
    return [Failure(vid, "", "copied", scorer.split_of(vid), f"submitted unchanged, the method failed: {reason}")
            for vid, reason in sorted(info.copied.items())]


def _attributes(cfg: DictConfig, scorer: Scorer, split: str, attacking: dict, messages: list[str]) -> dict[str, float]:
    """``attributes/<attack>/*`` (:mod:`benchmark.scoring.attributes`): the ignorant attacker's recogniser (original
    enrollment, pretrained model) embeds; messages for what could not be inferred are appended."""
    sc = cfg.scoring
    attacks = {name: (attacking[(name, IGNORANT)][0] if (name, IGNORANT) in attacking
                      else build_attack(cfg, name, node)) for name, node in attack_nodes(cfg).items()}
    condition = MRI2MRI if scorer.prepared.trial_list(split, MRI2MRI) is not None else PHOTO2MRI
    attacks = {name: a for name, a in attacks.items() if _serves(a, condition)}  # trained on that enrollment
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


def _utility(cfg: DictConfig, prepared: Prepared, scorer: Scorer, split: str,
             out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """Brain preservation of the split's anonymised trial volumes (one scan per person) against their
    originals: a cohort sample of what the defacing did to the brain (deepbet masks, about 5 s a volume).
    (the ``utility/*`` figures, [``utility/<split>/brain_preservation.tsv``: one row per volume])."""
    rows, names = [], []
    vids = [v.pseudonym for v in prepared.splits.volumes if v.split == split and v.role == "trial"]
    for vid in progress(vids, f"utility ({split})", cfg.progress):
        v = scorer.key[vid]
        try:
            original = load_volume(prepared.dataset.session(v.participant_id, v.session_id).path,
                                   cfg.limits.max_voxels, canonical=False)
            anonymised = load_volume(volume_path(scorer.submission, vid), cfg.limits.max_voxels, canonical=False)
            rows.append(brain_preservation(original, anonymised))
            names.append(vid)
        except BenchmarkError as exc:
            scorer.failures.setdefault((vid, "utility", "anonymised"), str(exc))
    if not rows:
        return {}, []
    cols = list(rows[0])
    table = "volume\t" + "\t".join(cols) + "\n" + "".join(
        vid + "\t" + "\t".join(str(r[c]) for c in cols) + "\n" for vid, r in zip(names, rows))
    path = write_text(out_dir / "utility" / split / "brain_preservation.tsv", table)
    return {f"utility/{k}": float(v) for k, v in summarise(rows).items()}, [path]
