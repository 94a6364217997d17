"""benchmark.core.provenance: cache keys follow the code a module runs through its imports, not its docs."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

import benchmark.core.provenance as provenance


@pytest.fixture
def project(tmp_path, monkeypatch):
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n\n\ndef g():\n    from pkgx import c as _\n    return f()\n")
    (pkg / "b.py").write_text('"""Module b."""\n\n\ndef f():\n    """One."""\n    return 1\n')
    (pkg / "c.py").write_text("X = 1\n")
    (pkg / "d.py").write_text("Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield pkg
    provenance.source_files.cache_clear()
    for name in [m for m in sys.modules if m.split(".")[0] == "pkgx"]:
        del sys.modules[name]


def _edit(path, text, stamp=[10**9]):
    path.write_text(text)
    stamp[0] += 10**9  # a new mtime even within one clock tick
    os.utime(path, ns=(stamp[0], stamp[0]))


def _hash():
    return provenance.code_hash("pkgx.a", project=("pkgx",))


def test_imports_are_followed_anywhere_in_the_file(project):
    names = [name for name, _ in provenance.source_files("pkgx.a", project=("pkgx",))]
    assert names == ["pkgx", "pkgx.a", "pkgx.b", "pkgx.c"]  # c imported inside a function; d not at all


def test_docs_do_not_change_the_hash_and_code_does(project):
    before = _hash()
    _edit(project / "b.py", '"""Module b, better said."""\n# a comment\n\ndef f():\n    """One, said again."""\n    return 1\n')
    _edit(project / "d.py", "Y = 3\n")  # not imported by a
    assert _hash() == before
    _edit(project / "b.py", '"""Module b."""\n\n\ndef f():\n    """One."""\n    return 2\n')
    assert _hash() != before
