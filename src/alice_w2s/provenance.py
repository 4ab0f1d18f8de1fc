"""Trace an artifact to every manifest below it.

Each manifest lists the inputs its job read; following them recursively from a
table cell's evaluation summary reaches the models, labels, samples, prompts'
hashes, settings and data that produced the number.

    python -m alice_w2s.provenance results/eval/toy_math/a~b@alice.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alice_w2s.io import manifest_path


def lineage(*artifacts: str | Path, base: str | Path = ".") -> dict[str, dict]:
    """{artifact path: its manifest} for the artifacts and everything they were made
    from; a manifest shared below several artifacts is read once."""
    base = Path(base)
    found: dict[str, dict] = {}
    pending = [str(a) for a in artifacts]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        manifest_file = manifest_path(base / path)
        if not manifest_file.exists():
            raise FileNotFoundError(f"no manifest for {path} (looked for {manifest_file})")
        manifest = json.loads(manifest_file.read_text())
        found[path] = manifest
        pending.extend(i for i in manifest["inputs"] if i not in found)
    return found


def run_info(checkout: str | Path, configfiles: list) -> dict:
    """The checkout's git commit (with "+changes" when its tracked files differ from
    it; "unknown" outside git) and the config files given ("the embedded default"
    when none)."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        commit = head.stdout.strip() if head.returncode == 0 else "unknown"
        if commit != "unknown" and git("diff", "--quiet", "HEAD").returncode == 1:
            commit += "+changes"
    except OSError:  # no git on this machine
        commit = "unknown"
    files = ", ".join(str(f) for f in configfiles) or "the embedded default (config/config.yaml)"
    return {"commit": commit, "configfiles": files}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m alice_w2s.provenance ARTIFACT", file=sys.stderr)
        return 2
    for path, manifest in lineage(argv[0]).items():
        stats = ", ".join(f"{k}={v}" for k, v in sorted(manifest["stats"].items()) if not isinstance(v, dict | list))
        print(f"{path}\n    {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
