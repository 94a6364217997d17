"""``prepare``: dataset -> fixed splits, trial lists, organiser keys and the participant kit.

Layout of ``<paths.prepared_dir>/<dataset hash>/``:

    dataset.json                  the dataset config and root (what these lists were made from)
    splits.json                   persons per split (organiser-only)
    key.tsv                       pseudonym -> participant, session, split, role (organiser-only)
    enrollments.tsv               photo enrollment id -> participant (organiser-only)
    trials/<split>/<condition>/trials            all pairs, "<enroll_id> <trial_id> target|nontarget"
    trials/<split>/<condition>/trials_same_sex   same-sex pairs
    kit/                          what a participant receives, nothing else:
        ids.txt                   every volume id a valid submission must contain
        volumes/<id>.nii.gz       the volumes to anonymise, clean headers, under their pseudonyms
        README.md                 how to submit
    kit-dev/                      the dev kit organisers may hand out (benchmark.data.devkit)

The folder name is a hash of the dataset and split configs, so ``anonymize``, ``validate`` and
``score`` find the same lists from the same overrides.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from benchmark.data.devkit import summary_line, write_dev_kit
from benchmark.data.prepared import Prepared
from benchmark.core import registry
from benchmark.core.config import SplitFractions, typed
from benchmark.core.keys import ALL_SPLITS
from benchmark.data.splits import make_splits
from benchmark.data.volume import clean_image, read_data, read_header, save_volume
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import config_hash, write_json, write_text
from benchmark.core.progress import progress

KIT_README = """# Participant kit

Anonymise every volume in `volumes/` with your system and submit, for each id listed in `ids.txt`,
`volumes/<id>.nii.gz` on the same grid (shape and affine) as the volume you received, together with a
`submission.yaml` (team, system, description). See submissions/README.md of the benchmark.
"""


#: Dataset options that say how a cohort is made, not what it holds: they do not key the prepared folder.
RUNTIME_KEYS = ("workers",)


def prepared_root(cfg: DictConfig) -> Path:
    """``<paths.prepared_dir>/<hash of the dataset and splits configs>`` (runtime options left out: a run
    with ``workers=1`` finds the kit and the baselines' submissions that ``workers=2`` made)."""
    dataset = {k: v for k, v in OmegaConf.to_container(cfg.dataset, resolve=True).items() if k not in RUNTIME_KEYS}
    key = {"dataset": dataset, "splits": OmegaConf.to_container(cfg.splits, resolve=True)}
    return Path(cfg.paths.prepared_dir) / f"{config_hash(key)}"


def prepare(cfg: DictConfig, write_kit: bool | None = None) -> Prepared:
    """Materialise the dataset, derive splits and trial lists, write them and (optionally) the kit."""
    dataset = registry.build("dataset", node=cfg.dataset).load(progress=cfg.progress)
    root = dataset.root
    for part in dataset.participants.values():  # header checks before anything is written
        for ses in part.sessions.values():
            read_header(ses.path, cfg.limits.max_voxels)
    splits = make_splits(dataset, typed(SplitFractions, cfg.splits, "splits"))
    if not splits.trial_lists:
        raise BenchmarkError("the cohort is too small for any condition: " + "; ".join(splits.messages), root)
    out = prepared_root(cfg)
    write_json(out / "dataset.json", {"root": str(root), "dataset": OmegaConf.to_container(cfg.dataset),
                                      "splits": OmegaConf.to_container(cfg.splits)})
    write_json(out / "splits.json", {"persons": splits.persons, "messages": splits.messages})
    write_text(out / "key.tsv", "pseudonym\tparticipant_id\tsession_id\tsplit\trole\n" + "".join(
        f"{v.pseudonym}\t{v.participant_id}\t{v.session_id}\t{v.split}\t{v.role}\n" for v in splits.volumes))
    write_text(out / "enrollments.tsv", "enroll_id\tparticipant_id\n" + "".join(
        f"{e}\t{p}\n" for e, p in sorted(splits.enrollments.items())))
    for tl in splits.trial_lists:
        folder = out / "trials" / tl.split / tl.condition
        write_text(folder / "trials", "".join(t.line() + "\n" for t in tl.trials))
        write_text(folder / "trials_same_sex", "".join(t.line() + "\n" for t in tl.same_sex))
    prepared = Prepared(out, dataset, splits)
    if cfg.prepare.write_kit if write_kit is None else write_kit:
        write_participant_kit(prepared, cfg.limits.max_voxels, show=cfg.progress)
        if cfg.prepare.write_dev_kit:
            write_dev_kit(prepared)
    return prepared


def write_participant_kit(prepared: Prepared, max_voxels: int, show: bool = True) -> Path:
    """Copy each volume to anonymise under its pseudonym, with a fresh header (no names, no dates)."""
    kit = prepared.kit
    manifest_path = prepared.root / "kit_sources.json"  # organiser-side bookkeeping, outside the kit
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    new = {}
    for v in progress(prepared.splits.volumes, "kit volumes", show):
        src = prepared.dataset.session(v.participant_id, v.session_id).path
        stat = src.stat()
        stamp = f"{src}:{stat.st_size}:{stat.st_mtime_ns}"
        dst = kit / "volumes" / f"{v.pseudonym}.nii.gz"
        new[v.pseudonym] = stamp
        if old.get(v.pseudonym) == stamp and dst.is_file():
            continue
        write_kit_volume(src, dst, max_voxels)
    for stale in (kit / "volumes").glob("*.nii.gz"):
        if stale.name[: -len(".nii.gz")] not in new:
            stale.unlink()
    write_text(kit / "ids.txt", "".join(f"{i}\n" for i in sorted(new)))
    write_text(kit / "README.md", KIT_README)
    write_json(manifest_path, new)
    return kit


def write_kit_volume(src: Path, dst: Path, max_voxels: int) -> Path:
    """``src`` as the kit holds it: its voxels (integers kept, anything else float32) and grid under a fresh
    header. A synthetic volume is written this way already, so its kit copy has its bytes (and the none
    baseline's submission shares the originals' cached embeddings, which are keyed by file content)."""
    img = read_header(src, max_voxels)
    data = read_data(img, src)
    dtype = img.get_data_dtype() if np.issubdtype(data.dtype, np.integer) else np.float32
    return save_volume(clean_image(type(img)(data, img.affine), dtype=dtype), dst)


def summary(prepared: Prepared) -> str:
    lines = [f"prepared: {prepared.root}"]
    for split in ALL_SPLITS:
        lines.append(f"  {split:<5} {len(prepared.splits.persons[split]):4d} persons")
    for tl in prepared.splits.trial_lists:
        n_t = sum(t.target for t in tl.trials)
        lines.append(f"  {tl.split}/{tl.condition}: {len(tl.trials)} trials ({n_t} target), "
                     f"{len(tl.same_sex)} same-sex")
    lines += [f"  note: {m}" for m in prepared.splits.messages]
    lines.append(f"  participant kit: {prepared.kit} ({len(prepared.splits.volumes)} volumes)")
    lines.append(summary_line(prepared))
    return "\n".join(lines)
