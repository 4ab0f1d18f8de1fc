"""The README's Quickstart is what CI runs."""

import re

from snakemake_runner import ROOT


def quickstart_lines():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.DOTALL)[1]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    lines = quickstart_lines()
    assert len(lines) == 2
    assert "snakemake" in lines[0] and "pytest" in lines[1]
    assert lines[1] in (ROOT / ".ci" / "run").read_text()
