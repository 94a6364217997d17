"""The prepared cohort that scoring consumes: the dataset (originals, photographs, attributes) and its splits.

Built by :func:`benchmark.data.prepare.prepare` from the organiser's dataset, or by
:func:`benchmark.data.devkit.load_dev_kit` from a dev kit alone.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from benchmark.core.files import config_hash
from benchmark.data.dataset import Dataset
from benchmark.data.splits import Splits, TrialList


SYNTHETIC_TARGET = "benchmark.data.synthetic.SyntheticCohort"  # the generated cohort's class (dataset.json)


@dataclass
class Prepared:
    root: Path
    dataset: Dataset
    splits: Splits
    kit_dir: Path | None = None  # the kit submissions are validated against; default <root>/kit

    @property
    def kit(self) -> Path:
        return self.kit_dir or self.root / "kit"

    def ids(self) -> list[str]:
        return [v.pseudonym for v in self.splits.volumes]

    @functools.cached_property
    def fingerprint(self) -> str:
        """What these lists were made from: the folder's name (the dataset and split configs) and the
        size and modification time of every source file (participants.tsv, scans, photographs), so that a
        cohort edited in place under the same config gives another fingerprint. Part of the keys of the
        baseline volumes and the scored results."""
        ds = self.dataset
        files = [ds.root / "participants.tsv"] + [f for part in ds.participants.values() for f in
                                                  [*(ses.path for ses in part.sessions.values()), *part.photos]]
        stamps = {f.relative_to(ds.root).as_posix(): [(st := f.stat()).st_size, st.st_mtime_ns] for f in files}
        return config_hash({"prepared": self.root.name, "files": stamps})

    @functools.cached_property
    def synthetic(self) -> bool:
        """Whether the cohort is the generated synthetic one, with no real person: ``dataset.json`` names its
        class. False for any other dataset and for a dev kit (which does not say what it was made from)."""
        meta = self.root / "dataset.json"
        if not meta.is_file():
            return False
        return json.loads(meta.read_text()).get("dataset", {}).get("_target_") == SYNTHETIC_TARGET

    def trial_list(self, split: str, condition: str) -> TrialList | None:
        return next((t for t in self.splits.trial_lists if t.split == split and t.condition == condition), None)
