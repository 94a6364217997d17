"""The ``blur`` baseline's strength is physical: the same for a head scanned at another intensity scale
and, relative to the head, for a bigger head (its distances follow the registration's scale)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from baselines.blur import Blur, head_scale
from tests.helpers import dice


def test_head_scale_reads_the_registration():
    M = np.diag([0.8, 0.8, 0.8, 1.0])  # template = M @ subject: the subject is 1.25 times the template
    assert abs(head_scale(M) - 1.25) < 1e-9


def test_blur_follows_intensity_scale(template_img):
    x = np.asarray(template_img.dataobj, dtype=np.float32)
    out = Blur().deface(nib.Nifti1Image(x, template_img.affine))
    out100 = Blur().deface(nib.Nifti1Image(100.0 * x, template_img.affine))
    changed = np.abs(out - x) > 0.01 * x.max()
    assert changed.mean() > 0.005
    assert np.abs(out100 / 100.0 - out).max() <= 1e-3 * x.max()


def test_blur_scales_with_the_head(template_img):
    """The same voxels on a grid 1.2 times coarser are a head 1.2 times bigger: the band, blur and noise
    grow with it, so the same voxels change."""
    x = np.asarray(template_img.dataobj, dtype=np.float32)
    big = template_img.affine.copy()
    big[:3, :] *= 1.2
    out = Blur().deface(nib.Nifti1Image(x, template_img.affine))
    out_big = Blur().deface(nib.Nifti1Image(x, big))
    a, b = np.abs(out - x) > 0.05 * x.max(), np.abs(out_big - x) > 0.05 * x.max()
    assert dice(a, b) >= 0.8
