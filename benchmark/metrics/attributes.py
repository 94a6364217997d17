"""Attribute inference from defaced scans: age regression, sex and ancestry classification, each with chance."""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._checks import as_labels, as_scores, same_length


def age_scores(y_true, y_pred, y_train=None) -> dict:
    """Age prediction scores: ``{"r2", "mae", "chance_mae", "chance_r2"}``.

    - r2 = 1 - sum (y - yhat)^2 / sum (y - mean(y))^2 (coefficient of determination; 1 perfect,
      0 as good as predicting the test mean, negative when worse);
    - mae = mean |y - yhat|, in the unit of ``y`` (years), not a fraction;
    - chance_mae = mean |y - median|, the best constant predictor for MAE, with the median of
      ``y_train`` (the attacker's training ages) when given, else of ``y_true`` (then a slightly
      optimistic chance level);
    - chance_r2 = 0 (predicting the mean).
    """
    y = as_scores(y_true, "y_true (ages)", finite=True)
    p = as_scores(y_pred, "y_pred (ages)", finite=True)
    same_length(y_true=y, y_pred=p)
    ss_tot = np.sum((y - y.mean()) ** 2)
    if ss_tot == 0:
        raise BenchmarkError("y_true (ages) is constant: R^2 is undefined; score on a cohort with varied ages")
    ref = y if y_train is None else as_scores(y_train, "y_train (ages)", finite=True)
    return {
        "r2": float(1.0 - np.sum((y - p) ** 2) / ss_tot),
        "mae": float(np.mean(np.abs(y - p))),
        "chance_mae": float(np.mean(np.abs(y - np.median(ref)))),
        "chance_r2": 0.0,
    }


def sex_scores(y_true, y_pred, y_train=None) -> dict:
    """Sex prediction scores: :func:`class_scores` for two sexes (chance balanced accuracy 0.5)."""
    return class_scores(y_true, y_pred, y_train=y_train, name="sex")


def class_scores(y_true, y_pred, y_train=None, name: str = "class") -> dict:
    """Classification scores: ``{"accuracy", "balanced_accuracy", "chance_accuracy", "chance_balanced_accuracy"}``.

    - accuracy = share of correct predictions;
    - balanced_accuracy = mean over the classes c present in ``y_true`` of the recall
      #(y = c and yhat = c) / #(y = c) (Brodersen et al., ICPR 2010; scikit-learn's definition);
    - chance_accuracy = frequency in ``y_true`` of the majority class (the class most frequent in
      ``y_train`` when given), i.e. the accuracy of always answering it;
    - chance_balanced_accuracy = 1 / (number of classes in ``y_true``) (0.5 for two sexes, 1/6 for six
      ancestry groups).

    Labels may be strings or integers; ``y_true`` needs at least two classes. ``name`` names the
    attribute in errors.
    """
    y = as_labels(y_true, f"y_true ({name})")
    p = as_labels(y_pred, f"y_pred ({name})")
    same_length(y_true=y, y_pred=p)
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise BenchmarkError(
            f"y_true ({name}) holds a single class ({classes[0]!r}): balanced accuracy and chance need two or more"
        )
    correct = y == p
    recalls = [correct[y == c].mean() for c in classes]
    if y_train is None:
        majority = classes[np.argmax(counts)]
    else:
        tc, tn = np.unique(as_labels(y_train, f"y_train ({name})"), return_counts=True)
        majority = tc[np.argmax(tn)]
    return {
        "accuracy": float(correct.mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "chance_accuracy": float(np.mean(y == majority)),
        "chance_balanced_accuracy": float(1.0 / classes.size),
    }
