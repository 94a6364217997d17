"""Attribute inference, the seed study's second attack: can age, sex and ancestry still be read from defaced scans?

Threat model (the hospital-breach attacker of ``mri2mri``, ``ignorant`` knowledge): the attacker holds
*original* scans of some persons together with their age and sex (the split's mri2mri enrollment:
session-1 volumes, pretrained recogniser; ancestry where participants.tsv has that column, as the
synthetic cohort's appearance clusters), trains a scikit-learn model from those embeddings to the
attributes, and applies it to the embeddings of the *anonymised* trial renders. When a split has no
mri2mri list (persons with a single session) the photo2mri enrollment (photographs) is used instead,
and a message says so.

The persons whose attributes are predicted are never in the model's training set: predictions are
cross-fitted over folds of persons (train on the enrollment of the other folds, predict this fold's
trials). Otherwise the trial's own enrollment would be in the training data and re-identification
would pass for attribute inference. Models are regularised for small sets: ridge regression with the
penalty chosen by efficient leave-one-out (``RidgeCV``) for age, its predictions clipped to the training
ages' range (embeddings unlike any training one, e.g. of a defaced face, would otherwise extrapolate to
ages no one has), and an L2 logistic regression with C
chosen by stratified cross-validation (``LogisticRegressionCV``, liblinear, class-balanced, seeded) for
sex and ancestry (multinomial, lbfgs, for more than two classes; a group with fewer than two training
persons in a fold is left out of that fold's model), all on standardised embeddings.

Scores and chance levels come from :func:`benchmark.metrics.age_scores` and
:func:`benchmark.metrics.class_scores`, with the attacker's training labels (all enrollment labels) as
the reference of chance; intervals are a person-level percentile bootstrap of the fixed predictions.
Keys: ``attributes/<attack>/<metric>`` with ``age_r2``, ``age_mae`` (years, not a fraction),
``sex_accuracy``, ``sex_balanced_accuracy``, ``ancestry_accuracy``, ``ancestry_balanced_accuracy``,
each with ``_chance`` and ``_ci_low``/``_ci_high``, and ``n_persons``. A metric that cannot be computed (fewer than two persons of a sex, constant ages, too
few persons, no ancestry column) is left out with a message; nothing raises.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

import benchmark.metrics as M
from benchmark.attacks import Attack
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import MRI2MRI, PHOTO2MRI
from benchmark.core.progress import progress
from benchmark.scoring.scorer import Scorer

FOLDS = 5
ALPHAS = np.logspace(-2, 5, 15)
CS = np.logspace(-4, 2, 13)
METRICS = ("age_r2", "age_mae", "sex_accuracy", "sex_balanced_accuracy", "ancestry_accuracy",
           "ancestry_balanced_accuracy")


@dataclass
class AttributeSet:
    """Embeddings with the person of each row: the attacker's labelled enrollment and the trials to infer."""

    x_enroll: np.ndarray  # (n_e, d)
    enroll_person: np.ndarray  # (n_e,)
    x_trial: np.ndarray  # (n_t, d)
    trial_person: np.ndarray  # (n_t,)
    age: Mapping[str, Optional[float]]  # person -> age (None: unknown)
    sex: Mapping[str, Optional[str]]  # person -> "M" / "F" (None: unknown)
    ancestry: Mapping[str, Optional[str]] = field(default_factory=dict)  # person -> group (None: unknown)


def _age_model(seed: int):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))


class RowSpan:
    """``x`` -> its coordinates in the span of the training rows (orthonormal basis ``V`` from the SVD).

    An L2-penalised linear model's weights lie in that span (at the optimum ``w = -C X^T g``, the
    representer theorem), so a model fitted on ``x V`` scores every ``x`` as one fitted on ``x``, with
    ``rank(X)`` features instead of ``D``: the 9,000-D ``shape`` descriptors of a few dozen persons fit in
    a fraction of the time. A scikit-learn transformer (``fit`` / ``transform``).
    """

    def fit(self, x: np.ndarray, y: Optional[np.ndarray] = None) -> "RowSpan":
        x = np.asarray(x, np.float64)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        tol = (s.max() if s.size else 0.0) * max(x.shape) * np.finfo(np.float64).eps
        self.basis_ = vt[s > tol].T
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.basis_

    def fit_transform(self, x: np.ndarray, y: Optional[np.ndarray] = None) -> np.ndarray:
        return self.fit(x, y).transform(x)

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params) -> "RowSpan":
        return self


def balanced_accuracy_scorer(estimator, x: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's ``"balanced_accuracy"`` scorer without its input checks (they took half of the attribute
    inference's time: a call per C, inner fold, outer fold and attack): the mean over the classes c of ``y``,
    in sorted order, of the recall #(y = c and yhat = c) / #(y = c) of ``estimator.predict(x)``, computed as
    ``sklearn.metrics.balanced_accuracy_score`` does (integer counts, one division each, ``np.mean``: the
    same float; a class predicted but absent from ``y`` is left out, as there)."""
    pred = estimator.predict(x)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    hits = np.bincount(inverse[pred == y], minlength=classes.size)
    return float(np.mean(hits / counts))


def _class_model(seed: int, min_class: int, n_classes: int = 2):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = StratifiedKFold(n_splits=min(5, min_class), shuffle=True, random_state=seed)
    return make_pipeline(StandardScaler(), RowSpan(), LogisticRegressionCV(
        Cs=CS, cv=cv, class_weight="balanced", scoring=balanced_accuracy_scorer,
        solver="liblinear" if n_classes == 2 else "lbfgs", max_iter=5000,
        random_state=seed))


def person_folds(persons: Sequence[str], folds: int, seed: int) -> list[set[str]]:
    """Persons shuffled (seeded) and dealt into at most ``folds`` folds."""
    order = sorted(set(persons))
    np.random.default_rng([seed, 6]).shuffle(order)
    k = max(1, min(folds, len(order)))
    return [set(order[i::k]) for i in range(k)]


def cross_fit(x_train: np.ndarray, y_train: np.ndarray, g_train: np.ndarray, x_test: np.ndarray,
              g_test: np.ndarray, fit: Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]],
              folds: list[set[str]]) -> np.ndarray:
    """Predictions for ``x_test``, each by a model fitted without the rows of the test row's person fold.

    ``fit(x, y)`` returns a predict function; it may raise :class:`BenchmarkError` (then the error
    propagates, naming why a fold could not be fitted).
    """
    out = np.empty(len(x_test), dtype=object)
    with threadpool_limits(limits=1):  # small fits: BLAS threads only add synchronisation (5x the CPU time)
        for fold in folds:
            test = np.isin(g_test, list(fold))
            if not test.any():
                continue
            train = ~np.isin(g_train, list(fold))
            predict = fit(x_train[train], y_train[train])
            out[test] = predict(x_test[test])
    return out


def _fit_age(seed: int):
    def fit(x, y):
        if len(x) < 3 or np.ptp(y.astype(float)) == 0:
            raise BenchmarkError(f"age: a fold's training set has {len(x)} person(s) or constant ages")
        y = y.astype(float)
        model = _age_model(seed).fit(x, y)
        low, high = float(y.min()), float(y.max())  # an age outside the training range is no one's
        return lambda z: np.clip(model.predict(z), low, high)
    return fit


def _fit_class(seed: int, name: str, drop_rare: bool = False):
    """Fit a class-balanced logistic regression; ``drop_rare``: leave out classes under two training rows."""
    def fit(x, y):
        y = y.astype(str)
        classes, counts = np.unique(y, return_counts=True)
        if drop_rare:
            keep = np.isin(y, classes[counts >= 2])
            x, y = x[keep], y[keep]
            classes, counts = classes[counts >= 2], counts[counts >= 2]
        if classes.size < 2 or counts.min() < 2:
            have = ", ".join(f"{c}: {n}" for c, n in zip(classes, counts)) or "none"
            raise BenchmarkError(f"{name}: a fold's training set needs two persons of each {name}, two or more "
                                 f"classes (has {have})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny folds
            model = _class_model(seed, int(counts.min()), classes.size).fit(x, y)
        return lambda z: model.predict(z)
    return fit


def bootstrap_interval(fn: Callable[[np.ndarray], dict], n_rows: int, keys: Sequence[str], n: int, level: float,
                       seed: int) -> dict[str, tuple[float, float]]:
    """Percentile interval of ``fn(rows)[key]`` over ``n`` resamples of the rows (persons), seeded.

    A resample on which ``fn`` raises (one sex only, constant ages) is skipped; with fewer than half
    the resamples usable no interval is given.
    """
    rng = np.random.default_rng([seed, 7])
    values: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n):
        idx = rng.integers(0, n_rows, n_rows)
        try:
            got = fn(idx)
        except BenchmarkError:
            continue
        for k in keys:
            values[k].append(got[k])
    alpha = (1.0 - level) / 2.0
    return {k: (float(np.quantile(v, alpha)), float(np.quantile(v, 1.0 - alpha)))
            for k, v in values.items() if len(v) >= max(1, n // 2)}


def infer(data: AttributeSet, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
          folds: int = FOLDS) -> tuple[dict[str, float], list[str]]:
    """Attribute inference metrics (keys without the ``attributes/<attack>/`` prefix) and messages."""
    out: dict[str, float] = {}
    messages: list[str] = []
    fold_sets = person_folds(data.trial_person, folds, seed)
    out["n_persons"] = float(len(set(data.trial_person)))

    def labelled(mapping, cast):
        ok_e = np.array([mapping.get(p) is not None for p in data.enroll_person], bool)
        ok_t = np.array([mapping.get(p) is not None for p in data.trial_person], bool)
        y_e = np.array([cast(mapping[p]) for p in data.enroll_person[ok_e]], dtype=object)
        y_t = np.array([cast(mapping[p]) for p in data.trial_person[ok_t]], dtype=object)
        return ok_e, ok_t, y_e, y_t

    def left_out(name, ok_e, ok_t):  # participants.tsv says n/a (or nothing usable) for these persons
        missing = set(data.enroll_person[~ok_e]) | set(data.trial_person[~ok_t])
        if missing:
            messages.append(f"{name}: {len(missing)} person(s) with an unknown {name} (n/a) left out")

    # age
    ok_e, ok_t, y_e, y_t = labelled(data.age, float)
    left_out("age", ok_e, ok_t)
    try:
        if ok_t.sum() < 2:
            raise BenchmarkError(f"age: {int(ok_t.sum())} trial person(s) with a known age")
        pred = cross_fit(data.x_enroll[ok_e], y_e, data.enroll_person[ok_e], data.x_trial[ok_t],
                         data.trial_person[ok_t], _fit_age(seed), fold_sets).astype(float)
        out.update(_scored("age", ("r2", "mae"), M.age_scores, y_t.astype(float), pred, y_e.astype(float),
                           n_boot, level, seed))
    except BenchmarkError as exc:
        messages.append(f"age not inferred: {exc}")

    for name, mapping in (("sex", data.sex), ("ancestry", data.ancestry)):
        ok_e, ok_t, _, _ = labelled(mapping, str)
        if name == "sex" or ok_t.any():  # a cohort without an ancestry column gets one message, below
            left_out(name, ok_e, ok_t)
        try:
            out.update(_classified(data, name, mapping, fold_sets, n_boot, level, seed))
        except BenchmarkError as exc:
            messages.append(f"{name} not inferred: {exc}")
    return out, messages


def _classified(data: AttributeSet, name: str, mapping: Mapping[str, Optional[str]], fold_sets: list[set[str]],
                n_boot: int, level: float, seed: int) -> dict[str, float]:
    """``<name>_accuracy`` / ``_balanced_accuracy`` with chance and intervals, cross-fitted over person folds."""
    ok_e = np.array([mapping.get(p) is not None for p in data.enroll_person], bool)
    ok_t = np.array([mapping.get(p) is not None for p in data.trial_person], bool)
    if not ok_t.any():
        raise BenchmarkError(f"no known {name}: participants.tsv has no {name} column or none for the trial persons")
    y_e = np.array([str(mapping[p]) for p in data.enroll_person[ok_e]])
    y_t = np.array([str(mapping[p]) for p in data.trial_person[ok_t]])
    classes = np.unique(y_t)
    if classes.size < 2:
        raise BenchmarkError(f"{name}: the trials hold one {name} only, need two or more")
    pred = cross_fit(data.x_enroll[ok_e], y_e, data.enroll_person[ok_e], data.x_trial[ok_t], data.trial_person[ok_t],
                     _fit_class(seed, name, drop_rare=name != "sex"), fold_sets).astype(str)
    return _scored(name, ("accuracy", "balanced_accuracy"),
                   lambda t, p, y_train: M.class_scores(t, p, y_train=y_train, name=name), y_t, pred, y_e,
                   n_boot, level, seed)


def _scored(prefix: str, metrics: tuple[str, ...], score, y_true: np.ndarray, pred: np.ndarray,
            y_train: np.ndarray, n_boot: int, level: float, seed: int) -> dict[str, float]:
    """``<prefix>_<m>`` and ``<prefix>_<m>_chance`` for each metric ``m`` of ``score`` (``metrics.age_scores``
    or ``sex_scores``), with person-level bootstrap intervals ``_ci_low`` / ``_ci_high`` when ``n_boot``."""
    got = score(y_true, pred, y_train=y_train)
    out = {}
    for m in metrics:
        out[f"{prefix}_{m}"], out[f"{prefix}_{m}_chance"] = got[m], got[f"chance_{m}"]
    if n_boot > 0:
        ci = bootstrap_interval(lambda i: score(y_true[i], pred[i], y_train=y_train), len(pred), metrics,
                                n_boot, level, seed)
        for k, (lo, hi) in ci.items():
            out[f"{prefix}_{k}_ci_low"], out[f"{prefix}_{k}_ci_high"] = lo, hi
    return out


def attribute_results(scorer: Scorer, split: str, attacks: Mapping[str, Attack], n_boot: int, level: float,
                      seed: int, show: bool = False) -> tuple[dict[str, float], list[str]]:
    """``attributes/<attack>/*`` of one split: embeddings from the scorer (cached), then :func:`infer`."""
    prepared = scorer.prepared
    tl = prepared.trial_list(split, MRI2MRI)
    photos = tl is None
    if photos:
        tl = prepared.trial_list(split, PHOTO2MRI)
    if tl is None:
        return {}, [f"{split}/attributes: skipped, the split has no enrollment to train on"]
    messages = [f"{split}/attributes: no mri2mri enrollment, trained on photographs"] if photos else []
    participants = prepared.dataset.participants
    age = {p: participants[p].age for p in participants}
    sex = {p: participants[p].sex for p in participants}
    ancestry = {p: participants[p].ancestry for p in participants}
    trial_ids = sorted(v.pseudonym for v in prepared.splits.volumes if v.split == split and v.role == "trial")
    out: dict[str, float] = {}
    for name, attack in attacks.items():
        enroll = {e: (scorer.photos(attack, e) if photos else scorer.original_volume(attack, e))
                  for e in progress(sorted(tl.enroll), f"{split}/attributes/{name}: enroll", show)}
        trials = {t: scorer.submitted_volume(attack, t)
                  for t in progress(trial_ids, f"{split}/attributes/{name}: trials", show)}
        enroll = {e: v for e, v in enroll.items() if v is not None}
        trials = {t: v for t, v in trials.items() if v is not None}
        if len(enroll) < 3 or len(trials) < 2:
            messages.append(f"{split}/attributes/{name}: skipped, {len(enroll)} enrollment(s) and {len(trials)} "
                            "trial(s) embedded (needs 3 and 2)")
            continue
        data = AttributeSet(
            x_enroll=np.stack([v.vector for v in enroll.values()]),
            enroll_person=np.array([tl.enroll[e] for e in enroll]),
            x_trial=np.stack([v.vector for v in trials.values()]),
            trial_person=np.array([scorer.key[t].participant_id for t in trials]),
            age=age, sex=sex, ancestry=ancestry)
        got, msgs = infer(data, n_boot, level, seed)
        out.update({f"attributes/{name}/{k}": float(v) for k, v in got.items()})
        messages += [f"{split}/attributes/{name}: {m}" for m in msgs]
    return out, messages
