"""The code fingerprint behind exact reruns: which package code a workflow script
runs, and which edits count as a change to it."""

from pathlib import Path

import pytest
from snakemake_runner import ROOT

from alice_w2s.fingerprint import code_fingerprint, imported_modules, normalized_code, package_files

SCRIPTS = ROOT / "workflow" / "scripts"
PACKAGE = ROOT / "src" / "alice_w2s"


def runs(script: str) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in package_files(str(SCRIPTS / script), str(PACKAGE))}


def test_comments_docstrings_and_layout_are_not_code():
    plain = 'def f(x):\n    return x + 1\n'
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
    for script in ("prepare_data.py", "labels_gold_sets.py", "labels_teacher_cot.py", "cluster.py", "slice_labels.py",
                   "build_tokenizer.py", "build_embedded_model.py", "table.py", "table_report.py"):
        assert "backends/generation.py" not in runs(script), script
    for script in ("sample.py", "zeroshot.py", "synthesize.py", "summarize_uncertainty.py", "w2s_answers.py",
                   "eval.py", "cot_filter.py"):
        assert "backends/generation.py" in runs(script), script


def test_data_jobs_do_not_hash_the_table_layout():
    for script in ("prepare_data.py", "labels_gold_sets.py", "sample.py", "eval.py"):
        assert "tables.py" not in runs(script), script
    assert "tables.py" in runs("table.py")


@pytest.fixture
def package_copy(tmp_path):
    import shutil

    shutil.copytree(PACKAGE, tmp_path / "alice_w2s", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(SCRIPTS / "cluster.py", tmp_path / "cluster.py")
    return tmp_path


def fingerprint(root: Path) -> str:
    code_fingerprint.cache_clear()
    package_files.cache_clear()
    return code_fingerprint(str(root / "cluster.py"), str(root / "alice_w2s"))


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
