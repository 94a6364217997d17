"""The results of scoring one submission, typed, and ``results.json``, their file.

``results.json`` (keys sorted)::

    submission  {"team", "system", "path"}          who, and the folder or archive scored
    splits      {split: {key: value}}               every figure of the split, flat, keyed
                    <condition>/<attack>/<knowledge>/<metric>[_ci_low|_ci_high]  (attacks)
                    privacy/worst_eer, privacy/worst_linkability                  (worst case)
                    utility/<metric>                                              (brain preservation)
                    attributes/<attack>/<metric>[_chance|_ci_low|_ci_high]        (attribute inference)
    privacy     {split: {"worst_eer_attacker", "worst_linkability_attacker", "unranked_attacks"?}}
    failures    [{"id", "attacker", "sample", "split", "error"}]   what could not be scored, and why
    messages    [str]                               what was skipped or adapted, and why
    artifacts   [path]                              score files and plots, relative to the output folder
    reference   {"submission", "path", "cached", "splits", "privacy"}   the ``none`` baseline's figures
                                                    for the same keys (:mod:`benchmark.scoring.reference`)
    reused      str                                 the result-cache entry the figures come from
    validation  {"ok", "reason"}
    provenance  {"cohort", "code", "git", "synthetic"}   what the figures were made from: the prepared
                                                    cohort's fingerprint, the scoring code's hash, ``git describe``,
                                                    whether the cohort is the synthetic one (no real person)

``artifacts`` is absent for a submission that failed validation (it is not scored), ``reference`` for the
reference itself or when it could not be added (a message says why), ``reused`` when the figures were
computed anew, and ``validation`` and ``provenance`` in a result-cache entry (kept before they are added).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from benchmark.core.files import write_json

Figures = dict[str, dict[str, float]]  # split -> key -> value
Attackers = dict[str, dict[str, str]]  # split -> worst_*_attacker -> <condition>/<attack>/<knowledge>


@dataclass
class SubmissionInfo:
    team: str
    system: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.team}/{self.system}"


@dataclass
class Failure:
    """Something that could not be scored, and why: a sample (volume pseudonym or enrollment id) for one
    attacker, a volume the submission copied unchanged (``sample == "copied"``), or a whole trial list."""

    id: str
    attacker: str  # "<attack>/<knowledge>", empty for a copied volume
    sample: str  # what failed: "volume", "photos", "copied", "trial list", ...
    split: str
    error: str


@dataclass
class Validation:
    ok: bool
    reason: str = ""


@dataclass
class Reference:
    """The reference submission's figures for the keys of a submission's own (VoicePrivacy's
    original-versus-original: the attackers' strength on this cohort)."""

    submission: str  # team/system
    path: str
    cached: bool  # read from the result cache rather than scored for this submission
    splits: Figures = field(default_factory=dict)
    privacy: Attackers = field(default_factory=dict)


@dataclass
class Provenance:
    """What the figures were made from, to filter and compare runs (MLflow tags ``cohort``, ``code_hash``,
    ``code_version``)."""

    cohort: str  # benchmark.data.prepared.Prepared.fingerprint
    code: str  # benchmark.core.provenance.code_hash of the scoring code
    git: str  # git describe of the checkout
    synthetic: bool = False  # the cohort is the generated one, with no real person (its renders may be logged)


@dataclass
class Results:
    submission: SubmissionInfo
    splits: Figures = field(default_factory=dict)
    privacy: Attackers = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    artifacts: Optional[list[str]] = None
    reference: Optional[Reference] = None
    reused: Optional[str] = None
    validation: Optional[Validation] = None
    provenance: Optional[Provenance] = None

    @classmethod
    def invalid(cls, team: str, system: str, path: str, reason: str) -> "Results":
        """A submission that failed validation: not scored, no split, the reason as its message."""
        return cls(SubmissionInfo(team, system, path), messages=[f"validation failed: {reason}"],
                   validation=Validation(False, reason))

    def prefixed(self, split: str, prefix: str) -> dict[str, float]:
        """The figures of ``split`` under ``prefix`` (``utility``, ``attributes``, ``privacy``), without it."""
        start = prefix.rstrip("/") + "/"
        return {k[len(start):]: v for k, v in self.splits.get(split, {}).items() if k.startswith(start)}

    def utility(self, split: str) -> dict[str, float]:
        return self.prefixed(split, "utility")

    def attributes(self, split: str) -> dict[str, float]:
        return self.prefixed(split, "attributes")

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` mapping; optional blocks that are unset are left out."""
        out: dict[str, Any] = {
            "submission": {"team": self.submission.team, "system": self.submission.system,
                           "path": self.submission.path},
            "splits": {s: dict(v) for s, v in self.splits.items()},
            "privacy": {s: dict(v) for s, v in self.privacy.items()},
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "messages": list(self.messages)}
        if self.artifacts is not None:
            out["artifacts"] = list(self.artifacts)
        if self.reference is not None:
            r = self.reference
            out["reference"] = {"submission": r.submission, "path": r.path, "cached": r.cached,
                                "splits": {s: dict(v) for s, v in r.splits.items()},
                                "privacy": {s: dict(v) for s, v in r.privacy.items()}}
        if self.reused is not None:
            out["reused"] = self.reused
        if self.validation is not None:
            out["validation"] = {"ok": self.validation.ok, "reason": self.validation.reason}
        if self.provenance is not None:
            p = self.provenance
            out["provenance"] = {"cohort": p.cohort, "code": p.code, "git": p.git, "synthetic": p.synthetic}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Results":
        """The inverse of :meth:`to_json` (a ``results.json`` read back, or a result-cache entry)."""
        ref, val, prov = data.get("reference"), data.get("validation"), data.get("provenance")
        return cls(submission=SubmissionInfo(**data["submission"]), splits=data.get("splits", {}),
                   privacy=data.get("privacy", {}), failures=[Failure(**f) for f in data.get("failures", [])],
                   messages=list(data.get("messages", [])), artifacts=data.get("artifacts"),
                   reference=Reference(**ref) if ref is not None else None, reused=data.get("reused"),
                   validation=Validation(**val) if val is not None else None,
                   provenance=Provenance(**prov) if prov is not None else None)

    def write(self, path: str | Path) -> Path:
        return write_json(path, self.to_json())
