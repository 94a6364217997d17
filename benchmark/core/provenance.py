"""Which code made a cached product: the project modules a module imports, hashed without their docs.

Caches (embeddings, baseline volumes, scored results) are keyed by :func:`code_hash` of
:func:`source_files` of the module that computes them, so that a change anywhere in the code that
module runs, directly or through imports, recomputes them, while an edited docstring or comment
does not: each file is hashed as its syntax tree (``ast.dump``, no line numbers) without docstrings.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import subprocess
from pathlib import Path

PROJECT = ("benchmark", "baselines")  # top-level packages whose imports are followed


def _file_of(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _imports(tree: ast.AST, module: str, is_package: bool, project: tuple[str, ...]) -> set[str]:
    """Project modules imported anywhere in ``tree`` (at the top or inside functions)."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from . import x`: x may be a module
    return {m for m in out if m.split(".")[0] in project}


@functools.lru_cache(maxsize=None)
def source_files(module: str, project: tuple[str, ...] = PROJECT) -> tuple[tuple[str, Path], ...]:
    """(name, file) of ``module`` and of every project module it imports, transitively (parent packages too)."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _file_of(name)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b runs a/__init__.py
        todo += _imports(_parsed(path, path.stat().st_mtime_ns), name, path.name == "__init__.py", project)
    return tuple(sorted(seen.items()))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _parsed(path: Path, mtime_ns: int) -> ast.AST:
    """The file's syntax tree without docstrings, parsed once per process (imports and hash both read it)."""
    return _strip_docstrings(ast.parse(path.read_bytes()))


@functools.lru_cache(maxsize=None)
def _file_hash(path: Path, mtime_ns: int) -> str:
    tree = _parsed(path, mtime_ns)
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def code_hash(*modules: str, project: tuple[str, ...] = PROJECT) -> str:
    """Short hash of the code the ``modules`` run: their source files and their project imports'."""
    h = hashlib.sha256()
    for name, path in sorted({item for m in modules for item in source_files(m, project)}):
        h.update(f"{name}\0{_file_hash(path, path.stat().st_mtime_ns)}\0".encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def git_version(root: Path = Path(__file__).resolve().parents[2]) -> str | None:
    """``git describe --tags --always --dirty`` of the checkout the code runs from; None outside a git
    checkout or without git (then :func:`code_hash` alone says which code ran)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--tags", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
