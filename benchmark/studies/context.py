"""What every study shares: the prepared cohort, the submission, the output folder, and writing results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import write_text
from benchmark.data.prepare import Prepared, prepare
from benchmark.data.splits import TrialList
from benchmark.core.keys import IGNORANT
from benchmark.scoring.score import trial_metrics
from benchmark.scoring.scorer import Scorer, TrialScores


@dataclass
class Context:
    """A study's inputs: the composed config, the prepared cohort, the submission and where to write."""

    cfg: DictConfig
    prepared: Prepared
    submission: Path
    out_dir: Path

    @property
    def options(self) -> DictConfig:
        return self.cfg.studies

    def scorer(self) -> Scorer:
        return Scorer(self.prepared, self.submission, show=self.cfg.progress)

    def trial_lists(self, conditions: Sequence[str] | None = None) -> list[TrialList]:
        """The study split's trial lists of ``conditions`` (default ``studies.conditions``); none is an error."""
        split, wanted = self.options.split, list(conditions or self.options.conditions)
        out = [tl for tl in self.prepared.splits.trial_lists if tl.split == split and tl.condition in wanted]
        if not out:
            raise BenchmarkError(f"study: no trial list for split '{split}' and conditions {wanted}", self.prepared.root)
        return out

    def score_variant(self, scorer: Scorer, tl: TrialList, attack, name: str, label: str,
                      shown: Sequence[str]) -> tuple[TrialScores, dict[str, float], list[str]]:
        """One variant of an attack scored as the ignorant attacker: (trial scores, its metrics by name, a
        table row ``[name, label, "value [low, high]" for each of shown]``); no trial scored is an error."""
        ts = scorer.score(tl, attack, name, IGNORANT)
        if not ts.lines:
            raise BenchmarkError(f"study: {name}/{label}: no trial scored (failures: {scorer.failure_list()})",
                                 self.submission)
        m = {str(k).rsplit("/", 1)[-1]: v for k, v in
             trial_metrics(ts, self.options.bootstrap, self.cfg.scoring.ci_level, self.cfg.seed).items()}
        row = [name, label] + [f"{m[k]:.3f} [{m.get(k + '_ci_low', float('nan')):.2f}, "
                               f"{m.get(k + '_ci_high', float('nan')):.2f}]" for k in shown]
        return ts, m, row

    def write(self, name: str, payload: dict) -> Path:
        """``<out_dir>/<name>.json``."""
        path = self.out_dir / f"{name}.json"
        write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return path


def study_context(cfg: DictConfig) -> Context:
    """The context of ``study <name> submission=<dir>``; output in ``output_dir`` or
    ``<paths.outputs_dir>/study/<name>/<date>/<submission folder name>``."""
    if not cfg.submission:
        raise BenchmarkError(f"give the submission to study: python -m benchmark study {cfg.study} submission=<dir>")
    submission = Path(cfg.submission)
    if not submission.is_dir():
        raise BenchmarkError("study: not a submission folder (unpack an archive with validate first)", submission)
    out = Path(cfg.output_dir) if cfg.output_dir else (
        Path(cfg.paths.outputs_dir) / "study" / cfg.study / datetime.now().strftime("%Y-%m-%d_%H-%M-%S") / submission.name)
    out.mkdir(parents=True, exist_ok=True)
    return Context(cfg, prepare(cfg), submission, out)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain text table; floats with three decimals."""
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
