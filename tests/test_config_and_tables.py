import json
from pathlib import Path

import pytest

from alice_w2s import tables
from alice_w2s.config import ConfigError, load_yaml, validate

ROOT = Path(__file__).resolve().parents[1]


def default_config():
    return load_yaml(ROOT / "config" / "config.yaml")


def test_shipped_configs_validate_and_get_defaults():
    for name in ("config.yaml", "paper.yaml"):
        config = validate(load_yaml(ROOT / "config" / name))
        assert config["stages"]["cluster"]["embedder"]
        assert config["prompts"]["directory"] == "resources/prompts"
    assert validate(load_yaml(ROOT / "config" / "paper.yaml"))["stages"]["sample"]["k"] == 100


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["stages"]["sample"].update(k=1), "stages.sample.k"),
        (lambda c: c["sft"].update(mode="qlora"), "sft.mode"),
        (lambda c: c["stages"]["cluster"].update(treshold=0.5), "stages.cluster"),
        (lambda c: c["table1"]["blocks"][0].update(weak="nope"), "table1.blocks.0.weak"),
        (lambda c: c["table1"].update(datasets=["missing"]), "table1.datasets.0"),
        (lambda c: c["models"]["tiny-qwen-s"].update(hidden_size=96), "models.tiny-qwen-s.hidden_size"),
        (lambda c: c.update(summarizer="ghost"), "summarizer"),
    ],
)
def test_bad_values_name_their_key(edit, message):
    config = default_config()
    edit(config)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate(config)


def test_table_markdown_and_csv(tmp_path):
    cells = [
        {"block": "w -> s", "row": row, "dataset": d, "model": f"{row}-{d}"}
        for row in ("Weak", "Alice")
        for d in ("math", "trivia")
    ]
    for cell in cells:
        summary = {"n": 10, "accuracy": 0.3, "accuracy_stderr": 0.1, "unparsed_rate": 0.2, "exact_match": 0.1, "f1": 0.25}
        (tmp_path / f"{cell['model']}.json").write_text(json.dumps(summary))
    frame = tables.collect(cells, lambda d, m: str(tmp_path / f"{m}.json"))
    assert list(frame.columns) == tables.CSV_COLUMNS and len(frame) == 4
    text = tables.to_markdown(frame, "Table 1", {"trivia"})
    assert "| Weak | 30.00 ±10.00 (20.00% unparsed) |" in text
    assert "exact match / token F1" in text and "10.00 / 25.00" in text
