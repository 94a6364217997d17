"""File helpers: the per-process SHA-256 memo never serves a digest of changed bytes."""

from __future__ import annotations

import os

from benchmark.core import files
from benchmark.core.files import sha256_file


def test_sha256_memo_follows_every_change(tmp_path):
    path = tmp_path / "v.bin"
    path.write_bytes(b"a" * 100)
    assert sha256_file(path) == sha256_file(path)  # written just now: hashed each time, never remembered
    fresh = sha256_file(path)
    old = os.stat(path).st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))  # as if written 10 s ago: remembered
    assert sha256_file(path) == fresh and len(files._DIGESTS) > 0
    path.write_bytes(b"b" * 100)  # same size, new bytes, written now
    assert sha256_file(path) != fresh
    # replaced by a rename (how the benchmark writes files), same size and time: a new inode
    moved = tmp_path / "w.bin"
    moved.write_bytes(b"c" * 100)
    os.utime(moved, ns=(old, old))
    os.replace(moved, path)
    assert sha256_file(path) != fresh
