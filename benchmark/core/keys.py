"""The benchmark's names, defined once: splits, conditions, knowledge levels, and the metric-key grammar.

A scored figure is keyed ``<condition>/<attack>/<knowledge>/<metric>`` (``photo2mri/arcface/semi_informed/eer``,
``mri2mri/geo/ignorant/eer_ci_low``); the first three parts name the attacker (:attr:`MetricKey.attacker`).
Other keys of a split (``privacy/...``, ``utility/...``, ``attributes/...``) are not metric keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

DEV, TEST, TRAIN = "dev", "test", "train"
SPLITS = (DEV, TEST)  # the scored splits; train is the semi-informed attacker's pool
ALL_SPLITS = (DEV, TEST, TRAIN)

MRI2MRI, PHOTO2MRI = "mri2mri", "photo2mri"
CONDITIONS = (MRI2MRI, PHOTO2MRI)

IGNORANT, LAZY_INFORMED, SEMI_INFORMED = "ignorant", "lazy_informed", "semi_informed"
KNOWLEDGE = (IGNORANT, LAZY_INFORMED, SEMI_INFORMED)  # weakest attacker first

CI_SUFFIXES = ("_ci_low", "_ci_high")


@dataclass(frozen=True)
class MetricKey:
    """``<condition>/<attack>/<knowledge>/<metric>``; with ``metric=""`` the attacker alone (three parts)."""

    condition: str
    attack: str
    knowledge: str
    metric: str = ""

    @classmethod
    def parse(cls, key: str) -> Optional["MetricKey"]:
        """The key's parts, or None when ``key`` is not an attacker or metric key of this grammar."""
        parts = key.split("/")
        if len(parts) not in (3, 4) or not all(parts) or parts[0] not in CONDITIONS or parts[2] not in KNOWLEDGE:
            return None
        return cls(*parts)

    def __str__(self) -> str:
        return "/".join(p for p in (self.condition, self.attack, self.knowledge, self.metric) if p)

    @property
    def attacker(self) -> "MetricKey":
        """The key without its metric: ``photo2mri/arcface/semi_informed``."""
        return replace(self, metric="")

    def with_metric(self, metric: str) -> "MetricKey":
        return replace(self, metric=metric)

    @property
    def statistic(self) -> tuple[str, str]:
        """(metric name, interval bound): ``eer_ci_low`` -> (``eer``, ``_ci_low``); ``eer`` -> (``eer``, ``""``)."""
        for suffix in CI_SUFFIXES:
            if self.metric.endswith(suffix):
                return self.metric[: -len(suffix)], suffix
        return self.metric, ""
