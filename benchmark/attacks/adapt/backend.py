"""The semi-informed attacker's back end: adapted on the anonymised training pool, chosen by cross-validation.

The attacker holds a training pool disjoint from dev and test: persons whose two MRI sessions it has in
the original and as the submission anonymised them, and their photographs (VoicePrivacy's
semi-informed attacker likewise anonymises a public training set with the system under attack). It
embeds the pool with its recogniser and adapts a back end on those embeddings:

- ``shift``: mean alignment of the domains: an anonymised trial is moved by the difference between
  the pool's mean enrollment-domain template (original volumes or photographs) and its mean
  anonymised template, removing what the anonymisation changes in every face alike;
- ``head``: an embedding head ``h(x) = m + s * W ((x - m) / s)`` (``W`` starts at the identity, so the
  head starts as the pretrained recogniser) trained with the additive angular margin loss of ArcFace
  (Deng et al., CVPR 2019) on every pool embedding (both sessions, original and anonymised, each
  rendered view, each photograph; one class per person), regularised toward the identity (L2-SP,
  Li, Grandvalet & Davoine, ICML 2018); its checkpoints every ``eval_every`` epochs are candidates;
- ``snorm``: symmetric score normalisation (S-norm; Kenny, Odyssey 2010) against pool cohorts: the
  enrollment's scores against the anonymised pool and the trial's scores against the pool's
  enrollment-domain templates.

The pool is small (12 persons by default), so every candidate, the pretrained recogniser included, is
scored by person-level K-fold cross-validation on the pool (back ends fitted on the other folds,
trials of the held-out persons built as the scorer builds them, scores pooled over folds) and the
lowest mean EER over the conditions wins; a candidate replaces the pretrained recogniser only when it
gains at least ``min_gain``. The winner is refitted on the whole pool. Seeded and deterministic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

import benchmark.metrics as M
from benchmark.attacks.adapt.finetune import arcface_loss
from benchmark.attacks.base import Embedding
from benchmark.core.config import AdaptConfig, FinetuneConfig
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import CONDITIONS, MRI2MRI, PHOTO2MRI

#: Enrollment domains: original volumes (mri2mri) and photographs (photo2mri); trials are anonymised.
ORIGINAL, PHOTO, ANONYMISED = "original", "photo", "anonymised"
CONDITION_OF = {ORIGINAL: MRI2MRI, PHOTO: PHOTO2MRI}
#: Vectors longer than this get no trained head (its D x D weights would not fit a laptop's memory and
#: the pool's few hundred samples could not fit them): shift and S-norm still compete (``anatomy``).
MAX_HEAD_DIM = 4096


@dataclass
class PoolItem:
    """One pool sample as the attacker embedded it: a template and its training vectors (views, photos)."""

    person: str
    session: str  # "" for a photograph template
    domain: str  # original | anonymised | photo
    template: Embedding  # what the scorer's attack would compare
    samples: np.ndarray  # (V, D) vectors to train on


# --- the back end ------------------------------------------------------------------------------------


@dataclass
class Backend:
    """A fitted back end: optional mean shift, optional linear head, optional S-norm; none = pretrained."""

    shift: bool = False
    snorm: bool = False
    head: Optional[np.ndarray] = None  # W (D, D)
    centre: Optional[np.ndarray] = None  # m (D,)
    scale: Optional[np.ndarray] = None  # s (D,)
    means: dict[str, np.ndarray] = field(default_factory=dict)  # domain -> mean template vector
    cohort: dict[str, list[Embedding]] = field(default_factory=dict)  # domain -> pool templates

    @property
    def name(self) -> str:
        parts = (["shift"] if self.shift else []) + (["head"] if self.head is not None else []) + \
                (["snorm"] if self.snorm else [])
        return "+".join(parts) or "pretrained"

    def _head(self, x: np.ndarray) -> np.ndarray:
        if self.head is None:
            return x
        return self.centre + self.scale * (((x - self.centre) / self.scale) @ self.head.T)

    def map(self, e: Embedding, domain: str, enroll_domain: str) -> Embedding:
        """``e`` (of ``domain``) moved into the space where it meets an enrollment of ``enroll_domain``."""
        if not self.shift and self.head is None:
            return e
        offset = 0.0
        if self.shift and domain == ANONYMISED and enroll_domain in self.means:
            offset = self.means[enroll_domain] - self.means[ANONYMISED]
        views = self._head(np.asarray(e.views, np.float64) + offset)
        return Embedding(vector=self._head(e.vector + offset), detected=e.detected, views=views,
                         view_detected=e.view_detected)


def fit_backend(items: Sequence[PoolItem], shift: bool, snorm: bool, head: Optional[np.ndarray] = None,
                centre: Optional[np.ndarray] = None, scale: Optional[np.ndarray] = None) -> Backend:
    means = {d: np.mean([it.template.vector for it in items if it.domain == d], axis=0)
             for d in (ORIGINAL, PHOTO, ANONYMISED) if any(it.domain == d for it in items)}
    cohort: dict[str, list[Embedding]] = {}
    for d in (ORIGINAL, PHOTO, ANONYMISED):
        cohort[d] = [it.template for it in items if it.domain == d]
    return Backend(shift=shift, snorm=snorm, head=head, centre=centre, scale=scale, means=means, cohort=cohort)


class BackendScorer:
    """Scores (enrollment, anonymised trial) pairs with an inner attack and a back end."""

    def __init__(self, inner: Any, backend: Backend):
        self.inner = inner
        self.backend = backend
        self._stats: dict[tuple, tuple[float, float]] = {}

        self._maps: dict[tuple, tuple[Embedding, Embedding]] = {}

    def reset(self) -> None:
        self._stats.clear()
        self._maps.clear()

    def _map(self, e: Embedding, domain: str, enroll_domain: str) -> Embedding:
        key = (id(e), domain, enroll_domain)
        if key not in self._maps:  # the original is kept with its image, so its id is not reused
            self._maps[key] = (e, self.backend.map(e, domain, enroll_domain))
        return self._maps[key][1]

    def _raw(self, e: Embedding, t: Embedding, enroll_domain: str) -> float:
        return float(self.inner.similarity(self._map(e, enroll_domain, enroll_domain),
                                           self._map(t, ANONYMISED, enroll_domain)))

    def _cohort_stats(self, key: tuple, scores: Callable[[], list[float]]) -> tuple[float, float]:
        """Mean and standard deviation of ``scores()``, computed once per key (the cohort scores are
        the costly part: one comparison per cohort member)."""
        if key not in self._stats:
            s = np.asarray(scores(), np.float64)
            self._stats[key] = (float(s.mean()), float(max(s.std(), 1e-6)))
        return self._stats[key]

    def score(self, e: Embedding, t: Embedding, enroll_domain: str) -> float:
        s = self._raw(e, t, enroll_domain)
        b = self.backend
        if not b.snorm:
            return s
        anon, enr = b.cohort.get(ANONYMISED, []), b.cohort.get(enroll_domain, [])
        if len(anon) < 2 or len(enr) < 2:
            return s
        self._maps.setdefault(("keep", id(e), id(t)), (e, t))  # ids stay valid while their stats are cached
        me, se = self._cohort_stats(("e", id(e), enroll_domain),
                                    lambda: [self._raw(e, c, enroll_domain) for c in anon])
        mt, st = self._cohort_stats(("t", id(t), enroll_domain),
                                    lambda: [self._raw(c, t, enroll_domain) for c in enr])
        return 0.5 * ((s - me) / se + (s - mt) / st)


# --- the embedding head ---------------------------------------------------------------------------------


def train_head(items: Sequence[PoolItem], cfg: FinetuneConfig, normalise_raw: bool) -> tuple[list[tuple[int, np.ndarray]], np.ndarray, np.ndarray, dict]:
    """Train ``W`` with the ArcFace loss + L2-SP on the items' samples; ``[(epoch, W), ...]`` checkpoints.

    ``normalise_raw``: the loss sees L2-normalised head outputs (cosine recognisers such as ArcFace);
    otherwise L2-normalised standardised outputs (attacks that compare other feature scales).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problem: one thread is fast, immune to a busy machine, reproducible
    try:
        return _train_head(items, cfg, normalise_raw)
    finally:
        torch.set_num_threads(threads)


def sgd_step(params: list, buffers: list, lr: float, momentum: float) -> None:
    """One step of ``torch.optim.SGD(params, lr, momentum)`` (no dampening, weight decay or Nesterov), then
    ``zero_grad()``: ``b <- momentum b + g`` (``b = g`` on the first step), ``p <- p - lr b``, op for op as
    torch's single-tensor path on the CPU (the same numbers), without ``torch.optim``, whose first use
    imports ``torch._dynamo`` (~3.5 s in every process that trains a head). ``buffers``: one per parameter,
    None before the first step, updated in place."""
    import torch

    with torch.no_grad():
        for i, p in enumerate(params):
            grad = p.grad
            if momentum != 0:
                if buffers[i] is None:
                    buffers[i] = grad.detach().clone()
                else:
                    buffers[i].mul_(momentum).add_(grad, alpha=1)
                grad = buffers[i]
            p.add_(grad, alpha=-lr)
            p.grad = None


def _train_head(items, cfg, normalise_raw):
    import time

    import torch
    import torch.nn.functional as F

    x = np.concatenate([it.samples for it in items]).astype(np.float64)
    labels = np.concatenate([[it.person] * len(it.samples) for it in items])
    classes, y = np.unique(labels, return_inverse=True)
    centre = x.mean(0)
    scale = x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    z = torch.from_numpy((x - centre) / scale).float()
    c_t, s_t = torch.from_numpy(centre).float(), torch.from_numpy(scale).float()
    y_t = torch.from_numpy(y).long()
    d = z.shape[1]
    eye = torch.eye(d)
    w = torch.nn.Parameter(eye.clone())

    def out(zb: torch.Tensor) -> torch.Tensor:
        h = zb @ w.T
        return F.normalize(c_t + s_t * h if normalise_raw else h, dim=1)

    with torch.no_grad():
        o = out(z)
        centres = torch.stack([o[y_t == k].mean(0) for k in range(len(classes))])
    cls = torch.nn.Parameter(F.normalize(centres, dim=1).clone())
    params, buffers = [w, cls], [None, None]
    n = len(y_t)
    checkpoints = [(0, np.eye(d))]
    start = time.perf_counter()
    log = {"epochs": 0, "loss": [], "n_samples": int(n), "n_classes": int(len(classes))}
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for b in range(0, n, cfg.batch_size):
            idx = order[b:b + cfg.batch_size]
            loss = arcface_loss(out(z[idx]), F.normalize(cls, dim=1), y_t[idx], cfg.margin, cfg.scale)
            loss = loss + cfg.l2sp * ((w - eye) ** 2).sum()
            loss.backward()
            sgd_step(params, buffers, cfg.lr, cfg.momentum)
            total += float(loss.detach()) * len(idx)
        log["loss"].append(round(total / n, 6))
        log["epochs"] = epoch
        if epoch % max(1, cfg.eval_every) == 0 or epoch == cfg.epochs:
            checkpoints.append((epoch, w.detach().double().numpy().copy()))
        if cfg.budget_s is not None and time.perf_counter() - start > cfg.budget_s:  # a safety cap: fewer checkpoints compete (logged)
            log["stopped_by_budget"] = True
            break
    return checkpoints, centre, scale, log


# --- cross-validation on the pool -----------------------------------------------------------------------


def pool_trials(items: Sequence[PoolItem], persons: set[str]) -> dict[str, list[tuple[int, int, bool]]]:
    """Trials among ``persons`` as the scorer builds them: (enroll index, trial index, mated) per condition.

    mri2mri: an original session against an anonymised *other* session (the same person) or any
    anonymised session of another person; photo2mri: the photo template against every anonymised session.
    """
    out: dict[str, list[tuple[int, int, bool]]] = {c: [] for c in CONDITIONS}
    anon = [i for i, it in enumerate(items) if it.domain == ANONYMISED and it.person in persons]
    for i, e in enumerate(items):
        if e.person not in persons or e.domain == ANONYMISED:
            continue
        for j in anon:
            t = items[j]
            if e.domain == ORIGINAL and t.person == e.person and t.session == e.session:
                continue  # the scorer never pairs a scan with its own anonymised copy
            out[CONDITION_OF[e.domain]].append((i, j, e.person == t.person))
    return out


def folds_of(persons: Sequence[str], k: int, seed: int) -> list[list[str]]:
    """``k`` seeded folds of persons, at least two persons each (a held-out fold needs non-mated trials);
    none when the pool has fewer than four persons."""
    persons = sorted(persons)
    k = min(k, len(persons) // 2)
    if k < 2:
        return []
    order = np.random.default_rng([seed, 6]).permutation(len(persons))
    return [sorted(persons[i] for i in order[f::k]) for f in range(k)]


@dataclass
class Candidate:
    name: str
    shift: bool
    snorm: bool
    epochs: int  # 0: no head

    def simpler_key(self) -> tuple:
        return (self.epochs > 0, self.shift, self.snorm, self.epochs)


def candidates(cfg: AdaptConfig, epochs: Sequence[int]) -> list[Candidate]:
    out = []
    for shift in ([False, True] if cfg.shift else [False]):
        for snorm in ([False, True] if cfg.snorm else [False]):
            for ep in epochs:
                name = "+".join((["shift"] if shift else []) + ([f"head@{ep}"] if ep else []) +
                                (["snorm"] if snorm else [])) or "pretrained"
                out.append(Candidate(name, shift, snorm, ep))
    return out


def _fit_inner(inner: Any, items: Sequence[PoolItem], backend: Backend, domain: str) -> None:
    """Fit the inner attack's own statistics (geo's z-scoring) on mapped enrollment-domain templates."""
    enrol = [backend.map(it.template, domain, domain) for it in items if it.domain == domain]
    if len(enrol) >= 2:
        inner.fit(enrol)


def select(inner: Any, items: Sequence[PoolItem], cfg: AdaptConfig, normalise_raw: bool) -> tuple[Candidate, dict]:
    """Person-level K-fold cross-validation of every candidate; (winner, log)."""
    persons = sorted({it.person for it in items})
    folds = folds_of(persons, cfg.folds, cfg.finetune.seed)
    if not folds:
        return Candidate("pretrained", False, False, 0), {"folds": [], "cv_eer": {}, "selected": "pretrained",
                                                          "reason": "pool too small to cross-validate"}
    dim = len(items[0].template.vector) if items else 0
    use_head = cfg.finetune.epochs > 0 and dim <= MAX_HEAD_DIM
    epochs_seen: set[int] = {0}
    scores: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    for held in folds:
        held_set = set(held)
        train = [it for it in items if it.person not in held_set]
        checkpoints = [(0, None)]
        centre = scale = None
        if use_head and len({it.person for it in train}) >= 2:
            checkpoints, centre, scale, _ = train_head(train, cfg.finetune, normalise_raw)
        for ep, w in checkpoints:
            epochs_seen.add(ep)
        trials = pool_trials(items, held_set)
        for cand in candidates(cfg, sorted({ep for ep, _ in checkpoints})):
            w = dict(checkpoints).get(cand.epochs) if cand.epochs else None
            backend = fit_backend(train, cand.shift, cand.snorm, w if cand.epochs else None, centre, scale)
            scorer = BackendScorer(inner, backend)
            for cond, pairs in trials.items():
                if not pairs:
                    continue
                _fit_inner(inner, items, backend, ORIGINAL if cond == MRI2MRI else PHOTO)
                scorer.reset()
                bucket = scores.setdefault((cand.name, cond), [])
                bucket += [(scorer.score(items[i].template, items[j].template, items[i].domain), m)
                           for i, j, m in pairs]
    # a checkpoint that some fold did not reach (budget) is not a candidate
    reached = sorted(ep for ep in epochs_seen
                     if all(any(k[0] == c.name for k in scores) for c in candidates(cfg, [ep])))
    table: dict[str, dict[str, float]] = {}
    for cand in candidates(cfg, reached):
        row = {}
        for cond in CONDITIONS:
            got = scores.get((cand.name, cond), [])
            mated = np.array([s for s, m in got if m])
            non = np.array([s for s, m in got if not m])
            if len(mated) and len(non):
                row[cond] = float(M.eer(mated, non))
        if row:
            row["mean"] = float(np.mean([row[c] for c in CONDITIONS if c in row]))
            table[cand.name] = row
    cands = {c.name: c for c in candidates(cfg, reached) if c.name in table}
    if "pretrained" not in table:
        raise BenchmarkError("the training pool gives no trials to choose the adaptation on")
    best = min(cands.values(), key=lambda c: (round(table[c.name]["mean"], 9), c.simpler_key()))
    if table[best.name]["mean"] > table["pretrained"]["mean"] - cfg.min_gain:
        best = cands["pretrained"]
    log = {"folds": folds, "cv_eer": table, "selected": best.name}
    if cfg.finetune.epochs > 0 and not use_head:
        log["head_skipped"] = f"not trained: {dim}-D vectors exceed {MAX_HEAD_DIM} (a {dim}x{dim} head)"
    return best, log


def fit_selected(inner: Any, items: Sequence[PoolItem], cand: Candidate, cfg: AdaptConfig,
                 normalise_raw: bool) -> tuple[Backend, dict]:
    """The selected candidate refitted on the whole pool."""
    head = centre = scale = None
    log: dict = {}
    if cand.epochs:
        ft = dataclasses.replace(cfg.finetune, epochs=cand.epochs, eval_every=cand.epochs, budget_s=None)
        checkpoints, centre, scale, log = train_head(items, ft, normalise_raw)
        head = checkpoints[-1][1]
    return fit_backend(items, cand.shift, cand.snorm, head, centre, scale), log
