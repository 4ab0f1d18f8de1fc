"""Fingerprints that make Snakemake rerun exactly what a change touches.

Snakemake's own code trigger compares a script's *modification time* with its
outputs, so a clone, ``touch`` or a branch round trip reruns everything, while
the package code a script imports is invisible to it. The workflow therefore
switches that trigger off (``rerun-triggers`` in profiles/) and gives every
``script:`` rule a ``code`` param instead (set in the Snakefile for all rules at
once): a hash of the rule's script and of every ``alice_w2s`` module the script
really runs, found by following its import statements. Imports needed only by a
type checker (``if TYPE_CHECKING:``) do not count: they never run.

The hash is of normalised code, the syntax tree without docstrings, so comments,
docstrings, blank lines and formatting change nothing, while any change to what
the code does changes the hash. Prompt templates are hashed by content
(``file_digest``).
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


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if _is_type_checking_block(node):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imported_modules(source: str) -> set[str]:
    """The ``alice_w2s`` modules (and their parent packages) ``source`` imports at run time."""
    modules = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            # `from alice_w2s.stages import cluster` imports a module, not a name
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    ours = {m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    parents = {".".join(m.split(".")[:i]) for m in ours for i in range(1, m.count(".") + 1)}
    return ours | parents


@cache
def package_files(script: str, package_dir: str = str(PACKAGE_DIR)) -> tuple[Path, ...]:
    """The package source files ``script`` runs, imported directly or through others."""
    root = Path(package_dir)
    seen: dict[Path, None] = {}
    pending = [Path(script)]
    while pending:
        path = pending.pop()
        for module in sorted(imported_modules(path.read_text())):
            file = _module_file(module, root)
            if file is not None and file not in seen:
                seen[file] = None
                pending.append(file)
    return tuple(sorted(seen))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def normalized_code(source: str) -> str:
    """What a Python file does, without comments, docstrings or layout."""
    return ast.dump(_strip_docstrings(ast.parse(source)), include_attributes=False)


@cache
def code_fingerprint(script: str, package_dir: str = str(PACKAGE_DIR)) -> str:
    """Hash of a workflow script's normalised code and of the package code it runs."""
    sha = hashlib.sha256()
    root = Path(package_dir)
    sha.update(b"script\0" + normalized_code(Path(script).read_text()).encode() + b"\0")
    for file in package_files(script, package_dir):
        sha.update(str(file.relative_to(root)).encode() + b"\0" + normalized_code(file.read_text()).encode() + b"\0")
    return sha.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
