"""The code fingerprint behind exact reruns: which package code a workflow script
runs, and which edits count as a change to it."""

from pathlib import Path

import pytest
from snakemake_runner import ROOT

from alice_w2s import fingerprint as fp
from alice_w2s import pipeline
from alice_w2s.datasets.registry import REGISTRY
from alice_w2s.fingerprint import code_fingerprint, imported_modules, normalized_code, package_files

SCRIPTS = ROOT / "workflow" / "scripts"
# the scripts of the stages that generate text (alice_w2s.pipeline)
GENERATING_SCRIPTS = {f"{stage.rule}.py" for stage in pipeline.STAGES if stage.generates}
PACKAGE = ROOT / "src" / "alice_w2s"


def runs(script: str) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in package_files(str(SCRIPTS / script), str(PACKAGE))}


def test_comments_docstrings_and_layout_are_not_code():
    plain = "def f(x):\n    return x + 1\n"
    dressed = '"""Module."""\n# a comment\n\ndef f(x):  # inline\n    """Adds one."""\n\n    return (x +\n            1)\n'
    assert normalized_code(plain) == normalized_code(dressed)
    assert normalized_code(plain) != normalized_code(plain.replace("+ 1", "+ 2"))


def test_a_function_left_with_only_a_docstring_still_parses():
    assert normalized_code('def f():\n    """Nothing."""\n') == normalized_code("def f():\n    pass\n")


def test_type_checking_imports_do_not_run():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from alice_w2s.io import write_parquet\n"
        "if TYPE_CHECKING:\n    from alice_w2s.backends.generation import Sampling\n"
        "else:\n    from alice_w2s import plan\n"
        "def f():\n    from alice_w2s.stages import cluster\n"
    )
    found = imported_modules(source)
    assert "alice_w2s.backends.generation" not in found and "alice_w2s.backends" not in found
    assert {"alice_w2s", "alice_w2s.io", "alice_w2s.plan", "alice_w2s.stages", "alice_w2s.stages.cluster"} <= found


def test_jobs_that_generate_nothing_do_not_hash_the_generation_backend():
    for script in (
        "prepare_data.py",
        "labels_gold_sets.py",
        "labels_teacher_cot.py",
        "cluster.py",
        "slice_labels.py",
        "build_tokenizer.py",
        "build_tiny_model.py",
        "table.py",
        "table_report.py",
    ):
        assert "backends/generation.py" not in runs(script), script
    for script in GENERATING_SCRIPTS:
        assert "backends/generation.py" in runs(script), script


def test_data_jobs_do_not_hash_the_table_layout():
    for script in ("prepare_data.py", "labels_gold_sets.py", "sample.py", "eval.py"):
        assert "tables.py" not in runs(script), script
    assert "tables.py" in runs("table.py")


@pytest.fixture
def package_copy(tmp_path):
    import shutil

    shutil.copytree(PACKAGE, tmp_path / "alice_w2s", ignore=shutil.ignore_patterns("__pycache__"))
    for script in SCRIPTS.glob("*.py"):
        shutil.copy2(script, tmp_path / script.name)
    yield tmp_path
    fp.clear_caches()


def fingerprint(root: Path, script: str = "cluster.py", kind: str | None = None, backend: str | None = None) -> str:
    fp.clear_caches()
    return code_fingerprint(str(root / script), str(root / "alice_w2s"), None if kind is None else (kind,), backend)


def test_fingerprint_follows_behaviour_of_the_script_and_the_modules_it_runs(package_copy):
    before = fingerprint(package_copy)
    module = package_copy / "alice_w2s" / "stages" / "cluster.py"
    original = module.read_text()
    module.write_text(original + "\n# a comment\n")
    assert fingerprint(package_copy) == before
    module.write_text(original + "\nTHRESHOLD_FLOOR = 0.0\n")
    assert fingerprint(package_copy) != before
    module.write_text(original)
    script = package_copy / "cluster.py"
    script.write_text(script.read_text() + "\nprint('changed')\n")
    assert fingerprint(package_copy) != before


# --- a job's code identity: what decides its outputs, on its dataset kind ------------

BACKENDS = ("vllm", "transformers", "served")


def identities(root: Path) -> dict[tuple[str, str | None, str], str]:
    """Every script's code identity on every registered kind (and none) under every backend."""
    fp.clear_caches()
    return {
        (script.name, kind, backend): code_fingerprint(
            str(root / script.name), str(root / "alice_w2s"), None if kind is None else (kind,), backend
        )
        for script in sorted(SCRIPTS.glob("*.py"))
        for kind in (*sorted(REGISTRY), None)
        for backend in BACKENDS
    }


def changed_after(root: Path, relative: str, old: str, new: str) -> set[tuple[str, str | None, str]]:
    """The (script, kind, backend) identities that change when ``old`` becomes ``new`` in one package file."""
    before = identities(root)
    path = root / "alice_w2s" / relative
    original = path.read_text()
    assert old in original, f"{old!r} not in {relative}"
    path.write_text(original.replace(old, new, 1))
    try:
        after = identities(root)
    finally:
        path.write_text(original)
    return {job for job, code in before.items() if after[job] != code}


def test_a_behaviour_change_in_bookkeeping_reruns_nothing(package_copy):
    assert changed_after(package_copy, "io.py", '"host": socket.gethostname(),', '"host": socket.getfqdn(),') == set()
    assert changed_after(package_copy, "io.py", "os.replace(tmp_path, final)", "os.rename(tmp_path, final)") == set()
    assert changed_after(package_copy, "runner.py", 'log.info("done in %.1fs', 'log.warning("done in %.1fs') == set()
    # what decides an artifact's bytes is not bookkeeping: every job writes through it
    changed = changed_after(package_copy, "io.py", "df.to_parquet(tmp, index=False)", "df.to_parquet(tmp, index=True)")
    assert {script for script, _, _ in changed} >= {"sample.py", "cluster.py", "eval.py", "prepare_data.py"}


def test_an_answer_types_extraction_reruns_only_jobs_on_its_kinds_that_extract(package_copy):
    text_kinds = {k for k, spec in REGISTRY.items() if spec.answer_type == "text"}
    changed = changed_after(package_copy, "answers.py", "return _clean_text_answer(found)", "return found")
    assert {kind for _, kind, _ in changed} == text_kinds | {None}
    scripts = {script for script, _, _ in changed}
    assert {"sample.py", "cluster.py", "eval.py", "zeroshot.py", "synthesize.py", "w2s_answers.py"} <= scripts
    # fine-tuning, the pool's questions and the tables do not read answers
    assert not scripts & {"sft.py", "transfer_questions.py", "slice_labels.py", "table.py", "build_derived_model.py"}


def test_a_dataset_kinds_normaliser_reruns_only_its_data_preparation(package_copy):
    changed = changed_after(
        package_copy,
        "datasets/registry.py",
        '"question": record["question"].strip(),\n        "answer": value,',
        '"question": record["question"],\n        "answer": value,',
    )
    normalised_alike = {k for k, spec in REGISTRY.items() if spec.normalize is REGISTRY["triviaqa"].normalize}
    assert {kind for _, kind, _ in changed} == normalised_alike | {None}
    assert {script for script, _, _ in changed} == {"prepare_data.py", "build_tokenizer.py", "build_tiny_model.py"}


def test_a_toy_generator_reruns_only_its_kinds_data_preparation(package_copy):
    changed = changed_after(package_copy, "datasets/facts.py", 'n, "toy_facts"))]', 'n, "toy_facts"))][::-1]')
    assert {kind for _, kind, _ in changed} == {"toy_facts", None}
    assert {script for script, _, _ in changed} == {"prepare_data.py", "build_tokenizer.py", "build_tiny_model.py"}


def test_a_served_client_change_reruns_no_local_job(package_copy):
    changed = changed_after(package_copy, "backends/served.py", "MAX_BACKOFF_S = 60.0", "MAX_BACKOFF_S = 30.0")
    assert changed and {backend for _, _, backend in changed} == {"served"}
    assert {script for script, _, _ in changed} == GENERATING_SCRIPTS


def test_a_kind_function_that_shared_code_calls_is_shared(package_copy):
    """The registry decides which functions are one kind's own; one that shared code
    also calls by name is hashed into every job that runs that code."""
    answers = package_copy / "alice_w2s" / "answers.py"
    answers.write_text(answers.read_text() + "\n\ndef first_number(text):\n    return _number_flexible(text)\n")
    changed = changed_after(package_copy, "answers.py", "return normalize_number(found)", "return found")
    assert {kind for _, kind, _ in changed} == set(REGISTRY) | {None}


def test_what_a_job_reads_and_the_settings_it_gets_are_not_bookkeeping(package_copy):
    """io.read_parquet and runner.plain are in their modules' OUTPUT_CODE (found by review:
    every stage reads its inputs, and prepare_data, sft and table get their settings, through them)."""
    reads = changed_after(package_copy, "io.py", "df = pd.read_parquet(path, **kwargs)", "df = pd.read_parquet(path, **kwargs)[::-1]")
    assert {script for script, _, _ in reads} >= {"sample.py", "cluster.py", "sft.py", "table.py"}
    settings = changed_after(package_copy, "runner.py", "return [plain(v) for v in value]", "return [plain(v) for v in value][:1]")
    assert {script for script, _, _ in settings} >= {"prepare_data.py", "sft.py", "table.py"}


def test_a_constant_only_one_answer_type_uses_is_that_types(package_copy):
    changed = changed_after(package_copy, "answers.py", "_TEXT_FLEX_RE = re.compile(", "_TEXT_FLEX_RE = re.compile(r'' + ")
    assert {kind for _, kind, _ in changed} == {k for k, s in REGISTRY.items() if s.answer_type == "text"} | {None}


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "alice_w2s" / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def test_kind_code_reached_in_other_ways_is_still_hashed(package_copy):
    """Found by review; each failed before: a toy generator bound by assignment (its
    module is imported only by name), a kind function imported under an alias by shared
    code, another answer type looked up by name in a normaliser, a script that reads a
    registry field itself."""
    root = package_copy
    _edit(root, "datasets/facts.py", "def fact_records(n: int, seed: int)", "def _fact_records(n: int, seed: int)")
    _edit(root, "datasets/facts.py", "# The kinds whose generators live here", "fact_records = _fact_records\n\n\n# The kinds")
    assert ("prepare_data.py", "toy_facts", "vllm") in changed_after(root, "datasets/facts.py", 'n, "toy_facts"))]', 'n, "toy_facts"))][::-1]')

    _edit(root, "stages/evaluate.py", "from __future__ import annotations\n",
          "from __future__ import annotations\n\nfrom alice_w2s.answers import normalize_number as canon\n")
    _edit(root, "stages/evaluate.py", "def evaluate(", "def gold_key(gold):\n    return canon(gold)\n\n\ndef evaluate(")
    _edit(root, "datasets/registry.py", '    value = answer["value"].strip()\n',
          '    value = answer["value"].strip()\n    value = answers.extract("number", value) or value\n')
    (root / "probe.py").write_text("from alice_w2s.datasets.registry import get_spec\n\n\n"
                                   "def rows(kind, records):\n    return [get_spec(kind).normalize(r, i) for i, r in enumerate(records)]\n")
    before = {job: fingerprint(root, *job) for job in (("eval.py", "hotpotqa", "vllm"), ("prepare_data.py", "triviaqa"))}
    probe = fingerprint(root, "probe.py", "hotpotqa")
    _edit(root, "answers.py", 'cleaned = raw.replace(",", "")', 'cleaned = raw.replace(",", ".")')
    assert all(fingerprint(root, *job) != code for job, code in before.items())
    _edit(root, "datasets/registry.py", '"answer": record["answer"].strip(),', '"answer": record["answer"],')
    assert fingerprint(root, "probe.py", "hotpotqa") != probe


def test_relative_imports_are_followed():
    assert "alice_w2s.io" in imported_modules("from ..io import write_parquet", "alice_w2s.stages")
    assert "alice_w2s.stages.cluster" in imported_modules("from . import cluster", "alice_w2s.stages")
    assert imported_modules("from .io import write_parquet") == set()  # no package: not ours
