"""Submission validation and safe unpacking: each bad submission gets its own clear one-line message."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from benchmark.cli import main
from benchmark.cli.commands import validate_command
from benchmark.core.errors import BenchmarkError
from benchmark.submission.unpack import unpack_archive
from benchmark.core.config import ValidationConfig
from benchmark.submission.validate import report_path, validate_submission, validation_config
from tests.helpers import ball_volume, write_nifti

IDS = ["v0001", "v0002", "v0003"]
AFFINE = np.array([[-2.0, 0, 0, 30], [0, 2.0, 0, -40], [0, 0, 2.0, -20], [0, 0, 0, 1]])
INFO = {"team": "acme", "system": "blur-1", "description": "blurs the face"}


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    kit = tmp_path_factory.mktemp("kit")
    for i, vid in enumerate(IDS):
        write_nifti(kit / "volumes" / f"{vid}.nii.gz", ball_volume(seed=i), AFFINE)
    (kit / "ids.txt").write_text("".join(f"{v}\n" for v in IDS))
    return kit


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """One folder tree holding the good submission and every bad one."""
    return tmp_path_factory.mktemp("submissions")


def make_good(folder: Path, kit: Path) -> Path:
    for vid in IDS:
        img = nib.load(kit / "volumes" / f"{vid}.nii.gz")
        data = np.asanyarray(img.dataobj).copy()
        data[:, -6:, :] = 0  # "defaced"
        write_nifti(folder / "volumes" / f"{vid}.nii.gz", data, img.affine)
    (folder / "submission.yaml").write_text(yaml.safe_dump(INFO))
    return folder


def bad(tree: Path, kit: Path, name: str) -> Path:
    folder = tree / name
    if folder.exists():
        shutil.rmtree(folder)
    return make_good(folder, kit)


def only_error(report) -> str:
    """The one error of a report (global or per file), as printed."""
    errors = list(report.errors) + [f"{f.path}: {f.message}" for f in report.file_errors]
    assert not report.ok
    assert len(errors) == 1, errors
    assert "\n" not in errors[0] and "Traceback" not in errors[0]
    return errors[0]


def vol(folder: Path, vid: str = "v0002") -> Path:
    return folder / "volumes" / f"{vid}.nii.gz"


# ------------------------------------------------------------------------------------------ good

def test_good_submission_is_valid(tree, kit):
    good = make_good(tree / "good", kit)
    report = validate_submission(good, kit)
    assert report.ok, report.lines()
    assert (report.team, report.system) == ("acme", "blur-1")
    assert report.n_ok == report.n_expected == 3
    assert [f.id for f in report.files][:3] == IDS and all(f.ok for f in report.files)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz", "tgz"])
def test_good_archives_are_valid(tree, kit, tmp_path, fmt):
    good = make_good(tmp_path / "acme-blur", kit)
    archive = tmp_path / f"sub.{fmt}"
    if fmt == "zip":
        with zipfile.ZipFile(archive, "w") as zf:  # packed with its folder: the root is found inside
            for p in sorted(good.rglob("*")):
                zf.write(p, p.relative_to(tmp_path))
    else:
        with tarfile.open(archive, "w:gz") as tf:  # packed flat
            for p in sorted(good.iterdir()):
                tf.add(p, p.name)
    keep = tmp_path / "unpacked"
    report = validate_submission(archive, kit, ValidationConfig(unpack_dir=str(keep)))
    assert report.ok, report.lines()
    assert (Path(report.root) / "submission.yaml").is_file()
    report = validate_submission(archive, kit)  # temporary unpack folder, removed
    assert report.ok and not Path(report.root).exists()


# ------------------------------------------------------------------------------------------ bad volumes

def test_data_check_remembered_by_content(tree, kit, tmp_path, monkeypatch):
    """With a cache, a volume whose voxels passed is not read again; a changed (NaN) copy is."""
    import benchmark.submission.validate as V

    sub = bad(tree, kit, "cached")
    reads = []
    real = V.check_data
    monkeypatch.setattr(V, "check_data", lambda data: reads.append(1) or real(data))
    assert validate_submission(sub, kit, cache_dir=tmp_path).ok and len(reads) == len(IDS)
    assert len(list((tmp_path / V.VALIDATED_STAGE).glob("*.ok"))) == len(IDS)
    assert validate_submission(sub, kit, cache_dir=tmp_path).ok and len(reads) == len(IDS)  # nothing read
    data = ball_volume(seed=1).astype(np.float32)
    data[3, 4, 5] = np.nan
    write_nifti(vol(sub), data, AFFINE)
    os.utime(vol(sub), (1, 1))  # an old file: its hash may be remembered, by inode, size and time
    msg = only_error(validate_submission(sub, kit, cache_dir=tmp_path))
    assert "NaN or Inf" in msg and len(reads) == len(IDS) + 1
    assert validate_submission(sub, kit).ok is False  # without a cache: the full check


def test_truncated_gzip(tree, kit):
    sub = bad(tree, kit, "truncated")
    raw = vol(sub).read_bytes()
    vol(sub).write_bytes(raw[: len(raw) // 2])
    msg = only_error(validate_submission(sub, kit))
    assert msg.startswith("volumes/v0002.nii.gz: ") and "truncated or corrupt" in msg


def test_nan_volume(tree, kit):
    sub = bad(tree, kit, "nan")
    data = ball_volume(seed=1).astype(np.float32)
    data[3, 4, 5] = np.nan
    write_nifti(vol(sub), data, AFFINE)
    msg = only_error(validate_submission(sub, kit))
    assert "v0002" in msg and "NaN or Inf" in msg


def test_all_zero_volume(tree, kit):
    sub = bad(tree, kit, "zeros")
    write_nifti(vol(sub), np.zeros((24, 28, 26), np.int16), AFFINE)
    assert "every voxel is zero" in only_error(validate_submission(sub, kit))


def test_threads_give_the_serial_report_in_kit_order(tree, kit):
    """Volumes checked in threads (``validation.workers``, by default the run's ``workers``) give the
    report a serial check gives, file by file in the kit's order."""
    sub = bad(tree, kit, "threads")
    data = ball_volume(seed=0).astype(np.float32)
    data[1, 2, 3] = np.inf
    write_nifti(vol(sub, "v0001"), data, AFFINE)
    write_nifti(vol(sub, "v0003"), ball_volume(shape=(24, 28, 20)), AFFINE)
    serial = validate_submission(sub, kit, ValidationConfig(workers=1))
    threaded = validate_submission(sub, kit, ValidationConfig(workers=3))
    assert threaded.files == serial.files and threaded.errors == serial.errors and not threaded.ok
    assert [f.status for f in serial.files if f.path.startswith("volumes/")] == ["data", "ok", "grid"]
    assert validation_config(OmegaConf.create({"workers": 2})).workers == 2
    assert validation_config(OmegaConf.create({"workers": 2, "validation": {"workers": 4}})).workers == 4
    assert validation_config(None).workers == 1


def test_wrong_shape(tree, kit):
    sub = bad(tree, kit, "shape")
    write_nifti(vol(sub), ball_volume(shape=(24, 28, 20)), AFFINE)
    msg = only_error(validate_submission(sub, kit))
    assert "shape (24, 28, 20) differs from the received volume's (24, 28, 26)" in msg


def test_wrong_affine_and_tolerance(tree, kit):
    sub = bad(tree, kit, "affine")
    shifted = AFFINE.copy()
    shifted[0, 3] += 0.5
    write_nifti(vol(sub), ball_volume(seed=1), shifted)
    msg = only_error(validate_submission(sub, kit))
    assert "affine differs" in msg and "0.5 mm" in msg and "validation.affine_atol" in msg
    assert validate_submission(sub, kit, ValidationConfig(affine_atol=0.6)).ok  # tolerance is configurable


def test_4d_volume(tree, kit):
    sub = bad(tree, kit, "fourd")
    write_nifti(vol(sub), np.stack([ball_volume(seed=1)] * 2, -1), AFFINE)
    assert "expected a 3D volume" in only_error(validate_submission(sub, kit))


def test_header_declaring_1e10_voxels(tree, kit):
    sub = bad(tree, kit, "huge_header")
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.uint8)
    hdr.set_data_shape((10000, 10000, 100))
    hdr.set_sform(AFFINE, code=1)
    hdr.set_qform(AFFINE, code=1)
    hdr["vox_offset"] = 352
    with gzip.open(vol(sub), "wb") as f:
        f.write(hdr.binaryblock + b"\0" * 4 + b"\1" * 1000)
    msg = only_error(validate_submission(sub, kit))
    assert "header declares 10,000,000,000 voxels" in msg


def test_not_nifti(tree, kit):
    sub = bad(tree, kit, "notnifti")
    with gzip.open(vol(sub), "wb") as f:
        f.write(b"hello, this is not an image" * 20)
    assert "not a readable NIfTI" in only_error(validate_submission(sub, kit))


# ------------------------------------------------------------------------------------------ ids and files

def test_missing_id(tree, kit):
    sub = bad(tree, kit, "missing")
    vol(sub, "v0003").unlink()
    msg = only_error(validate_submission(sub, kit))
    assert msg.startswith("volumes/v0003.nii.gz: missing")


def test_extra_id(tree, kit):
    sub = bad(tree, kit, "extra")
    shutil.copy(vol(sub), vol(sub, "v9999"))
    msg = only_error(validate_submission(sub, kit))
    assert "v9999" in msg and "extra id" in msg
    # scoring from a dev kit: the volumes it does not list are ignored, said in a warning
    report = validate_submission(sub, kit, ValidationConfig(ignore_extra=True))
    assert report.ok and report.n_ok == len(IDS)
    assert any("1 volume(s) not in" in w for w in report.warnings)


def test_stray_file_and_uncompressed(tree, kit):
    sub = bad(tree, kit, "stray")
    (sub / "notes.txt").write_text("hi")
    report = validate_submission(sub, kit)
    assert [f.status for f in report.file_errors] == ["stray"] and "notes.txt" in report.reason()
    (sub / "notes.txt").unlink()
    nib.save(nib.load(vol(sub)), sub / "volumes" / "v0002.nii")
    assert "gzipped" in only_error(validate_submission(sub, kit))


def test_symlink(tree, kit):
    sub = bad(tree, kit, "symlink")
    target = tree / "outside.nii.gz"
    shutil.copy(vol(sub), target)
    vol(sub).unlink()
    vol(sub).symlink_to(target)
    report = validate_submission(sub, kit)
    link = next(f for f in report.files if f.status == "link")
    assert "symbolic link" in link.message and link.path == "volumes/v0002.nii.gz"
    assert not report.ok
    # a linked folder is not followed
    vol(sub).unlink()
    shutil.copy(target, vol(sub))
    (sub / "more").symlink_to(tree / "good", target_is_directory=True)
    assert "symbolic link" in only_error(validate_submission(sub, kit))
    # nor is the submission itself a link
    (tree / "link-to-good").symlink_to(tree / "good", target_is_directory=True)
    assert "symbolic link" in only_error(validate_submission(tree / "link-to-good", kit))


@pytest.mark.parametrize("content, expect", [
    (None, "submission.yaml is missing"),
    ("team: [acme\nsystem: x\n", "not valid YAML"),
    ("team: acme\nsystem: x\n", "missing or empty field(s): description"),
    ("- a list\n", "must be a mapping"),
    ("team: acme corp\nsystem: x/y\ndescription: d\n", "team 'acme corp' and system 'x/y'"),
])
def test_bad_submission_yaml(tree, kit, content, expect):
    sub = bad(tree, kit, "yaml")
    if content is None:
        (sub / "submission.yaml").unlink()
    else:
        (sub / "submission.yaml").write_text(content)
    msg = only_error(validate_submission(sub, kit))
    assert msg.startswith("submission.yaml: ") and expect in msg


def test_oversized_file_and_total(tree, kit):
    sub = bad(tree, kit, "oversized")
    write_nifti(vol(sub), ball_volume(seed=1).astype(np.float64), AFFINE)  # the largest of the three
    size = vol(sub).stat().st_size
    others = max(vol(sub, v).stat().st_size for v in ("v0001", "v0003"))
    assert others < size
    msg = only_error(validate_submission(sub, kit, ValidationConfig(max_file_mb=others / 1e6)))
    assert "over the limit" in msg and "validation.max_file_mb" in msg
    total = sum(p.stat().st_size for p in sub.rglob("*") if p.is_file())
    msg = only_error(validate_submission(sub, kit, ValidationConfig(max_total_gb=(total - 1) / 1e9)))
    assert "validation.max_total_gb" in msg


# ------------------------------------------------------------------------------------------ archives

def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _tar(path: Path, members: dict[str, bytes], kinds: dict[str, tuple[bytes, str]] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, link) in (kinds or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            tf.addfile(info)
    return path


def test_zip_with_dotdot_members(tree, kit, tmp_path):
    archive = _zip(tmp_path / "evil.zip", {"submission.yaml": yaml.safe_dump(INFO).encode(),
                                           "../../evil.txt": b"pwned"})
    msg = only_error(validate_submission(archive, kit))
    assert "'../../evil.txt'" in msg and "points outside" in msg
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("maker, expect", [
    (lambda p: _zip(p / "abs.zip", {"/etc/x": b"x"}), "absolute path"),
    (lambda p: _zip(p / "link.zip", {"a": b"x"}, links={"volumes/v0001.nii.gz": "/etc/passwd"}), "symbolic link"),
    (lambda p: _tar(p / "dotdot.tar.gz", {"volumes/../../x": b"x"}), "points outside"),
    (lambda p: _tar(p / "sym.tar.gz", {}, {"volumes/v0001.nii.gz": (tarfile.SYMTYPE, "/etc/passwd")}),
     "symbolic link"),
    (lambda p: _tar(p / "hard.tgz", {"a": b"x"}, {"b": (tarfile.LNKTYPE, "a")}), "hard link"),
    (lambda p: _tar(p / "dev.tar.gz", {}, {"dev": (tarfile.CHRTYPE, "")}), "device, FIFO"),
    (lambda p: _zip(p / "dup.zip", {"a": b"1", "a ": b"2", "./a": b"3"}), "appears twice"),
    (lambda p: (p / "junk.zip").write_bytes(b"PK\3\4 this is not a zip") and p / "junk.zip", "corrupt"),
    (lambda p: (p / "cut.tar.gz").write_bytes(
        _tar(p / "full.tar.gz", {"a": os.urandom(5000)}).read_bytes()[:-300]) and p / "cut.tar.gz", "corrupt"),
])
def test_bad_archives(kit, tmp_path, maker, expect):
    archive = maker(tmp_path)
    msg = only_error(validate_submission(archive, kit))
    assert expect in msg, msg
    assert archive.name in msg or "member" in msg


def test_unpack_limits(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"f{i}": b"x" for i in range(20)})
    with pytest.raises(BenchmarkError, match="20 members, more than 10"):
        unpack_archive(archive, tmp_path / "out", max_members=10)
    assert not (tmp_path / "out").exists()  # nothing left behind
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tf:
        info = tarfile.TarInfo("volumes/big")
        info.size = 5 * 10**6
        tf.addfile(info, io.BytesIO(b"\0" * info.size))
    assert bomb.stat().st_size < 20000
    with pytest.raises(BenchmarkError, match="unpacks to more than"):
        unpack_archive(bomb, tmp_path / "out2", max_bytes=10**6)
    assert not (tmp_path / "out2").exists()


# ------------------------------------------------------------------------------------------ the command

def _cfg(submission, kit, **validation):
    return OmegaConf.create({"submission": str(submission), "kit_dir": str(kit),
                             "limits": {"max_voxels": 1 << 28}, "validation": validation})


def test_command_prints_per_file_report_and_writes_json(tree, kit, capsys):
    good = make_good(tree / "good", kit)
    assert validate_command(_cfg(good, kit)) == 0
    out = capsys.readouterr().out
    for vid in IDS:
        assert any(line.split() == [vid, "OK"] for line in out.splitlines()), out
    import json

    report = json.loads((good / "validation.json").read_text())
    assert report["ok"] and report["n_ok"] == 3
    again = validate_submission(good, kit)
    assert again.ok  # its own report is not a stray file...
    assert again.total_bytes == report["total_bytes"]  # ...nor the participant's bytes: the same report twice

    sub = bad(tree, kit, "cli_bad")
    vol(sub, "v0001").unlink()
    write_nifti(vol(sub, "v0003"), ball_volume(shape=(24, 28, 20)), AFFINE)
    assert validate_command(_cfg(sub, kit)) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert any(line.startswith("v0001") and "missing" in line for line in lines)
    assert any(line.startswith("v0002") and line.endswith("OK") for line in lines)
    assert any(line.startswith("v0003") and "shape" in line for line in lines)
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert not json.loads((sub / "validation.json").read_text())["ok"]


def test_cli_entry_point(tree, kit, capsys):
    """Through ``python -m benchmark validate``'s main(): a bad archive exits 2, one error line, no traceback."""
    archive = _zip(tree / "evil.zip", {"../x": b"x"})
    rc = main(["validate", "dataset=bids", f"dataset.root={tree}", f"++submission={archive}", f"++kit_dir={kit}"])
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert "points outside" in captured.out and "Traceback" not in captured.out + captured.err
    assert report_path(archive, ValidationConfig()).is_file()
