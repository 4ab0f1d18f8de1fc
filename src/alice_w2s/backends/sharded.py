"""Resumable generation: a `Generator` that works in shards and keeps each one.

`ShardedGenerator.generate(chats, sampling, keys)` cuts ``chats`` into consecutive shards of
``shard_size`` prompts, asks the backend for one shard at a time and writes each
finished shard atomically into a shard folder. A restarted job finds the shards it
already has and generates only the rest; the backend is opened only if some shard is
missing. Shard boundaries depend on nothing but the prompts and ``shard_size``, so a
resumed job returns exactly what an uninterrupted one does, also with backends whose
draws depend on batch composition (transformers).

Each shard file is named by a hash of everything that determines its output: the
model's identity (backend, options, location and, for a local folder, its files'
names, sizes and modification times), the job's code (as the caller gives it in the
identity), the sampling settings with the seed, the shard's position, its chats and their row
keys, and the fields of `GenerationResult`. A changed setting therefore never picks up a
stale shard. The caller removes the shard folder once its own output is written
(`discard`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alice_w2s.backends.generation import Chat, GenerationResult, Generator, Sampling, request_keys
from alice_w2s.io import write_json

log = logging.getLogger("alice_w2s")

def shard_dir_for(output: str | Path) -> Path:
    """The hidden sibling folder that holds the shards of ``output``."""
    output = Path(output)
    return output.parent / f".{output.name}.shards"


def folder_fingerprint(path: str | Path) -> list[list[Any]] | None:
    """Names, sizes and modification times of the files in a local model folder
    (None for a hub id): a retrained model at the same path is another model.
    Cheap even for a 72B model, whose weights are never read."""
    root = Path(path)
    if not root.is_dir():
        return None
    return [
        [str(file.relative_to(root)), stat.st_size, stat.st_mtime_ns]
        for file in sorted(root.rglob("*"))
        if file.is_file() and not file.name.startswith(".")
        for stat in [file.stat()]
    ]


def _merge(results: list[GenerationResult]) -> GenerationResult:
    """One result from consecutive shards: lists are concatenated, counts summed."""
    merged: dict[str, Any] = {}
    for field in dataclasses.fields(GenerationResult):
        values = [getattr(r, field.name) for r in results]
        if all(isinstance(v, list) for v in values):
            merged[field.name] = [item for v in values for item in v]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            merged[field.name] = sum(values)
        else:
            raise TypeError(f"GenerationResult.{field.name}: cannot join shards of type {type(values[0]).__name__}")
    return GenerationResult(**merged)


def _empty_result() -> GenerationResult:
    empty = {"list": [], "int": 0, "float": 0.0}
    return GenerationResult(
        **{f.name: empty[str(f.type).split("[", 1)[0]] for f in dataclasses.fields(GenerationResult)}
    )


class ShardedGenerator:
    """Wraps a backend (opened lazily by ``open_backend``) with shard-by-shard
    persistence in ``shard_dir``. ``identity`` describes the model, the backend
    settings and the code; it goes into every shard's key. ``seeds_per_request``: the backend
    seeds each request from its prompt (vLLM), not once per call."""

    def __init__(
        self,
        open_backend: Callable[[], Generator],
        shard_dir: str | Path,
        identity: dict[str, Any],
        shard_size: int,
        seeds_per_request: bool = False,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.open_backend = open_backend
        self.shard_dir = Path(shard_dir)
        self.identity = identity
        self.shard_size = shard_size
        self.seeds_per_request = seeds_per_request
        self.backend: Generator | None = None
        self.shards_total = 0
        self.shards_reused = 0

    def _key(self, index: int, chats: list[Chat], sampling: Sampling, keys: list[str] | None) -> str:
        content = {
            "identity": self.identity,
            "sampling": dataclasses.asdict(sampling),
            "index": index,
            "chats": chats,
            "keys": keys,
            "fields": [f.name for f in dataclasses.fields(GenerationResult)],
        }
        blob = json.dumps(content, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def _load(self, path: Path, n_chats: int) -> GenerationResult | None:
        if not path.exists():
            return None
        try:
            result = GenerationResult(**json.loads(path.read_text()))
        except (ValueError, TypeError) as err:
            log.warning("shard %s is unreadable (%s); generating it again", path.name, err)
            return None
        if len(result.texts) != n_chats:
            log.warning("shard %s holds %d prompts, not %d; generating it again", path.name, len(result.texts), n_chats)
            return None
        return result

    def _shard_sampling(self, sampling: Sampling, index: int) -> Sampling:
        """Shard 0 draws with the run seed; later shards with seeds derived from it and
        their position, so a backend that seeds once per call (transformers) does not
        repeat shard 0's random stream. A backend that seeds each request from its
        prompt (vLLM) keeps the run seed: its draws stay independent of the shards."""
        if index == 0 or self.seeds_per_request:
            return sampling
        return dataclasses.replace(sampling, seed=zlib.crc32(f"shard {index}".encode(), sampling.seed & 0xFFFFFFFF))

    def generate(self, chats: list[Chat], sampling: Sampling, keys: list[str] | None = None) -> GenerationResult:
        sampling.validate()
        starts = range(0, len(chats), self.shard_size)
        shards = [chats[s : s + self.shard_size] for s in starts]
        row_keys = None if keys is None else request_keys(keys, len(chats))
        shard_keys = [None if row_keys is None else row_keys[s : s + self.shard_size] for s in starts]
        paths = [
            self.shard_dir / f"shard-{i:05d}-{self._key(i, shard, sampling, shard_keys[i])}.json"
            for i, shard in enumerate(shards)
        ]
        results = [self._load(path, len(shard)) for path, shard in zip(paths, shards, strict=True)]
        reused = sum(r is not None for r in results)
        self.shards_total += len(shards)
        self.shards_reused += reused
        if reused:
            log.info("resuming from %d of %d shards (%s)", reused, len(shards), self.shard_dir)
        for i, (path, shard) in enumerate(zip(paths, shards, strict=True)):
            if results[i] is not None:
                continue
            if self.backend is None:
                self.backend = self.open_backend()
            result = self.backend.generate(shard, self._shard_sampling(sampling, i), shard_keys[i])
            write_json(dataclasses.asdict(result), path)  # atomic: a kill leaves no partial shard
            results[i] = result
            log.info("shard %d of %d written", i + 1, len(shards))
        done = [r for r in results if r is not None]
        return _merge(done) if done else _empty_result()

    def stats(self) -> dict[str, int]:
        return {"shards_reused": self.shards_reused, "shards_total": self.shards_total}

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def discard(self) -> None:
        """Remove the shard folder: call once the job's output is in place."""
        shutil.rmtree(self.shard_dir, ignore_errors=True)
