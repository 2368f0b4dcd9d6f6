"""A client for any OpenAI-compatible server (vLLM, llama.cpp's server, llama-cpp-python's
server, hosted APIs), used both to generate answers and to run LLM judges.

- requests run concurrently (a thread pool of `concurrency` workers), results keep their order;
- each request has a timeout; timeouts, connection errors, HTTP 429 and 5xx are retried with
  exponential backoff (`backoff_s`, 2×, 4×, …), other HTTP errors are not;
- the API key is read from the environment variable named by `api_key_env` when the request is
  sent; it never enters a config, a log, a result row or an error message.

Only the standard library is used (urllib), so the client adds no dependency.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from safedrift.errors import SafedriftError

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class EndpointSettings:
    base_url: str  # up to and including /v1, e.g. http://127.0.0.1:8000/v1
    model: str  # the served model name
    api: str = "chat"  # "chat" (/chat/completions) or "completions" (/completions, raw text)
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    # fields added to every request, for server-specific sampling settings: llama.cpp servers
    # apply repeat_penalty 1.1, top_k 40 and min_p 0.05 unless told otherwise
    extra_body: tuple[tuple[str, object], ...] = ()


class EndpointError(SafedriftError):
    """A request failed after its retries (or could not be retried)."""


@dataclass(frozen=True)
class Reply:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" or "length"
    raw: str  # the response body, verbatim


class OpenAICompatClient:
    def __init__(self, settings: EndpointSettings):
        self.s = settings
        self.base = settings.base_url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.s.api_key_env) if self.s.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, path: str, body: dict) -> dict:
        url = f"{self.base}{path}"
        data = json.dumps(body).encode()
        last = ""
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(self.s.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, headers=self._headers(),
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.s.timeout_s) as r:
                    raw = r.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
                if e.code in (401, 403):
                    hint = (f" (check the API key in ${self.s.api_key_env})"
                            if self.s.api_key_env else "")
                    raise EndpointError(f"endpoint {url}: HTTP {e.code}{hint}") from None
                if e.code not in _RETRY_STATUS:
                    raise EndpointError(f"endpoint {url}: HTTP {e.code} "
                                        f"({_error_text(e)})") from None
                continue
            except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                last = ("timed out after " f"{self.s.timeout_s:g} s"
                        if isinstance(reason, (TimeoutError, socket.timeout))
                        else f"unreachable ({type(reason).__name__})")
                continue
            try:
                return {"json": json.loads(raw), "raw": raw}
            except json.JSONDecodeError:
                last = "the reply is not JSON"
                continue
        raise EndpointError(f"endpoint {url}: {last} after {self.s.max_retries + 1} attempts")

    def complete(self, prompt: str | list[dict], temperature: float, top_p: float,
                 max_tokens: int, seed: int | None) -> Reply:
        """One answer: `prompt` is raw text (api "completions") or chat messages ("chat")."""
        body: dict = {**dict(self.s.extra_body), "model": self.s.model,
                      "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        if seed is not None:
            body["seed"] = seed
        if self.s.api == "chat":
            messages = prompt if isinstance(prompt, list) else [{"role": "user",
                                                                 "content": prompt}]
            reply = self._post("/chat/completions", {**body, "messages": messages})
            path = "/chat/completions"
        else:
            if not isinstance(prompt, str):
                raise SafedriftError("api 'completions' takes rendered text, not messages")
            reply = self._post("/completions", {**body, "prompt": prompt})
            path = "/completions"
        try:
            choice = reply["json"]["choices"][0]
            text = (choice["message"]["content"] if self.s.api == "chat" else choice["text"])
            usage = reply["json"].get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"endpoint {self.base}{path}: reply without choices") from None
        return Reply(text or "", int(usage.get("completion_tokens", 0)),
                     "length" if choice.get("finish_reason") == "length" else "stop",
                     reply["raw"])

    def map(self, fn: Callable[[int], object], n: int,
            on_done: Callable[[int], None] | None = None) -> list:
        """fn(0..n-1) on `concurrency` threads, results in order; the first error is raised
        after the others finish (so nothing half-written is left behind)."""
        def run(i):
            try:
                return fn(i)
            finally:
                if on_done:
                    on_done(i)

        with ThreadPoolExecutor(max_workers=max(1, self.s.concurrency)) as pool:
            futures = [pool.submit(run, i) for i in range(n)]
            return [f.result() for f in futures]

    def check(self) -> None:
        """Fail fast, in one line, when the endpoint cannot be reached at all."""
        url = f"{self.base}/models"
        request = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=min(self.s.timeout_s, 10)):
                return
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise EndpointError(f"endpoint {url}: HTTP {e.code} (check the API key in "
                                    f"${self.s.api_key_env})") from None
            return  # some servers lack /models; the first real request will tell
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise EndpointError(f"endpoint {self.base}: unreachable "
                                f"({type(reason).__name__})") from None


def _error_text(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read().decode("utf-8", errors="replace")
        return " ".join(body.split())[:200]
    except Exception:  # noqa: BLE001 - a broken error body is not worth another error
        return "no details"


class OpenAIBackend:
    """Generation through an OpenAI-compatible server. With api "completions" the prompt is the
    text safedrift renders (so prompt formats are exactly those of the local backends); with api
    "chat" the server applies its own template to the messages."""

    name = "openai"

    def __init__(self, settings: EndpointSettings):
        self.client = OpenAICompatClient(settings)
        self.client.check()

    def generate_many(self, prompts: Sequence[str | list[dict]], sampling, seeds: Sequence[int],
                      stop_early=None, on_done=None):
        from safedrift.models.backends import Generation

        def one(i):
            r = self.client.complete(prompts[i], sampling.temperature, sampling.top_p,
                                     sampling.max_tokens, seeds[i])
            return Generation(r.text, r.n_tokens, r.finish_reason)

        return self.client.map(one, len(prompts), on_done)

    def generate(self, prompt, sampling, seed: int):
        return self.generate_many([prompt], sampling, [seed])[0]

    def close(self) -> None:
        pass
