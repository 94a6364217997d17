"""Every bad input of issue 2 point 5 gets a clear error naming the file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from benchmark.data.volume import load_volume, read_header, same_grid, save_volume
from benchmark.core.errors import BenchmarkError
from tests.helpers import ball_volume, write_nifti


def _check_refused(path, pattern, **kw):
    with pytest.raises(BenchmarkError, match=pattern) as info:
        load_volume(path, **kw)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_good_volume_is_canonical_float32(tmp_path):
    # LPS-like affine: x flipped; the loader must return RAS with the same world positions
    affine = np.array([[-2.0, 0, 0, 40], [0, 2, 0, -20], [0, 0, 2, -10], [0, 0, 0, 1]])
    data = ball_volume()
    p = write_nifti(tmp_path / "a.nii.gz", data, affine)
    img = load_volume(p)
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert img.get_fdata(dtype=np.float32).dtype == np.float32
    # voxel (0,0,0) of the file sits at world x=40; in RAS it is the last x index
    world = affine @ np.array([0, 0, 0, 1.0])
    ijk = np.linalg.inv(img.affine) @ world
    assert np.allclose(ijk[:3], [data.shape[0] - 1, 0, 0])
    assert img.get_fdata()[tuple(ijk[:3].round().astype(int))] == data[0, 0, 0]


def test_order_c_gives_the_same_voxels_in_c_order(tmp_path):
    p = write_nifti(tmp_path / "a.nii.gz", ball_volume(), np.diag([1.0, 1.2, 2.0, 1.0]))
    as_decoded = np.asanyarray(load_volume(p, canonical=False).dataobj)
    c = np.asanyarray(load_volume(p, canonical=False, order="C").dataobj)  # the second load: from the memo
    assert as_decoded.flags.f_contiguous and not as_decoded.flags.c_contiguous  # nibabel's NIfTI layout
    assert c.flags.c_contiguous and c.dtype == np.float32
    np.testing.assert_array_equal(c, as_decoded)


def test_not_nifti(tmp_path):
    p = tmp_path / "notes.nii.gz"
    p.write_bytes(gzip.compress(b"this is not an image" * 10))
    _check_refused(p, "not a readable NIfTI")
    q = tmp_path / "text.nii"
    q.write_text("hello")
    _check_refused(q, "not a readable NIfTI")


def test_truncated_gzip(tmp_path):
    p = write_nifti(tmp_path / "t.nii.gz", ball_volume((40, 40, 40)))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    _check_refused(p, "truncated or corrupt")


def test_corrupt_gzip(tmp_path):
    """A deflate stream whose header reads but whose voxels meet an invalid block: ISA-L's error, named as
    zlib's would be."""
    import zlib

    import nibabel as nib

    nii = nib.Nifti1Image(ball_volume((40, 40, 40)).astype(np.int16), np.eye(4)).to_bytes()
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = deflate.compress(nii[: len(nii) // 2]) + deflate.flush(zlib.Z_FULL_FLUSH) + b"\x07"  # block type 11
    p = tmp_path / "c.nii.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body)  # gzip header, no name, mtime 0
    _check_refused(p, "truncated or corrupt")


def test_gzipped_volumes_read_as_nibabel_reads_them(tmp_path):
    """The ISA-L decompression gives nibabel's voxels, scaling applied (int16 with a slope and intercept)."""
    import nibabel as nib

    from benchmark.data.volume import read_data, read_header

    rng = np.random.default_rng(1)
    img = nib.Nifti1Image((rng.random((30, 31, 32)) * 1000).astype(np.int16), np.diag([1.2, 1.0, 0.9, 1.0]))
    img.header.set_slope_inter(0.37, -12.5)
    p = tmp_path / "s.nii.gz"
    nib.save(img, p)
    expected = np.asanyarray(nib.load(p).dataobj)
    got = read_data(read_header(p), p)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("shape", [(20, 20), (10, 10, 10, 3)])
def test_wrong_dimensionality(tmp_path, shape):
    p = write_nifti(tmp_path / "d.nii.gz", np.ones(shape, np.int16))
    _check_refused(p, "expected a 3D volume")


def test_4d_with_one_volume_is_accepted(tmp_path):
    p = write_nifti(tmp_path / "d.nii.gz", ball_volume()[..., None])
    assert load_volume(p).ndim == 3


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf(tmp_path, value):
    data = ball_volume().astype(np.float32)
    data[3, 4, 5] = value
    p = write_nifti(tmp_path / "n.nii.gz", data)
    _check_refused(p, "NaN or Inf")


def test_all_zero(tmp_path):
    p = write_nifti(tmp_path / "z.nii.gz", np.zeros((8, 8, 8), np.int16))
    _check_refused(p, "every voxel is zero")


def test_voxel_limit_refused_before_allocation(tmp_path):
    # A header declaring 10^10 voxels, with almost no data behind it: refused from the header alone.
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2000, 2000, 2500))
    hdr.set_data_dtype(np.int16)
    p = tmp_path / "huge.nii"
    with open(p, "wb") as f:
        hdr.write_to(f)
        f.write(b"\0" * 1024)
    with pytest.raises(BenchmarkError, match="10,000,000,000 voxels"):
        read_header(p)
    _check_refused(p, "over the limit")
    small = write_nifti(tmp_path / "s.nii.gz", ball_volume())
    _check_refused(small, "over the limit", max_voxels=100)


def test_missing_file(tmp_path):
    _check_refused(tmp_path / "absent.nii.gz", "file not found")


def test_save_is_deterministic_and_atomic(tmp_path):
    img = nib.Nifti1Image(ball_volume(), np.diag([2.0, 2, 2, 1]))
    a = save_volume(img, tmp_path / "a.nii.gz").read_bytes()
    b = save_volume(img, tmp_path / "b.nii.gz").read_bytes()
    assert a == b
    assert not list(tmp_path.glob(".*tmp*"))
    assert a[4:8] == bytes(4)  # gzip's mtime field: 0
    plain = save_volume(img, tmp_path / "a.nii").read_bytes()
    assert gzip.decompress(a) == plain  # a standard gzip stream of the plain file's bytes
    assert np.array_equal(np.asanyarray(nib.load(tmp_path / "a.nii.gz").dataobj), img.get_fdata())  # nibabel alone
    back = load_volume(tmp_path / "a.nii.gz", canonical=False)
    assert same_grid(back, img)
    assert np.array_equal(back.get_fdata(), img.get_fdata())


def test_real_scans_load(real_scan_paths, real_mri_root):
    assert len(real_scan_paths) == len([p for p in real_mri_root.glob("sub-*/ses-*") if p.is_dir()])  # one T1w a session
    for name, path in real_scan_paths.items():
        img = load_volume(path)
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S"), name
        assert img.ndim == 3 and np.isfinite(img.get_fdata()).all()
    zooms = load_volume(real_scan_paths["sub-A/ses-supine"]).header.get_zooms()
    assert max(zooms) > 4  # anisotropic 1 x 1 x 4.8 mm, kept


def test_a_volume_loaded_again_is_an_equal_copy_with_the_same_layout(tmp_path):
    """The second load of a file's content is served from memory: equal voxels, header and memory layout
    (the renderer reads arrays in memory order), and each caller owns its array."""
    from benchmark.data import volume

    affine = np.array([[-2.0, 0, 0, 40], [0, 2, 0, -20], [0, 0, 2, -10], [0, 0, 0, 1]])
    p = save_volume(nib.Nifti1Image(ball_volume(), affine), tmp_path / "a.nii.gz")
    volume._VOXELS.clear()
    first = load_volume(p)
    again = load_volume(save_volume(nib.Nifti1Image(ball_volume(), affine), tmp_path / "b.nii.gz"))  # same bytes
    assert len(volume._VOXELS) == 1
    a, b = np.asarray(first.dataobj), np.asarray(again.dataobj)
    assert np.array_equal(a, b) and a.strides == b.strides and not np.shares_memory(a, b)
    assert np.array_equal(first.affine, again.affine) and first.header == again.header
    a[:] = 0  # a caller's change stays its own
    assert np.asarray(load_volume(p).dataobj).any()
    raw = load_volume(p, canonical=False)
    assert np.asarray(raw.dataobj).strides == np.asarray(nib.load(p).dataobj).astype(np.float32).strides
    volume._VOXELS.clear()
    assert np.array_equal(np.asarray(load_volume(p, canonical=False).dataobj), np.asarray(raw.dataobj))
