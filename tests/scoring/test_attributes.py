"""Attribute inference (benchmark.scoring.attributes): signal is found, noise sits at chance, the person predicted is
never in the training folds, and too little data gives messages, not exceptions."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.scoring.attributes import AttributeSet, infer, person_folds

KEYS = ("age_r2", "age_mae", "sex_accuracy", "sex_balanced_accuracy", "ancestry_accuracy",
        "ancestry_balanced_accuracy")
GROUPS = tuple(f"group{g}" for g in range(1, 7))


def cohort(n: int = 40, signal: float = 1.0, seed: int = 0, dim: int = 32, sexes=("F", "M"),
           groups=GROUPS) -> AttributeSet:
    """Enrollment and trial embeddings of n persons; ``signal`` scales how much age, sex and ancestry shape them."""
    rng = np.random.default_rng(seed)
    persons = np.array([f"sub-{i:03d}" for i in range(n)])
    age = {p: float(a) for p, a in zip(persons, rng.uniform(20, 80, n))}
    sex = {p: sexes[i % len(sexes)] for i, p in enumerate(persons)}
    ancestry = {p: groups[i % len(groups)] for i, p in enumerate(persons)}
    direction_age, direction_sex = rng.normal(size=dim), rng.normal(size=dim)
    group_mean = {g: 1.5 * rng.normal(size=dim) for g in groups}
    identity = rng.normal(size=(n, dim))

    def sample():
        z = np.array([(age[p] - 50) / 17 for p in persons])[:, None] * direction_age \
            + np.array([1.0 if sex[p] == "M" else -1.0 for p in persons])[:, None] * direction_sex \
            + np.stack([group_mean[ancestry[p]] for p in persons])
        return signal * z + identity + 0.3 * rng.normal(size=(n, dim))

    return AttributeSet(sample(), persons, sample(), persons.copy(), age, sex, ancestry)


def test_signal_is_inferred_and_intervals_hold():
    got, messages = infer(cohort(signal=1.0), n_boot=200)
    assert messages == []
    assert got["n_persons"] == 40
    assert got["sex_balanced_accuracy"] > 0.85 and got["sex_balanced_accuracy_chance"] == 0.5
    assert got["age_r2"] > 0.5 and got["age_mae"] < got["age_mae_chance"]
    assert got["ancestry_balanced_accuracy_chance"] == pytest.approx(1 / 6)
    assert got["ancestry_balanced_accuracy_ci_low"] > got["ancestry_balanced_accuracy_chance"]
    for k in KEYS:
        assert got[f"{k}_ci_low"] <= got[f"{k}_ci_high"], k
    assert infer(cohort(signal=1.0), n_boot=200) == (got, messages)  # seeded: the same figures again


def test_noise_sits_at_chance():
    got, _ = infer(cohort(signal=0.0, seed=1), n_boot=200)
    assert got["sex_balanced_accuracy_ci_low"] <= 0.5 <= got["sex_balanced_accuracy_ci_high"] + 0.05
    assert got["age_r2"] < 0.2
    assert got["ancestry_balanced_accuracy_ci_low"] <= 1 / 6 <= got["ancestry_balanced_accuracy_ci_high"] + 0.05


def test_ancestry_without_the_column_is_skipped_with_a_message():
    data = cohort(n=20)
    data.ancestry = {}  # a BIDS cohort whose participants.tsv has no ancestry column
    got, messages = infer(data, n_boot=20)
    assert "ancestry_accuracy" not in got and "sex_accuracy" in got
    assert any("ancestry not inferred" in m and "no ancestry column" in m for m in messages)


def test_no_identity_leak():
    """Without attribute signal but with identity, a model that saw the person's own enrollment would
    recover its labels by memory; cross-fitting over persons keeps it at chance."""
    data = cohort(signal=0.0, seed=2)
    data.x_trial = data.x_enroll + 0.01  # the trial is (almost) the enrollment sample: perfect identity
    got, _ = infer(data, n_boot=0)
    assert got["sex_balanced_accuracy"] < 0.75 and got["age_r2"] < 0.3
    assert "age_r2_ci_low" not in got  # n_boot=0: no intervals


def test_folds_partition_the_persons():
    folds = person_folds([f"p{i}" for i in range(12)] * 2, 5, seed=0)
    assert len(folds) == 5 and set().union(*folds) == {f"p{i}" for i in range(12)}
    assert sum(len(f) for f in folds) == 12
    assert person_folds(["a", "b"], 5, 0) == person_folds(["b", "a"], 5, 0) and len(person_folds(["a", "b"], 5, 0)) == 2


def test_too_little_data_gives_messages_not_errors():
    got, messages = infer(cohort(n=12, sexes=("F",)), n_boot=50)
    assert "sex_accuracy" not in got and "age_mae" in got
    assert any("sex not inferred" in m and "one sex only" in m for m in messages)

    data = cohort(n=12)
    data.sex = {p: ("M" if p == "sub-001" else "F") for p in data.age}  # one man: no fold can learn "M"
    got, messages = infer(data, n_boot=50)
    assert "sex_balanced_accuracy" not in got
    assert any("two persons of each sex" in m for m in messages)

    data = cohort(n=12)
    data.age = {p: None for p in data.age}  # ages unknown
    got, messages = infer(data, n_boot=50)
    assert "age_r2" not in got and "sex_accuracy" in got and any("age not inferred" in m for m in messages)


@pytest.mark.parametrize("n", [2, 3])
def test_tiny_cohorts_do_not_raise(n):
    got, messages = infer(cohort(n=n), n_boot=20)
    assert got["n_persons"] == n and messages


def test_unknown_attributes_leave_those_persons_out_with_a_message():
    data = cohort(n=30)
    unknown = list(data.age)[:4]
    for p in unknown:  # participants.tsv: n/a
        data.age[p], data.sex[p] = None, None
    got, messages = infer(data, n_boot=0)
    assert "age_mae" in got and "sex_accuracy" in got  # the others are still scored
    assert "age: 4 person(s) with an unknown age (n/a) left out" in messages
    assert "sex: 4 person(s) with an unknown sex (n/a) left out" in messages


@pytest.mark.parametrize("n_classes", [2, 4])
def test_row_span_coordinates_give_the_same_classifier(n_classes):
    """Far more features than persons: the L2-penalised fit on the training rows' span coordinates scores
    like the fit on the features themselves (the representer theorem), with rank(X) features."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from benchmark.scoring.attributes import RowSpan

    rng = np.random.default_rng(n_classes)
    labels = np.array(list("abcd"))[:n_classes]
    y = labels[rng.permutation(np.resize(np.arange(n_classes), 24))]
    centres = rng.normal(size=(n_classes, 2000))
    x = 0.3 * centres[np.searchsorted(labels, y)] + rng.normal(size=(24, 2000))
    test = rng.normal(size=(10, 2000))
    span = RowSpan().fit(x)
    assert span.basis_.shape == (2000, 24) and np.allclose(span.basis_.T @ span.basis_, np.eye(24))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = LogisticRegression(C=0.01, tol=1e-10, max_iter=10000).fit(x, y)
        reduced = make_pipeline(RowSpan(), LogisticRegression(C=0.01, tol=1e-10, max_iter=10000)).fit(x, y)
    assert np.allclose(full.decision_function(test), reduced.decision_function(test), atol=1e-5)
    assert np.array_equal(full.predict(test), reduced.predict(test))



def test_balanced_accuracy_scorer_is_scikit_learns():
    """The attribute models' CV scorer gives scikit-learn's balanced accuracy, bit for bit (two and more
    classes, a predicted class absent from the truth, unbalanced classes), and the fitted models are
    those that scikit-learn's own ``"balanced_accuracy"`` scorer selects."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    from benchmark.scoring.attributes import _class_model, balanced_accuracy_scorer

    class Fixed:  # an estimator that predicts given labels
        def __init__(self, pred):
            self.pred = pred

        def predict(self, x):
            return self.pred

    rng = np.random.default_rng(4)
    for trial in range(300):
        k, n = int(rng.integers(2, 6)), int(rng.integers(3, 40))
        y = np.array([f"c{i}" for i in rng.integers(0, k, n)])
        pred = np.array([f"c{i}" for i in rng.integers(0, k + 1, n)])
        if np.unique(y).size < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            want = balanced_accuracy_score(y, pred)
        assert balanced_accuracy_scorer(Fixed(pred), None, y) == want, trial
    x = rng.normal(size=(40, 12))
    y = np.where(x[:, 0] + rng.normal(0, 1.0, 40) > 0, "F", "M")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's future changes, as where the models are fitted
        ours = _class_model(0, 6).fit(x, y)[-1]
        theirs = _class_model(0, 6).set_params(logisticregressioncv__scoring="balanced_accuracy").fit(x, y)[-1]
    assert np.array_equal(ours.C_, theirs.C_) and np.array_equal(ours.coef_, theirs.coef_)
    assert all(np.array_equal(ours.scores_[c], theirs.scores_[c]) for c in ours.scores_)
