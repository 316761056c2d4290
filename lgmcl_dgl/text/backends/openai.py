"""The openai backend: any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp, hosted APIs).

Standard library HTTP (urllib) in a bounded thread pool; tenacity retries 429s, 5xx answers,
timeouts, dropped connections and answers that are not valid schema JSON, with exponential
backoff. Validated answers go to the on-disk cache before they are yielded, so a killed run never
pays twice. The API key is read from an environment variable and only ever put in a header.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from lgmcl_dgl.text.backends import (PROMPT_VERSION, BackendError, DescriptionCache, Outcome, build_messages,
                                     cached_outcome, default_cache_path)
from lgmcl_dgl.text.describe import DescriptionError, parse_answer, render

if TYPE_CHECKING:
    from lgmcl_dgl.text.augment import PreparedMolecule

_FATAL_HTTP = {401, 403, 404}  # wrong key, wrong URL or unknown model: every molecule would fail the same way


class TransientError(RuntimeError):
    """Worth another try: rate limit, server error, timeout, dropped connection, malformed answer."""

    def __init__(self, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked for (Retry-After), 0 if it did not


def _retry_after(headers) -> float:
    """A Retry-After header in seconds (the HTTP-date form is rare from LLM servers and ignored), capped at 60."""
    try:
        return min(max(float(headers.get("Retry-After", 0)), 0.0), 60.0)
    except (TypeError, ValueError):
        return 0.0


class MoleculeError(RuntimeError):
    """This molecule's request was refused (e.g. HTTP 400); retrying will not help."""


@dataclass
class OpenAIConfig:
    model: str = ""
    base_url: str = "http://127.0.0.1:8000/v1"  # up to and including /v1
    api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key (local servers need none)
    concurrency: int = 8  # requests in flight
    timeout: float = 120.0  # seconds per request
    max_retries: int = 5
    backoff: float = 1.0  # first wait in seconds; doubles per retry (with jitter) up to 60 s
    temperature: float = 0.2
    max_tokens: int = 1024
    cache: str | None = None  # SQLite file; default: the lgmcl cache directory

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("--backend openai needs --model (the name the server serves)")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"--base-url must start with http:// or https://, got {self.base_url!r}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise ValueError("--concurrency must be >= 1, --max-retries >= 0 and --timeout > 0")


class OpenAIBackend:
    name = "openai"
    prompt_version = PROMPT_VERSION

    def __init__(self, config: OpenAIConfig):
        self.config = config
        self.model = config.model
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        self.cache = DescriptionCache(config.cache or default_cache_path())

    def run(self, molecules: Iterable["PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]:
        limit = 2 * self.config.concurrency  # prepared molecules are pulled lazily, a little ahead
        pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="lgmcl-openai")
        pending: dict[Future, "PreparedMolecule"] = {}
        try:
            for molecule in molecules:
                hit = cached_outcome(self.cache, self.model, molecule.canonical)
                if hit is not None:
                    yield molecule, hit
                    continue
                pending[pool.submit(self._describe, molecule)] = molecule
                if len(pending) >= limit:
                    yield from self._collect(pending)
            while pending:
                yield from self._collect(pending)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _collect(pending: dict[Future, "PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            molecule = pending.pop(future)
            yield molecule, future.result()  # a BackendError stops the run here

    def _describe(self, molecule: "PreparedMolecule") -> Outcome:
        attempts = 0
        backoff = wait_exponential_jitter(initial=self.config.backoff, max=60, jitter=self.config.backoff)

        def wait(state) -> float:  # the backoff, or longer when the server said how long
            return max(backoff(state), getattr(state.outcome.exception(), "retry_after", 0.0))

        retrying = Retrying(stop=stop_after_attempt(self.config.max_retries + 1), wait=wait,
                            retry=retry_if_exception_type(TransientError), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    fields = self._ask(molecule)
        except (TransientError, MoleculeError) as exc:
            return Outcome(None, error=str(exc), retries=attempts - 1)
        self.cache.put(self.model, self.prompt_version, molecule.canonical, fields)
        return Outcome(render(fields), retries=attempts - 1)

    def _ask(self, molecule: "PreparedMolecule") -> dict[str, Any]:
        body = {"model": self.model, "messages": build_messages(molecule.canonical, molecule.descriptors),
                "temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"HTTP {exc.code}", _retry_after(exc.headers)) from None
            if exc.code in _FATAL_HTTP:
                raise BackendError(f"{self.url}: HTTP {exc.code} {exc.reason} (check --base-url, --model and "
                                   f"${self.config.api_key_env})") from None
            raise MoleculeError(f"HTTP {exc.code} {exc.reason}") from None
        except (TimeoutError, socket.timeout):
            raise TransientError(f"timed out after {self.config.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise TransientError(f"timed out after {self.config.timeout:g} s") from None
            raise TransientError(f"connection failed: {exc.reason}") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}") from None
        except json.JSONDecodeError:
            raise TransientError("invalid response: body is not JSON") from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TransientError("invalid response: no choices[0].message.content") from None
        try:
            return parse_answer(content or "")
        except DescriptionError as exc:
            raise TransientError(f"invalid answer: {exc}") from None

    def close(self) -> None:
        self.cache.close()
