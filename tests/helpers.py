"""Small real files for tests: tiny NIfTI heads and BIDS-like cohorts written to a temporary folder."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

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


def results_for(team: str, system: str, eer: float = 0.41, dice: float = 0.99, splits=("dev", "test"),
                chance: bool = True, distinguishable: bool = True) -> dict:
    """A results dict as scoring writes it (a few keys of each kind); ``chance=False``: an older run without
    the chance keys; ``distinguishable``: whether the worst case's permutation p is below 0.05."""
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
        if chance:
            for key in ("photo2mri/arcface/semi_informed/eer", "privacy/worst_eer"):
                m[key + "_chance"], m[key + "_chance_p05"] = 0.43, 0.31
                m[key + "_p"] = 0.001 if distinguishable else 0.4
            m["privacy/distinguishable_from_chance"] = float(distinguishable)
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
    """The URI of a ready SQLite store in ``folder``: an empty, migrated one copied there (a new store
    costs each command seconds of migrations), or the one a previous call put there, with its runs."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "db.sqlite").is_file():
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


# -- copies of a head whose world transform is known (head-frame invariance) ---------------------------
def _rotation(axis: int, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    i, j = [k for k in range(3) if k != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = np.cos(a), -np.sin(a), np.sin(a), np.cos(a)
    return R


def _resample(img: nib.Nifti1Image, affine: np.ndarray, shape, world: np.ndarray = np.eye(4)) -> nib.Nifti1Image:
    """``img`` moved by the world transform ``world`` and sampled (trilinear) on the grid (affine, shape)."""
    from scipy import ndimage

    data = np.asarray(img.dataobj, dtype=np.float32)
    to_src = np.linalg.inv(img.affine) @ np.linalg.inv(world) @ affine
    out = ndimage.affine_transform(data, to_src[:3, :3], to_src[:3, 3], output_shape=tuple(shape), order=1,
                                   mode="constant", cval=float(data.min()))
    return nib.Nifti1Image(out, affine)


def conformed(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """FreeSurfer's ``mri_convert --conform`` grid: 256^3 voxels of 1 mm in LIA order, centred on the scan."""
    centre = img.affine @ np.array([*(np.array(img.shape[:3]) - 1) / 2.0, 1.0])
    affine = np.array([[-1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]])  # i -> L, j -> I, k -> A
    affine[:3, 3] = centre[:3] - affine[:3, :3] @ np.full(3, 127.5)
    return _resample(img, affine, (256, 256, 256))


def reoriented(img: nib.Nifti1Image, codes: str) -> nib.Nifti1Image:
    """The same voxels stored in the axis order ``codes`` (e.g. 'PIR'), the affine following."""
    src = nib.orientations.io_orientation(img.affine)
    ornt = nib.orientations.ornt_transform(src, nib.orientations.axcodes2ornt(tuple(codes)))
    data = nib.orientations.apply_orientation(np.asarray(img.dataobj), ornt)
    return nib.Nifti1Image(data, img.affine @ nib.orientations.inv_ornt_aff(ornt, img.shape[:3]))


def rotated_head(img: nib.Nifti1Image, axis: int, degrees: float, voxel_mm: float = 1.5):
    """The head turned ``degrees`` about world axis ``axis`` through the scan's centre and resampled on an
    axis-aligned grid of ``voxel_mm`` holding the turned field of view; returns (image, world transform)."""
    centre = img.affine @ np.array([*(np.array(img.shape[:3]) - 1) / 2.0, 1.0])
    world = np.eye(4)
    world[:3, :3] = _rotation(axis, degrees)
    world[:3, 3] = centre[:3] - world[:3, :3] @ centre[:3]
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in img.shape[:3]], indexing="ij")).reshape(3, -1).T
    moved = np.c_[corners, np.ones(len(corners))] @ (world @ img.affine).T
    lo, hi = moved[:, :3].min(0), moved[:, :3].max(0)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = lo
    shape = np.ceil((hi - lo) / voxel_mm).astype(int) + 1
    return _resample(img, affine, shape, world), world


def rescaled(img: nib.Nifti1Image, scale: float, offset: float = 0.0, dtype=np.float32) -> nib.Nifti1Image:
    data = np.asarray(img.dataobj, dtype=np.float64) * scale + offset
    return nib.Nifti1Image(data.astype(dtype), img.affine)


def noisy(img: nib.Nifti1Image, fraction: float = 0.05, seed: int = 0) -> nib.Nifti1Image:
    """Rician noise of ``fraction`` of the 95th intensity percentile (magnitude of complex Gaussian noise)."""
    data = np.asarray(img.dataobj, dtype=np.float32)
    sigma = fraction * float(np.percentile(data, 95))
    rng = np.random.default_rng(seed)
    re = data + rng.normal(0.0, sigma, data.shape).astype(np.float32)
    im = rng.normal(0.0, sigma, data.shape).astype(np.float32)
    return nib.Nifti1Image(np.hypot(re, im), img.affine)


def head_variants(img: nib.Nifti1Image, names=None) -> dict:
    """Named copies of ``img`` -> (image, world transform from ``img``'s world to the copy's)."""
    eye = np.eye(4)
    makers = {
        "lia256": lambda: (conformed(img), eye),
        "pir": lambda: (reoriented(img, "PIR"), eye),
        "x0.01": lambda: (rescaled(img, 0.01), eye),
        "x100": lambda: (rescaled(img, 100.0), eye),
        "uint16+1000": lambda: (rescaled(img, 1.0, 1000.0 - float(np.min(img.dataobj)), np.uint16), eye),
        "noise5%": lambda: (noisy(img), eye),
        "rotLR25": lambda: rotated_head(img, 0, 25.0),
        "rotAP-25": lambda: rotated_head(img, 1, -25.0),
        "rotSI30": lambda: rotated_head(img, 2, 30.0),
    }
    return {k: makers[k]() for k in (names or makers)}


def as_loaded(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """What ``benchmark.data.volume.load_volume`` makes of a file holding ``img``: float32, RAS voxel order."""
    return nib.as_closest_canonical(nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine))


def frame_difference(a, b, world: np.ndarray) -> tuple[float, float, float]:
    """Distance (mm) between pose ``b``'s centre and ``a``'s mapped by ``world``, and the angles
    (degrees) between their forward and up axes."""
    R = world[:3, :3]

    def angle(u, v):
        return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1.0, 1.0))))

    centre = R @ a.center + world[:3, 3]
    return float(np.linalg.norm(centre - b.center)), angle(R @ a.forward, b.forward), angle(R @ a.up, b.up)


def cli(*args, cwd: Path | None = None) -> SimpleNamespace:
    """``python -m benchmark <args>`` run in this test process, in ``cwd`` when given: (``returncode``,
    ``stdout``, ``stderr``) as text. The worker's imports and loaded models serve every call (a new
    process costs about 10 s of imports on a 2-core machine); tests of what only a separate process shows
    (exit on a signal, two processes at once, a participant without the organiser's files) start one.
    ``cwd``: relative paths of the config are the folder's; joblib's worker processes, which outlive a call
    in the folder they started in, are shut down before and after such a call."""
    from benchmark.cli import main

    out, err = io.StringIO(), io.StringIO()
    here, env = os.getcwd(), dict(os.environ)  # a command sets BENCHMARK_CACHE_DIR for its worker processes
    try:
        if cwd is not None:
            _stop_joblib_workers()
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(env)
        if cwd is not None:
            _stop_joblib_workers()
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def _stop_joblib_workers() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
