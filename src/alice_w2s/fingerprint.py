"""Fingerprints that make Snakemake rerun exactly what a change touches.

Snakemake sees a rule's script but not the package code the script imports, nor
the contents of the prompt templates it renders. Each rule therefore gets, as
plain params, a hash of the ``alice_w2s`` modules its script imports
(transitively, found by reading the import statements) and a hash of each
template it uses.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "alice_w2s"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str, package_dir: Path) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            # `from alice_w2s.stages import cluster` imports a module, not a name
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")}


@cache
def package_files(script: str, package_dir: str = str(PACKAGE_DIR)) -> tuple[Path, ...]:
    """The package source files ``script`` imports, directly or through others."""
    root = Path(package_dir)
    seen: dict[Path, None] = {}
    pending = [Path(script)]
    while pending:
        path = pending.pop()
        for module in sorted(_imported_modules(path.read_text())):
            file = _module_file(module, root)
            if file is not None and file not in seen:
                seen[file] = None
                pending.append(file)
    return tuple(sorted(seen))


@cache
def code_fingerprint(script: str, package_dir: str = str(PACKAGE_DIR)) -> str:
    """Hash of the package code a workflow script runs (not the script itself:
    Snakemake already tracks that)."""
    sha = hashlib.sha256()
    root = Path(package_dir)
    for file in package_files(script, package_dir):
        sha.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
