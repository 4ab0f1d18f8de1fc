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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"summarize.txt": "mine.txt"},  # the name of an older release: summarize/{number,choice,text}.txt now
         "error: config key prompts.overrides.summarize.txt: no such template in "),
        ({"question/number.txt": "missing.txt"}, "error: config key prompts.overrides.question/number.txt: missing.txt is not a file"),
    ],
)
def test_an_override_of_no_template_or_no_file_stops_the_plan_with_one_line(tmp_path, overrides, message):
    from snakemake_runner import snakemake

    (tmp_path / "mine.txt").write_text("Q: {question}\n")
    entries = ", ".join(f"'{name}': '{path}'" for name, path in overrides.items())
    result = snakemake(tmp_path, "-n", "--config", f"prompts={{'overrides': {{{entries}}}}}")
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error")]
    assert result.returncode != 0 and len(errors) == 1 and errors[0].startswith(message), errors
    if "no such template" in message:
        assert "summarize/number.txt" in errors[0]  # the names it could have meant
    ok = snakemake(tmp_path, "-n", "--config", "prompts={'overrides': {'question/number.txt': 'mine.txt'}}")
    assert ok.returncode == 0, ok.stderr[-2000:]
