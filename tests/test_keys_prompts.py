"""Jobs render prompt templates from the folder their rule names (the one it
hashed), relative to the job's working directory; the package guesses no root."""

import pytest

from alice_w2s import prompts


def test_templates_come_from_the_folder_the_params_name(tmp_path, monkeypatch):
    (tmp_path / "mine" / "question").mkdir(parents=True)
    (tmp_path / "mine" / "question" / "number.txt").write_text("Q: {question}\n")
    (tmp_path / "other.txt").write_text("Other: {question}")
    monkeypatch.chdir(tmp_path)  # a job runs in Snakemake's working directory
    settings = {"directory": "mine", "overrides": {"question/text.txt": "other.txt"}, "digest": {}}
    loaded = prompts.prompts_from_settings(settings)
    assert loaded.question("number", "1 + 1?") == "Q: 1 + 1?"
    assert loaded.question("text", "who?") == "Other: who?"
    with pytest.raises(FileNotFoundError, match="choice"):
        loaded.question("choice", "which?")
    assert not hasattr(prompts, "REPO_ROOT")
    with pytest.raises(TypeError):
        prompts.Prompts()  # type: ignore[call-arg]  # no default folder to fall back on
