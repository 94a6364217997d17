"""Small real files for tests: tiny NIfTI heads and BIDS-like cohorts written to a temporary folder."""

from __future__ import annotations

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
