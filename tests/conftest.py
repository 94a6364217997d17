"""Shared fixtures: the real test scans (skipped with a reason when absent) and a temporary work folder."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import pytest

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.anatomy.template import template_paths
from tests.helpers import oblique_copy

REPO = Path(__file__).resolve().parents[1]
REAL_MRI = Path(os.environ.get("BENCHMARK_REAL_MRI", REPO.parent / "shared" / "data" / "real-mri"))


@pytest.fixture(scope="session")
def real_mri_root() -> Path:
    """Root of ../shared/data/real-mri (five real head scans of two people); skip when absent."""
    if not (REAL_MRI / "participants.tsv").is_file():
        pytest.skip(f"real test scans not found at {REAL_MRI} (set BENCHMARK_REAL_MRI to their folder)")
    return REAL_MRI


@pytest.fixture(scope="session")
def real_scan_paths(real_mri_root) -> dict[str, Path]:
    """Map 'sub-A/ses-supine' -> path of the T1w NIfTI."""
    out = {}
    for p in sorted(real_mri_root.glob("sub-*/ses-*/anat/*_T1w.nii.gz")):
        out[f"{p.parts[-4]}/{p.parts[-3]}"] = p
    return out


@pytest.fixture(scope="session")
def masker(tmp_path_factory) -> BrainMasker:
    """deepbet with a disk cache shared by the whole test session (the tests of baselines and utility)."""
    return BrainMasker(cache=tmp_path_factory.getbasetemp() / "brainmask-cache")


@pytest.fixture(scope="session")
def template_img() -> nib.Nifti1Image:
    return nib.load(template_paths()[0])


@pytest.fixture(scope="session")
def oblique_img(template_img) -> nib.Nifti1Image:
    return oblique_copy(template_img)
