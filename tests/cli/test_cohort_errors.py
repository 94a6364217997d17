"""Every refusal of a bad cohort file listed in the README ("Your own cohort"), through ``prepare``:
exit status 2, one line on stderr, the file named, no traceback."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from benchmark.cli import main
from tests.helpers import ball_volume, tiny_cohort

SCAN = "sub-t02/ses-2/anat/sub-t02_ses-2_T1w.nii.gz"


def _truncated(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _not_nifti(path):
    path.write_bytes(gzip.compress(b"a scanner's text export, not an image\n" * 20))


def _volume(data):
    def write(path):
        nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return write


def _nan(path):
    data = ball_volume().astype(np.float32)
    data[3, 4, 5] = np.nan
    _volume(data)(path)


def _missing_session(path):
    path.unlink()


@pytest.mark.parametrize("damage, message", [
    (_not_nifti, "not a readable NIfTI"),
    (_truncated, "truncated or corrupt"),
    (_volume(np.ones((20, 20), np.int16)), "expected a 3D volume, got 2D"),
    (_volume(np.stack([ball_volume()] * 3, axis=-1)), "expected a 3D volume, got 4D"),
    (_nan, "NaN or Inf"),
    (_volume(np.zeros((20, 20, 20), np.int16)), "every voxel is zero"),
    (_missing_session, "session folder has no T1w volume"),
], ids=["not-nifti", "truncated-gzip", "2d", "4d", "nan", "all-zero", "missing-session"])
def test_bad_cohort_file_is_one_line_naming_it(damage, message, tmp_path, capsys):
    root = tiny_cohort(tmp_path / "cohort", n_persons=3, sessions=2)
    damage(root / SCAN)
    code = main(["prepare", "dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
                 "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err and "sub-t02_ses-2_T1w.nii.gz" in err


def test_voxel_limit_is_one_line_naming_the_file(tmp_path, capsys):
    root = tiny_cohort(tmp_path / "cohort", n_persons=3, sessions=2)
    code = main(["prepare", "dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
                 "limits.max_voxels=1000", "progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "limits.max_voxels" in err and "_T1w.nii.gz" in err
