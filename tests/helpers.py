"""Small real files for tests: tiny NIfTI heads and BIDS-like cohorts written to a temporary folder."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np


def ball_volume(shape=(24, 28, 26), seed=0) -> np.ndarray:
    """A noisy ellipsoid 'head' on a dark background, int16."""
    rng = np.random.default_rng(seed)
    idx = np.indices(shape, dtype=np.float32)
    c = (np.array(shape, dtype=np.float32) - 1) / 2
    r = ((idx[0] - c[0]) / (0.4 * shape[0])) ** 2 + ((idx[1] - c[1]) / (0.45 * shape[1])) ** 2 \
        + ((idx[2] - c[2]) / (0.42 * shape[2])) ** 2
    data = np.where(r < 1, 800.0, 5.0) + rng.normal(0, 3, shape)
    return data.astype(np.int16)


def write_nifti(path: Path, data: np.ndarray, affine=None, zooms=(2.0, 2.0, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if affine is None:
        affine = np.diag([*zooms, 1.0])
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def tiny_cohort(root: Path, n_persons=4, sessions=2, photos=0, sexes="MF") -> Path:
    """A BIDS-like cohort of tiny volumes: sub-t01.. with sessions ses-1.. and optional photos."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    lines = ["participant_id\tage\tsex"]
    for i in range(n_persons):
        pid = f"sub-t{i + 1:02d}"
        lines.append(f"{pid}\t{30 + i}\t{sexes[i % len(sexes)]}")
        for s in range(sessions):
            write_nifti(root / pid / f"ses-{s + 1}" / "anat" / f"{pid}_ses-{s + 1}_T1w.nii.gz",
                        ball_volume(seed=100 * i + s))
        for k in range(photos):
            (root / pid / "photo").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16, 3), 40 * k, np.uint8)).save(root / pid / "photo" / f"{k + 1}.png")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    return root


def back_to_template_order(array: np.ndarray) -> np.ndarray:
    """Undo the voxel reordering of :func:`oblique_copy`."""
    return np.flip(array, axis=0).transpose(2, 0, 1)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


def results_for(team: str, system: str, eer: float = 0.41, dice: float = 0.99, splits=("dev", "test")) -> dict:
    """A results dict as scoring writes it (a few keys of each kind)."""
    out = {}
    for k, split in enumerate(splits):
        m = {}
        for cond in ("mri2mri", "photo2mri"):
            for know in ("ignorant", "semi_informed"):
                base = eer - (0.1 if know == "semi_informed" else 0.0) - 0.01 * k
                for metric, v in (("eer", base), ("linkability", 1 - 2 * base), ("auc", 1 - base)):
                    key = f"{cond}/arcface/{know}/{metric}"
                    m[key], m[key + "_ci_low"], m[key + "_ci_high"] = v, v - 0.05, v + 0.05
        m["utility/brain_dice_mean"], m["utility/failure_rate"] = dice, 0.0
        m["privacy/worst_eer"] = eer - 0.1 - 0.01 * k
        m["privacy/worst_linkability"] = 1 - 2 * m["privacy/worst_eer"]
        out[split] = m
    return {"submission": {"team": team, "system": system, "path": f"submissions/{team}-{system}"},
            "splits": out,
            "privacy": {s: {"worst_eer_attacker": "photo2mri/arcface/semi_informed",
                            "worst_linkability_attacker": "mri2mri/arcface/semi_informed"} for s in splits},
            "failures": [{"id": "v0123456789", "error": "deepbet found no brain"}]}


CFG = {"dataset": {"_target_": "benchmark.data.dataset.Synthetic", "n_persons": 12, "grid": [64, 64, 64]},
       "baseline": None, "seed": 0, "notes": "x" * 7000, "paths": {"cache_dir": ".cache"}}


@functools.lru_cache(maxsize=None)
def _template_db() -> Path:
    """An empty, migrated MLflow SQLite store, made once per test process (migrating takes seconds)."""
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
    atexit.register(shutil.rmtree, folder, True)
    db = folder / "template.sqlite"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments(max_results=1)
    return db


def sqlite_store(folder: Path) -> str:
    """The URI of a ready, empty SQLite store in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template_db(), folder / "db.sqlite")
    return f"sqlite:///{folder / 'db.sqlite'}"


def oblique_copy(img: nib.Nifti1Image, angles_deg=(12.0, 0.0, 8.0), shift_mm=(5.0, -8.0, 3.0)) -> nib.Nifti1Image:
    """The same voxels in another voxel order (axes permuted, one flipped), and the head turned in the world.

    New voxel (a, b, c) holds old voxel (c, n1 - 1 - a, b); :func:`back_to_template_order` undoes it.
    """
    data = np.asanyarray(img.dataobj)
    n1 = data.shape[1]
    new = np.ascontiguousarray(np.flip(data.transpose(1, 2, 0), axis=0))
    perm = np.array([[0, 0, 1, 0], [-1, 0, 0, n1 - 1], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    rx, ry, rz = np.deg2rad(angles_deg)
    rot_x = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    rot_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    rot_z = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    centre = img.affine @ np.array([*(np.array(data.shape) - 1) / 2, 1.0])
    turn = np.eye(4)
    turn[:3, :3] = rot_z @ rot_y @ rot_x
    turn[:3, 3] = centre[:3] - turn[:3, :3] @ centre[:3] + np.asarray(shift_mm)
    affine = (turn @ img.affine @ perm).astype(np.float32).astype(np.float64)  # as a file would store it
    out = nib.Nifti1Image(new, affine, img.header.copy())
    out.set_qform(affine, 1)
    out.set_sform(affine, 1)
    return out
