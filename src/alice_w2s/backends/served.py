"""Generation through an OpenAI-compatible HTTP server (``vllm serve``, or a hosted API).

One chat-completions request per chat, asking for ``n`` samples with a per-request
seed (derived from the run seed and the chat, like the local vLLM backend). Requests
run concurrently from a bounded thread pool; the server batches what is in flight
(vLLM's continuous batching). Connection errors, timeouts, 429 and 5xx answers are
retried with exponential backoff (or the server's Retry-After); other errors stop the
job with one line. The API key comes only from the environment variable that
``api_key_env`` names: it is never a param, never logged, never in a manifest.

On opening, ``GET /models`` checks that the server serves the configured model and
records what it reports (id, root, revision where given) as ``served_model``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from alice_w2s.backends.generation import Chat, GenerationResult, Sampling, request_keys, request_seed

# Code identity (alice_w2s.fingerprint): hashed only into the jobs that generate
# through a server, so a change to the HTTP client reruns no local job.
GENERATION_BACKEND = "served"

log = logging.getLogger("alice_w2s")
# httpx logs one INFO line per request; a K=100 grid would drown the job's log.
logging.getLogger("httpx").setLevel(logging.WARNING)

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULTS = {"max_concurrency": 16, "timeout_s": 600.0, "max_retries": 6, "backoff_s": 1.0}
MAX_BACKOFF_S = 60.0


class ServedError(ValueError):
    """A request the server refused for good (bad key, unknown model, bad request)."""


class PromptTooLong(ServedError):
    """The prompt leaves no room in the server's context (HTTP 400)."""


def chat_seed(seed: int, chat: Chat, key: str | None = None) -> int:
    """The per-request seed: the run seed, the chat's messages and the row's key, so
    draws differ between rows and do not depend on which requests are in flight together."""
    return request_seed(seed, json.dumps(chat, sort_keys=True, ensure_ascii=False), key)


class ServedGenerator:
    def __init__(self, url: str, options: dict[str, Any]) -> None:
        settings = {**DEFAULTS, **(options.get("client") or {})}
        self.model = options.get("model")
        if not self.model:
            raise ValueError("a served model needs `model`: the name the server serves it under")
        headers = {}
        key_env = options.get("api_key_env")
        if key_env:
            key = os.environ.get(key_env)
            if not key:
                raise ValueError(f"environment variable {key_env} (the served model's api_key_env) is not set")
            headers["Authorization"] = f"Bearer {key}"
        self.key_env = key_env
        self.url = url.rstrip("/")
        self.max_concurrency = int(settings["max_concurrency"])
        self.max_retries = int(settings["max_retries"])
        self.backoff_s = float(settings["backoff_s"])
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(float(settings["timeout_s"]), connect=min(10.0, float(settings["timeout_s"]))),
            limits=httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency),
        )
        self._retries = 0
        self._lock = threading.Lock()
        self.served_model = self._describe()
        log.info("served model %s at %s: %s", self.model, self.url, self.served_model)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request, retried on transient failures; the JSON answer."""
        for attempt in range(self.max_retries + 1):
            wait = self.backoff_s * 2**attempt
            try:
                response = self.client.request(method, path, json=body)
            except httpx.TransportError as err:  # refused, reset, timed out
                problem = f"{type(err).__name__}: {err}"
            else:
                if response.status_code < 400:
                    return response.json()
                problem = f"HTTP {response.status_code}: {_error_text(response)}"
                if response.status_code in (401, 403):
                    hint = f"check {self.key_env}" if self.key_env else "set api_key_env"
                    raise ServedError(f"{self.url} refused the API key ({problem}); {hint}")
                if response.status_code == 400 and _too_long(response):
                    raise PromptTooLong(problem)
                if response.status_code not in TRANSIENT_STATUS:
                    raise ServedError(f"{self.url}{path}: {problem}")
                retry_after = response.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
            if attempt == self.max_retries:
                break
            wait = min(wait, MAX_BACKOFF_S)
            with self._lock:
                self._retries += 1
            log.warning("%s %s%s: %s; retry %d of %d in %.1fs", method, self.url, path, problem, attempt + 1, self.max_retries, wait)
            time.sleep(wait)
        raise ServedError(f"{self.url}{path} still failing after {self.max_retries} retries ({problem})")

    def _describe(self) -> dict[str, Any]:
        served = self._request("GET", "/models").get("data", [])
        ids = [m.get("id") for m in served]
        card = next((m for m in served if m.get("id") == self.model), None)
        if card is None:
            raise ServedError(f"{self.url} does not serve model {self.model!r} (it serves {', '.join(map(str, ids))})")
        info = {"url": self.url, "id": card["id"]}
        for field in ("root", "revision", "owned_by", "max_model_len"):
            if card.get(field) is not None:
                info[field] = card[field]
        return info

    def _complete(self, chat: Chat, sampling: Sampling, key: str | None = None) -> dict | None:
        """The server's answer, or None for a prompt too long for its context (as the
        local vLLM backend does, such a prompt is skipped and counted, not fatal)."""
        greedy = sampling.temperature == 0
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat,
            "n": sampling.n,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": 1.0 if greedy else sampling.top_p,
        }
        if not greedy:
            body["seed"] = chat_seed(sampling.seed, chat, key)
        try:
            answer = self._request("POST", "/chat/completions", body)
        except PromptTooLong:
            return None
        choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != sampling.n:
            raise ServedError(f"{self.url} returned {len(choices)} choices for n={sampling.n}")
        return answer | {"choices": choices}

    def generate(self, chats: list[Chat], sampling: Sampling, keys: list[str] | None = None) -> GenerationResult:
        sampling.validate()
        start = time.perf_counter()
        retries_before = self._retries
        row_keys = request_keys(keys, len(chats))
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = [pool.submit(self._complete, chat, sampling, key) for chat, key in zip(chats, row_keys, strict=True)]
            try:
                answers = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()  # a request that failed for good stops the rest
                raise
        answered = [a for a in answers if a is not None]
        usage = [a.get("usage") or {} for a in answered]
        if self._retries > retries_before:
            log.info("%d requests were retried", self._retries - retries_before)
        return GenerationResult(
            texts=[
                [(c.get("message") or {}).get("content") or "" for c in a["choices"]] if a else [""] * sampling.n
                for a in answers
            ],
            prompt_tokens=sum(int(u.get("prompt_tokens") or 0) for u in usage),
            completion_tokens=sum(int(u.get("completion_tokens") or 0) for u in usage),
            seconds=time.perf_counter() - start,
            served_model=[dict(self.served_model)],
            # cut by max_tokens rather than ended by the model
            length_stopped=sum(c.get("finish_reason") == "length" for a in answered for c in a["choices"]),
            skipped_prompts=len(answers) - len(answered),
        )

    def close(self) -> None:
        self.client.close()


def _too_long(response: httpx.Response) -> bool:
    text = _error_text(response).lower()
    return "context_length_exceeded" in response.text or "maximum context length" in text


def _error_text(response: httpx.Response) -> str:
    """The server's error message, on one line (errors end a job with one line)."""
    try:
        payload = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    message = error.get("message", error) if isinstance(error, dict) else error
    return " ".join(str(message).split())[:300]
