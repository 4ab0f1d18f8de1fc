"""No secret in any param, manifest or log: the shared run (conftest.toy_run)
ran with hub and tracking tokens in its environment; none of them may appear in any
file it left (results, logs, manifests, Snakemake's records). The served model's
API key has its own end-to-end check (tests/test_served.py)."""

from __future__ import annotations

from conftest import RUN_SECRETS


def test_no_token_of_the_environment_is_written_anywhere(toy_run):
    files = [p for folder in ("results", ".snakemake") for p in (toy_run / folder).rglob("*") if p.is_file()]
    manifests = [p for p in files if p.name.endswith("manifest.json")]
    logs = [p for p in files if p.suffix == ".log"]
    assert len(manifests) > 20 and len(logs) > 10  # the scan reads what the run wrote
    assert any(b'"params"' in p.read_bytes() for p in manifests)
    leaks = [f"{name} in {path.relative_to(toy_run)}"
             for path in files for name, value in RUN_SECRETS.items() if value.encode() in path.read_bytes()]
    assert leaks == []
