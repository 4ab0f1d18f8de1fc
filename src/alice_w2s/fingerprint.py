"""Fingerprints that make Snakemake rerun exactly what a change touches.

Snakemake's own code trigger compares a script's *modification time* with its
outputs, so a clone, ``touch`` or a branch round trip reruns everything, while
the package code a script imports is invisible to it. The workflow therefore
switches that trigger off (``rerun-triggers`` in profiles/) and gives every job
of a ``script:`` rule a ``code`` param instead (set in the Snakefile for all rules
at once): the job's *code identity*, a hash of the code that decides what its
outputs hold. It is made of:

1. the rule's script;
2. every ``alice_w2s`` module the script runs, found by following its import
   statements (imports under ``if TYPE_CHECKING:`` never run and do not count);
3. less what a module declares is not the job's business, at its top level:

   - ``OUTPUT_CODE = ("name", ...)``: only these definitions decide what a job's
     outputs hold; the rest of the module is bookkeeping (manifests, logging,
     atomic renames, error messages), and changing it reruns nothing.
     ``OUTPUT_CODE = ()``: all of it is bookkeeping.
   - ``GENERATION_BACKEND = "served"``: the module runs only under that generation
     backend, so it is hashed only into jobs that generate with it
     (``stage_generation.job_backend`` of the job's ``generation`` and ``model``).
4. and, per dataset kind, only that kind's own functions: a kind's normaliser and
   toy generator (``datasets.registry``) and its answer type's extraction and
   canonical form (``answers``), found from the registries themselves, with the
   module constants only such functions use. Each is hashed into the jobs on its
   kind only (a job with no dataset hashes the kinds it is given, every kind's by
   default), and only into jobs whose code (its script included) reads the field it
   is registered in (``spec.normalize`` is read by data preparation, not by
   sampling; a method of the registering class that reads the field counts as the
   field). A kind function that shared code calls or imports by name, or reaches
   through a registered object, is shared code; one that looks a kind up by name
   may run every kind's; a toy generator's module is hashed with it.

The hash is of normalised code, the syntax tree without docstrings, so comments,
docstrings, blank lines and formatting change nothing, while any change to what
the code does changes the hash. Prompt templates are hashed by content
(``file_digest``).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = "alice_w2s"
PACKAGE_DIR = Path(__file__).resolve().parent

# The registered classes whose fields hold a dataset kind's own functions.
_VARIANT_FIELDS = {
    "DatasetSpec": ("normalize", "toy"),
    "AnswerType": ("strict", "flexible", "canonical"),
}


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


def imported_modules(source: str, package: str | None = None) -> set[str]:
    """The ``alice_w2s`` modules (and their parent packages) ``source`` imports at run
    time; ``package``: the dotted package ``source`` lives in, for relative imports."""
    modules = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module
            elif package is not None and node.level <= package.count(".") + 1:
                parts = package.split(".")[: package.count(".") + 2 - node.level]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                continue  # a relative import outside any package: not ours
            if not base:
                continue
            modules.add(base)
            # `from alice_w2s.stages import cluster` imports a module, not a name
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    ours = {m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    parents = {".".join(m.split(".")[:i]) for m in ours for i in range(1, m.count(".") + 1)}
    return ours | parents


def _parsed(path: Path) -> ast.Module:
    """A fresh syntax tree of ``path`` (callers may change it)."""
    return ast.parse(_source(path))


@cache
def _source(path: Path) -> str:
    return path.read_text()


@cache
def _imports(path: Path, root: Path) -> frozenset[str]:
    package = None
    if path.is_relative_to(root):  # a package file: relative imports resolve in its package
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        package = ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")
    return frozenset(imported_modules(_source(path), package))


@cache
def _generation_backend(path: Path) -> str | None:
    return _declaration(_parsed(path), "GENERATION_BACKEND")


def _declaration(tree: ast.Module, name: str):
    """The literal value of a top-level ``name = ...`` in ``tree``, or None."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def _follow(start: Iterable[Path], root: Path, backend: str | None) -> dict[Path, None]:
    """The package files that ``start`` runs, through imports; a module for another
    generation backend (``GENERATION_BACKEND``) is not run and not followed."""
    seen: dict[Path, None] = {}
    pending = list(start)
    while pending:
        path = pending.pop()
        for module in sorted(_imports(path, root)):
            file = _module_file(module, root)
            if file is None or file in seen:
                continue
            only_for = _generation_backend(file)
            if only_for is not None and backend is not None and only_for != backend:
                continue
            seen[file] = None
            pending.append(file)
    return seen


@cache
def package_files(script: str, package_dir: str = str(PACKAGE_DIR), backend: str | None = None) -> tuple[Path, ...]:
    """The package source files ``script`` runs, imported directly or through others
    (under generation ``backend``; None: any backend)."""
    return tuple(sorted(_follow([Path(script)], Path(package_dir), backend)))


# --- a dataset kind's own functions ------------------------------------------------


@dataclass(frozen=True)
class KindFunction:
    """A top-level function of the package that one field of a registry entry holds."""

    module: str  # dotted module name
    name: str
    cls: str  # the registered class ("DatasetSpec", "AnswerType")
    field: str


def _kind_function(value: object, cls: str, field: str) -> KindFunction | None:
    if isinstance(value, str):  # a "module:function" name (toy generators)
        module, _, name = value.partition(":")
    elif callable(value):
        module, name = getattr(value, "__module__", ""), getattr(value, "__qualname__", "")
    else:
        return None
    if not (module == PACKAGE or module.startswith(PACKAGE + ".")) or not name.isidentifier():
        return None  # a lambda, a method, or code outside the package: shared code
    return KindFunction(module, name, cls, field)


@cache
def kind_functions() -> dict[str, frozenset[KindFunction]]:
    """Per registered dataset kind, the package functions its registry entries hold."""
    from alice_w2s.datasets.registry import REGISTRY

    functions = {}
    for kind, spec in REGISTRY.items():
        found = [_kind_function(getattr(spec, f), "DatasetSpec", f) for f in _VARIANT_FIELDS["DatasetSpec"]]
        found += [_kind_function(getattr(spec.answer, f), "AnswerType", f) for f in _VARIANT_FIELDS["AnswerType"]]
        functions[kind] = frozenset(f for f in found if f is not None)
    return functions


def _top_level_defs(tree: ast.Module) -> dict[str, ast.stmt]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _bound_names(node: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _names_used(node: ast.AST, module_attributes_only: bool = False) -> set[str]:
    """Names and attribute names ``node`` uses; ``module_attributes_only``: of the
    attributes only those of a plain name (``answers.extract``, not the registered
    object's method ``answers.NUMBER.extract``)."""
    used = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            used.add(child.id)
        elif isinstance(child, ast.Attribute) and not (module_attributes_only and not isinstance(child.value, ast.Name)):
            used.add(child.attr)
    return used


def _grown_by_users(names: set[str], defs: list[ast.stmt]) -> set[str]:
    """``names`` and the names of ``defs`` that use one of them, transitively."""
    names = set(names)
    grown = True
    while grown:
        grown = False
        for node in defs:
            if node.name not in names and _names_used(node) & names:
                names.add(node.name)
                grown = True
    return names


@dataclass(frozen=True)
class _PackageIndex:
    """What the fingerprint needs to know of the whole package, read once."""

    kind_defs: dict[Path, frozenset[str]]  # per file, its kind functions (hashed per job)
    # kind function -> the kind functions it runs: called by name, or through a
    # registered object (``answers.NUMBER.extract`` in GSM8K's normaliser)
    runs: dict[tuple[Path, str], frozenset[tuple[Path, str]]]
    # kind functions that look a kind up by name (``answers.extract("number", ...)``):
    # they may run any kind's functions
    dispatches: frozenset[tuple[Path, str]]
    # per file, the top-level constants only its kind functions use, and which use them
    owned: dict[Path, dict[str, frozenset[str]]]
    reader_names: dict[tuple[str, str], frozenset[str]]  # (class, field) -> names that read it
    readers: dict[tuple[str, str], frozenset[Path]]  # (class, field) -> files that read it


_REGISTRIES = ("ANSWER_TYPES", "REGISTRY")  # the registries' dicts, looked up by name


@cache
def _package_index(package_dir: str) -> _PackageIndex:
    root = Path(package_dir)
    trees = {file: _parsed(file) for file in sorted(root.rglob("*.py"))}
    candidates: dict[Path, set[str]] = {}
    for function in {f for fs in kind_functions().values() for f in fs}:
        file = _module_file(function.module, root)
        if file is not None and function.name in _top_level_defs(trees[file]):
            candidates.setdefault(file, set()).add(function.name)
    by_name: dict[str, set[tuple[Path, str]]] = {}
    for file, names in candidates.items():
        for name in names:
            by_name.setdefault(name, set()).add((file, name))
    # Names a top-level statement binds to registered objects (NUMBER = AnswerType(...)).
    registered: dict[str, set[tuple[Path, str]]] = {}
    for tree in trees.values():
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                held = {u for name in _names_used(node) for u in by_name.get(name, ())}
                for bound in _bound_names(node) if held else ():
                    registered.setdefault(bound, set()).update(held)
    # A kind function that shared code (any other definition) uses by name, or through
    # a registered object, or that any code imports by name (an alias hides later
    # uses), is shared.
    shared: set[tuple[Path, str]] = set()
    for file, tree in trees.items():
        for name, node in _top_level_defs(tree).items():
            if name not in candidates.get(file, ()):
                for used in _names_used(node):
                    shared |= by_name.get(used, set()) | registered.get(used, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    shared |= by_name.get(alias.name, set()) | registered.get(alias.name, set())
    kind_defs = {file: frozenset(n for n in names if (file, n) not in shared) for file, names in candidates.items()}
    runs, dispatches = {}, set()
    lookups = _lookup_names(trees)
    for file, names in kind_defs.items():
        defs = _top_level_defs(trees[file])
        for name in names:
            used = _names_used(defs[name])
            runs[(file, name)] = frozenset(
                u for n in used for u in by_name.get(n, set()) | registered.get(n, set()) if u != (file, name)
            )
            if _names_used(defs[name], module_attributes_only=True) & lookups:
                dispatches.add((file, name))
    owned = {file: _owned_constants(trees[file], names) for file, names in kind_defs.items()}
    reader_names = {
        (cls, field): frozenset(_field_reader_names(trees, cls, field)) for cls, fields in _VARIANT_FIELDS.items() for field in fields
    }
    readers = {
        key: frozenset(file for file, tree in trees.items() if _reads(tree, key[0], names))
        for key, names in reader_names.items()
    }
    return _PackageIndex(kind_defs, runs, frozenset(dispatches), owned, reader_names, readers)


def _lookup_names(trees: dict[Path, ast.Module]) -> set[str]:
    """The registries' dicts and every top-level function that reads one (transitively):
    code that finds a kind or an answer type by its name."""
    functions = [n for tree in trees.values() for n in _top_level_defs(tree).values() if isinstance(n, ast.FunctionDef)]
    return _grown_by_users(set(_REGISTRIES), functions)


def _owned_constants(tree: ast.Module, kind_defs: frozenset[str]) -> dict[str, frozenset[str]]:
    """Top-level assignments of a module that only its kind functions use (directly, or
    through other such assignments), each with the kind functions that use it: they
    are hashed with those functions (a text-only regex is text's), not as shared code."""
    assigns = {n: node for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign) for n in _bound_names(node)}
    users: dict[str, set[str]] = {name: set() for name in assigns}
    for node in tree.body:
        user_names = _bound_names(node) if not isinstance(node, ast.Import | ast.ImportFrom) else set()
        for used in _names_used(node) & users.keys() - user_names:  # not the assignment itself
            users[used] |= user_names or {"<statement>"}
    owners: dict[str, frozenset[str]] = {}
    grown = True
    while grown:
        grown = False
        for name, by in users.items():
            if name in owners or not by:
                continue
            if all(u in kind_defs or u in owners for u in by):
                owners[name] = frozenset(k for u in by for k in ({u} if u in kind_defs else owners[u]))
                grown = True
    return owners


def _field_reader_names(trees: dict[Path, ast.Module], cls: str, field: str) -> set[str]:
    """The names through which code reads ``field`` of ``cls``: the attribute, and the
    methods of the class that read it (transitively)."""
    classes = [n for tree in trees.values() if isinstance(n := _top_level_defs(tree).get(cls), ast.ClassDef)]
    return _grown_by_users({field}, [m for c in classes for m in c.body if isinstance(m, ast.FunctionDef)])


def _reads(tree: ast.Module, cls: str, names: frozenset[str]) -> bool:
    """Whether code in ``tree``, outside class ``cls`` itself, reads one of ``names``."""
    return any(_names_used(n) & names for n in tree.body if not (isinstance(n, ast.ClassDef) and n.name == cls))


def _job_kind_functions(
    kinds: tuple[str, ...] | None, files: dict[Path, None], script: ast.Module, root: Path, index: _PackageIndex
) -> tuple[list[tuple[Path, str]], set[Path]]:
    """The kind functions a job runs: its kinds' (every kind's for None) whose field
    some file of the job, or its script, reads, and the kind functions those run;
    with the modules they are in (a toy generator's is imported by name)."""
    registered = kind_functions()
    # a kind the registry here does not know holds no kind functions: its code stays shared
    every = frozenset().union(*registered.values())
    chosen = every if kinds is None else frozenset().union(*(registered.get(k, frozenset()) for k in kinds))
    read = {key for key, names in index.reader_names.items() if index.readers[key] & files.keys() or _reads(script, key[0], names)}
    found: set[tuple[Path, str]] = set()
    modules: set[Path] = set()
    for function in chosen:
        if (function.cls, function.field) not in read:
            continue
        file = _module_file(function.module, root)
        if file is None:
            continue
        modules.add(file)
        if function.name in index.kind_defs.get(file, ()):
            found.add((file, function.name))
    pending = list(found)
    while pending:
        unit = pending.pop()
        ran = set(index.runs.get(unit, ()))
        if unit in index.dispatches:  # a lookup by name may reach any kind's functions
            ran |= {(f, n) for f, names in index.kind_defs.items() for n in names}
        for other in ran:
            if other not in found and other[1] in index.kind_defs.get(other[0], ()):
                found.add(other)
                pending.append(other)
    return sorted(found), modules


# --- normalised code -----------------------------------------------------------------


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


def _output_statements(body: list[ast.stmt], declared: set[str]) -> list[ast.stmt]:
    """The declaration, the ``OUTPUT_CODE`` definitions and the module-level
    constants they use (transitively), and top-level ``if``/``try``/``with`` blocks
    (they may define what those use); other definitions they call are bookkeeping
    unless declared too."""
    wanted = {"OUTPUT_CODE", *declared}
    kept: list[ast.stmt] = []
    grown = True
    while grown:
        grown = False
        for node in body:
            if node in kept:
                continue
            if isinstance(node, ast.If | ast.Try | ast.With):
                kept.append(node)
                continue
            if not _bound_names(node) & wanted or isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name not in declared:
                continue
            kept.append(node)
            wanted |= _names_used(node)
            grown = True
    return [node for node in body if node in kept]


@cache
def _shared_code(path: Path, kind_defs: frozenset[str], owned: frozenset[str]) -> str:
    """The code of a module that every job running it shares: without its kind
    functions and the constants only they use, and only its ``OUTPUT_CODE`` where it
    declares one."""
    tree = _parsed(path)
    output_code = _declaration(tree, "OUTPUT_CODE")
    if output_code is not None:
        tree.body = _output_statements(tree.body, set(output_code))
    else:
        tree.body = [node for node in tree.body if not (_bound_names(node) & (kind_defs | owned))]
    return ast.dump(_strip_docstrings(tree), include_attributes=False)


@cache
def _definition_code(path: Path, name: str, constants: frozenset[str]) -> str:
    """A kind function's code, with the module constants only kind functions use that it uses."""
    tree = _parsed(path)
    kept = [n for n in tree.body if _bound_names(n) & (constants | {name})]
    return "\0".join(ast.dump(_strip_docstrings(n), include_attributes=False) for n in kept)


@cache
def code_fingerprint(
    script: str, package_dir: str = str(PACKAGE_DIR), kinds: tuple[str, ...] | None = None, backend: str | None = None
) -> str:
    """A job's code identity (module docstring): its script's normalised code and
    the package code it runs, on the dataset ``kinds`` it works on under generation
    ``backend`` (None: every kind, any backend)."""
    root = Path(package_dir)
    index = _package_index(package_dir)
    files = _follow([Path(script)], root, backend)
    functions, modules = _job_kind_functions(kinds, files, _parsed(Path(script)), root, index)
    # a toy generator's module runs when the generator does (imported by name)
    for file in sorted(modules - files.keys()):
        files |= {file: None} | _follow([file], root, backend)
    sha = hashlib.sha256()
    sha.update(b"script\0" + normalized_code(_source(Path(script))).encode() + b"\0")
    for file in sorted(files):
        owned = index.owned.get(file, {})
        code = _shared_code(file, index.kind_defs.get(file, frozenset()), frozenset(owned))
        sha.update(str(file.relative_to(root)).encode() + b"\0" + code.encode() + b"\0")
    for file, name in functions:
        owned = index.owned.get(file, {})
        constants = frozenset(c for c, users in owned.items() if name in users)
        code = _definition_code(file, name, constants)
        sha.update(f"{file.relative_to(root)}:{name}".encode() + b"\0" + code.encode() + b"\0")
    return sha.hexdigest()[:16]


def clear_caches() -> None:
    """Forget what was read (for a caller that edits the package, as the tests do)."""
    for cached in (
        package_files,
        kind_functions,
        _package_index,
        code_fingerprint,
        _source,
        _imports,
        _generation_backend,
        _shared_code,
        _definition_code,
    ):
        cached.cache_clear()


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
