"""Crash safety (pytest -m faults): resumable generation, kills, and bad inputs that
must end in one line naming the file, row or key, with no output left behind."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from alice_w2s.backends.generation import GenerationResult, Generator, Sampling, open_generator
from alice_w2s.backends.sharded import ShardedGenerator, shard_dir_for
from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import write_parquet
from alice_w2s.prompts import Prompts
from alice_w2s.stages.sample import sample_responses
from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

PROMPTS = Prompts(Path(__file__).resolve().parents[1] / "resources" / "prompts")

pytestmark = pytest.mark.faults

QUESTIONS = pd.DataFrame(
    {"id": [f"q{i}" for i in range(7)], "question": [f"What is {i} plus {2 * i}?" for i in range(7)]}
)
SAMPLING = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=10, n=3, seed=7)


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs (not even `except Exception`)."""


class DiesAfter:
    """A backend that dies on its (calls + 1)-th generate call."""

    def __init__(self, backend: Generator, calls: int) -> None:
        self.backend, self.calls = backend, calls

    def generate(self, chats, sampling: Sampling, keys=None) -> GenerationResult:
        if self.calls == 0:
            raise Killed
        self.calls -= 1
        return self.backend.generate(chats, sampling, keys)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults-model")
    corpus = [f"<|im_start|>user\nWhat is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n#### {a + b}" for a in range(20) for b in range(5)]
    build_tokenizer(corpus, root / "tok", vocab_size=400)
    build_tiny_model(
        root / "tok", root / "model", arch="qwen2", hidden_size=128, num_layers=2, num_heads=2,
        intermediate_size=256, seed=0, warmup_texts=corpus, warmup_steps=5,
    )
    return root / "model"


@pytest.fixture(scope="module")
def backend(tiny_model: Path) -> Generator:
    # batches of 2 inside shards of 3: with transformers the batches follow the shards
    gen = open_generator("transformers", str(tiny_model), {"batch_size": 2})
    yield gen
    gen.close()


def _sharded(backend: Generator, output: Path, opened: list, seed_note: str = "") -> ShardedGenerator:
    def open_backend() -> Generator:
        opened.append(1)
        return backend

    return ShardedGenerator(open_backend, shard_dir_for(output), {"model": "tiny", "note": seed_note}, shard_size=3)


def _sample(generator: ShardedGenerator, output: Path, sampling: Sampling = SAMPLING) -> None:
    samples, _ = sample_responses(QUESTIONS, get_spec("toy_math"), generator, sampling, PROMPTS)
    write_parquet(samples, output)


def test_killed_sampling_job_resumes_and_writes_the_same_parquet(backend, tmp_path, caplog):
    whole = tmp_path / "whole.parquet"
    uninterrupted = _sharded(backend, whole, [])
    _sample(uninterrupted, whole)
    uninterrupted.discard()
    assert uninterrupted.stats() == {"shards_reused": 0, "shards_total": 3}
    assert not shard_dir_for(whole).exists()

    resumed_path = tmp_path / "resumed.parquet"
    first = _sharded(DiesAfter(backend, calls=2), resumed_path, [])
    with pytest.raises(Killed):
        _sample(first, resumed_path)
    assert not resumed_path.exists()
    assert len(list(shard_dir_for(resumed_path).iterdir())) == 2  # shards 1 and 2 are kept

    opened: list = []
    second = _sharded(backend, resumed_path, opened)
    with caplog.at_level(logging.INFO, logger="alice_w2s"):
        _sample(second, resumed_path)
    assert "resuming from 2 of 3 shards" in caplog.text
    assert second.stats() == {"shards_reused": 2, "shards_total": 3}
    assert resumed_path.read_bytes() == whole.read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(resumed_path), pd.read_parquet(whole))

    # A rerun with every shard done never loads the model.
    opened.clear()
    third = _sharded(backend, resumed_path, opened)
    _sample(third, resumed_path)
    assert opened == [] and third.stats()["shards_reused"] == 3
    assert resumed_path.read_bytes() == whole.read_bytes()


def test_changed_settings_never_reuse_shards(backend, tmp_path):
    output = tmp_path / "out.parquet"
    _sample(_sharded(backend, output, []), output)
    for changed, sampling in [
        (_sharded(backend, output, [], seed_note="other model"), SAMPLING),
        (_sharded(backend, output, []), Sampling(**{**SAMPLING.__dict__, "seed": 8})),
        (_sharded(backend, output, []), Sampling(**{**SAMPLING.__dict__, "temperature": 0.5})),
    ]:
        _sample(changed, output, sampling)
        assert changed.stats()["shards_reused"] == 0
    # Other questions in a shard: that shard only is made again.
    edited = _sharded(backend, output, [])
    samples, _ = sample_responses(
        QUESTIONS.assign(question=QUESTIONS["question"].where(QUESTIONS.index != 4, "What is 9 plus 9?")),
        get_spec("toy_math"), edited, SAMPLING, PROMPTS,
    )
    assert edited.stats() == {"shards_reused": 2, "shards_total": 3}


def test_later_shards_draw_with_their_own_seed(backend, tmp_path):
    """Shards of one job must not repeat shard 0's random stream (transformers seeds per call)."""
    same = pd.DataFrame({"id": [f"q{i}" for i in range(6)], "question": ["What is 3 plus 4?"] * 6})
    generator = _sharded(backend, tmp_path / "x.parquet", [])
    samples, _ = sample_responses(same, get_spec("toy_math"), generator, SAMPLING, PROMPTS)
    per_question = samples.groupby("id")["response"].apply(tuple)
    assert per_question["q0"] != per_question["q3"]  # same prompt, same slot, other shard


# --- bad inputs: one line naming the file, row or key ------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _default_config() -> dict:
    from alice_w2s.config import load_yaml

    return load_yaml(ROOT / "config" / "toy.yaml")


def _truncated_parquet(path: Path) -> Path:
    pd.DataFrame({"question": [f"q{i}" for i in range(50)], "answer": ["a"] * 50}).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _model_folder(root: Path, *files: str) -> Path:
    root.mkdir(parents=True)
    for name in files:
        (root / name).write_text("{}")
    return root


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing model folder", r"models\.tiny-qwen-s\.path: .*nowhere is not a folder"),
        ("no weights", r"models\.tiny-qwen-s\.path: .*noweights holds no weights"),
        ("no tokenizer", r"models\.tiny-qwen-s\.path: .*notok holds no tokenizer"),
        ("missing dataset file", r"datasets\.toy_math\.files\.eval: .*absent\.jsonl does not exist"),
        ("empty split", r"datasets\.toy_math\.files\.train: .*empty\.jsonl holds no records"),
        ("truncated parquet", r"datasets\.toy_math\.files\.train: .*cut\.parquet is not a readable Parquet file"),
        ("eval too small", r"datasets\.toy_math: the eval set has 1 item"),
        ("pool too small", r"datasets\.toy_math: the train split has 2 record.* into 2 slice"),
    ],
)
def test_bad_local_inputs_fail_before_any_job(case, message, tmp_path):
    from alice_w2s.config import ConfigError, validate

    config = _default_config()
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "q", "answer": "a"}\n' * 6)
    models, math = config["models"], config["datasets"]["toy_math"]
    if case == "missing model folder":
        models["tiny-qwen-s"] = {"source": "local", "path": str(tmp_path / "nowhere")}
    elif case == "no weights":
        folder = _model_folder(tmp_path / "noweights", "config.json", "tokenizer.json")
        models["tiny-qwen-s"] = {"source": "local", "path": str(folder)}
    elif case == "no tokenizer":
        folder = _model_folder(tmp_path / "notok", "config.json", "model.safetensors", "tokenizer_config.json")
        models["tiny-qwen-s"] = {"source": "local", "path": str(folder)}
    elif case in ("missing dataset file", "empty split", "truncated parquet"):
        (tmp_path / "empty.jsonl").write_text("\n")
        train = {"empty split": tmp_path / "empty.jsonl", "truncated parquet": _truncated_parquet(tmp_path / "cut.parquet")}
        eval_file = tmp_path / "absent.jsonl" if case == "missing dataset file" else good
        config["datasets"]["toy_math"] = {
            "kind": "gsm8k", "source": "local", "files": {"train": str(train.get(case, good)), "eval": str(eval_file)}
        }
    elif case == "eval too small":
        math["toy"]["n_eval"] = 1
    elif case == "pool too small":
        math["toy"]["n_train"] = 2  # one transfer row; Table 2's three-model chains cut it in two
    with pytest.raises(ConfigError, match=message) as raised:
        validate(config)
    assert "\n" not in str(raised.value)


def test_a_complete_local_model_folder_and_dataset_pass(tmp_path):
    from alice_w2s.config import validate

    config = _default_config()
    folder = _model_folder(tmp_path / "m", "config.json", "model.safetensors", "tokenizer.json")
    config["models"]["tiny-qwen-s"] = {"source": "local", "path": str(folder)}
    records = tmp_path / "r.jsonl"
    records.write_text('{"question": "q", "answer": "a"}\n' * 40)
    config["datasets"]["toy_math"] = {"kind": "gsm8k", "source": "local", "files": {"train": str(records), "eval": str(records)}}
    validate(config)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "q1", "answer": "x\\n#### 1"}\n\nnot json\n', r"train\.jsonl, line 3: not JSON"),
        ('{"question": "q1", "answer": "x\\n#### 1"}\n[1, 2]\n', r"train\.jsonl, line 2: a record must be a JSON object"),
        ('{"question": "q1", "answer": "x\\n#### 1"}\n{"question": "q2"}\n', r"train\.jsonl\): record 1 lacks the gsm8k field 'answer'"),
        ('{"question": null, "answer": "x\\n#### 1"}\n', r"train\.jsonl\): record 0 has a gsm8k field of the wrong type"),
    ],
)
def test_bad_records_name_the_file_and_line(content, message, tmp_path):
    from alice_w2s.datasets.prepare import prepare

    (tmp_path / "train.jsonl").write_text(content)
    (tmp_path / "eval.jsonl").write_text('{"question": "q", "answer": "x\\n#### 1"}\n')
    files = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl")}
    with pytest.raises(ValueError, match=message) as raised:
        prepare("math", {"kind": "gsm8k", "source": "local", "files": files})
    assert "\n" not in str(raised.value)


def test_truncated_parquet_names_the_file(tmp_path):
    from alice_w2s.io import read_parquet

    path = _truncated_parquet(tmp_path / "transfer.parquet")
    with pytest.raises(ValueError, match=r"transfer\.parquet: not a readable Parquet file, truncated or corrupt") as raised:
        read_parquet(path)
    assert "\n" not in str(raised.value)


# --- real kills and bad inputs through Snakemake -------------------------------------

ZEROSHOT = "results/zeroshot/toy_math/tiny-qwen-s/all.parquet"
EVAL = "results/eval/toy_math/tiny-qwen-s.json"
# Shards of 2 of the toy pool's 24 questions (12 shards), answers long enough that a
# job spends seconds generating: a kill lands between shards. Fewer warm-up steps
# make the model build short; nothing here compares numbers with other runs.
OVERLAY = """\
generation: {shard_size: 2}
models:
  tiny-qwen-s: {warmup_steps: 20}
stages:
  zeroshot: {max_new_tokens: 160}
  eval: {max_new_tokens: 160}
"""


def _command(workdir: Path, *targets: str) -> list[str]:
    import sys

    overlay = workdir / "overlay.yaml"
    if not overlay.exists():
        overlay.write_text(OVERLAY)
    config = [str(ROOT / "config" / "toy.yaml"), str(overlay)]
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "2",
            *targets, "--configfile", *config]


def _run(command: list[str], timeout: int = 600):
    import os
    import subprocess

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def _start_and_kill_when_sharded(command: list[str], output: Path, kill) -> int:
    """Start Snakemake in its own process group; once the job making ``output`` has
    written two shards, ``kill(snakemake process)``. Returns the shards left."""
    import os
    import subprocess
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    shards = shard_dir_for(output)
    deadline = time.monotonic() + 300
    try:
        while len(list(shards.glob("shard-*.json"))) < 2:
            assert proc.poll() is None, f"Snakemake ended (rc {proc.returncode}) before {output.name} had 2 shards"
            assert time.monotonic() < deadline, "no shards within 300 s"
            time.sleep(0.02)
        kill(proc)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert not output.exists(), "the job finished before the kill; nothing was tested"
    return len(list(shards.glob("shard-*.json")))


def _kill_job(proc) -> None:
    """kill -9 the generation job only (the script process Snakemake started)."""
    import psutil

    jobs = [p for p in psutil.Process(proc.pid).children(recursive=True) if "zeroshot" in " ".join(p.cmdline())]
    assert jobs, "no zeroshot job process found"
    for job in jobs:
        job.kill()


def _kill_group(proc) -> None:
    """kill -9 Snakemake's whole process group: Snakemake and every job."""
    import os

    import psutil

    jobs = psutil.Process(proc.pid).children(recursive=True)
    assert any("eval" in " ".join(p.cmdline()) for p in jobs), "no eval job process found"
    os.killpg(proc.pid, 9)
    proc.wait(timeout=30)
    _, alive = psutil.wait_procs(jobs, timeout=30)
    assert not alive, f"survived the kill: {alive}"


def _manifest_stats(path: Path) -> dict:
    import json

    return json.loads(Path(f"{path}.manifest.json").read_text())["stats"]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One workdir: a zeroshot job killed -9 mid-way and rerun; then an eval run whose
    whole Snakemake process group is killed -9 and recovered by the README's
    commands; then both redone uninterrupted for comparison."""
    workdir = tmp_path_factory.mktemp("killed")
    zeroshot, evaluation = workdir / ZEROSHOT, workdir / EVAL.replace(".json", ".parquet")
    found: dict = {}

    command = _command(workdir, ZEROSHOT)
    found["zeroshot_left"] = _start_and_kill_when_sharded(command, zeroshot, _kill_job)
    found["zeroshot_rerun"] = _run(command)
    found["zeroshot_stats"] = _manifest_stats(zeroshot)
    found["zeroshot_log"] = (workdir / "results/logs/zeroshot/toy_math/tiny-qwen-s/all.log").read_text()

    command = _command(workdir, EVAL)
    found["eval_left"] = _start_and_kill_when_sharded(command, evaluation, _kill_group)
    found["locked"] = _run(command)
    found["unlock"] = _run(_command(workdir, "--unlock"))
    found["eval_rerun"] = _run(command)
    found["eval_stats"] = _manifest_stats(evaluation)
    found["eval_log"] = (workdir / "results/logs/eval/toy_math/tiny-qwen-s.log").read_text()
    found["shard_dirs"] = sorted(p.name for p in (workdir / "results").rglob("*.shards"))

    resumed = {name: path.read_bytes() for name, path in (("zeroshot", zeroshot), ("eval", evaluation))}
    fresh = _run(_command(workdir, ZEROSHOT, EVAL, "--forcerun", "zeroshot", "eval"))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert _manifest_stats(zeroshot)["shards_reused"] == 0 and _manifest_stats(evaluation)["shards_reused"] == 0
    found["same"] = {name: path.read_bytes() == resumed[name] for name, path in (("zeroshot", zeroshot), ("eval", evaluation))}
    found["workdir"] = workdir
    return found


def test_generation_job_killed_mid_way_resumes_with_the_same_output(killed_and_resumed):
    found = killed_and_resumed
    left = found["zeroshot_left"]
    assert 2 <= left < 12
    assert found["zeroshot_rerun"].returncode == 0, found["zeroshot_rerun"].stderr[-3000:]
    assert f"resuming from {left} of 12 shards" in found["zeroshot_log"]
    assert found["zeroshot_stats"]["shards_reused"] == left and found["zeroshot_stats"]["shards_total"] == 12
    assert found["same"]["zeroshot"], "the resumed output differs from an uninterrupted run's"


def test_killed_snakemake_recovers_with_the_readme_commands(killed_and_resumed):
    found = killed_and_resumed
    left = found["eval_left"]
    assert found["locked"].returncode != 0 and "cannot be locked" in found["locked"].stderr
    assert found["unlock"].returncode == 0, found["unlock"].stderr[-3000:]
    assert found["eval_rerun"].returncode == 0, found["eval_rerun"].stderr[-3000:]
    assert f"resuming from {left} of 12 shards" in found["eval_log"]
    assert found["eval_stats"]["shards_reused"] == left
    assert found["same"]["eval"], "the recovered evaluation differs from an uninterrupted run's"
    assert found["shard_dirs"] == [], "shards must not outlive a finished output"
    assert ".venv/bin/snakemake --unlock" in (ROOT / "docs" / "failures.md").read_text()


def _one_error_line(result) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error")]
    assert result.returncode != 0 and lines, (result.stdout + result.stderr)[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ("models: {tiny-qwen-s: {source: local, path: /nonexistent/qwen}}", "models.tiny-qwen-s.path: /nonexistent/qwen is not a folder"),
        (
            "datasets: {toy_math: {kind: gsm8k, source: local, files: {train: /nonexistent/train.jsonl, eval: /nonexistent/eval.jsonl}}}",
            "datasets.toy_math.files.train: /nonexistent/train.jsonl does not exist",
        ),
    ],
)
def test_missing_local_inputs_stop_the_dry_run(overlay, message, tmp_path):
    (tmp_path / "overlay.yaml").write_text(overlay + "\n")
    result = _run(_command(tmp_path, "-n"))
    assert message in _one_error_line(result)
    assert not (tmp_path / "results").exists()


def test_bad_jsonl_line_ends_the_job_in_one_line_and_writes_nothing(tmp_path):
    record = '{"question": "What is 1 + %d?", "answer": "1 + %d = %d\\n#### %d"}\n'
    lines = [record % (i, i, i + 1, i + 1) for i in range(12)]
    lines[4] = "{not json\n"
    (tmp_path / "train.jsonl").write_text("".join(lines))
    (tmp_path / "eval.jsonl").write_text("".join(record % (i, i, i + 1, i + 1) for i in range(4)))
    (tmp_path / "overlay.yaml").write_text(
        f"datasets: {{toy_math: {{kind: gsm8k, source: local, files: {{train: {tmp_path}/train.jsonl, eval: {tmp_path}/eval.jsonl}}}}}}\n"
    )
    result = _run(_command(tmp_path, "results/data/toy_math/teacher.parquet"))
    assert f"{tmp_path}/train.jsonl, line 5: not JSON" in _one_error_line(result)
    assert "Traceback" not in result.stderr.split("error in rule", 1)[0]
    assert not list((tmp_path / "results" / "data").rglob("*.parquet"))


def test_truncated_parquet_input_ends_the_job_in_one_line(killed_and_resumed, tmp_path):
    import shutil

    workdir = tmp_path / "w"
    shutil.copytree(killed_and_resumed["workdir"], workdir, symlinks=True)  # mtimes kept: nothing else reruns
    transfer = workdir / "results/data/toy_math/transfer.parquet"
    transfer.write_bytes(transfer.read_bytes()[:100])
    result = _run(_command(workdir, "results/labels/toy_math/gold_sets/gold.parquet"))
    assert "results/data/toy_math/transfer.parquet: not a readable Parquet file" in _one_error_line(result)
    assert not (workdir / "results/labels/toy_math/gold_sets/gold.parquet").exists()


def test_a_model_folder_the_disk_cannot_hold_stops_the_job_before_it_trains(killed_and_resumed, tmp_path):
    # Each job writing a model folder asks for model_folder_mb (its weights; rules/common.smk)
    # and checks that much is free before it works (alice_w2s.runner), so a job that
    # could not save ends in one line at its start, not after hours of training.
    import shutil

    workdir = tmp_path / "w"
    shutil.copytree(killed_and_resumed["workdir"], workdir, symlinks=True)
    model = workdir / "results/models/toy_math/tiny-qwen-s@gold"
    too_big = shutil.disk_usage(tmp_path).free // 10**6 * 2  # twice what is free
    result = _run(_command(workdir, str(model.relative_to(workdir)), "--set-resources", f"sft:model_folder_mb={too_big}"))
    line = _one_error_line(result)
    assert line.startswith("error in rule sft: results/models/toy_math/tiny-qwen-s@gold needs ~"), line
    assert line.endswith("GB free: free some space first"), line
    assert not model.exists()
    log = (workdir / "results/logs/sft/toy_math/tiny-qwen-s@gold.log").read_text()
    started = [entry for entry in log.splitlines() if " INFO " in entry]
    assert len(started) == 1 and "INFO rule sft:" in started[0], log  # nothing ran after the start line
