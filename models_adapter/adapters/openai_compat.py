"""Adapters for servers that speak the OpenAI HTTP API: OpenAI itself, vLLM, TGI, llama.cpp's
server, Ollama (all serve `/v1/chat/completions`), and OpenAI-style image endpoints.

Secrets: a config names the environment variable holding the key (`api_key_env`), never the
key; the key is read at call time and scrubbed from every error message we build.

Retries: only failures that happen before the model produced anything (connect errors, 429,
5xx) are retried, with bounded exponential backoff. Once text has streamed to `on_text`, a
retry would show the voter duplicated text, so a later failure is an AdapterError instead.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
from typing import Any, Iterator

# httpx2 is the maintained continuation of httpx (same API; already pinned in requirements.txt
# because huggingface_hub depends on it), so using it adds no dependency.
import httpx2 as httpx

from models_adapter.base import (
    QUEUE_API,
    Adapter,
    AdapterConfigError,
    AdapterError,
    GenerationRequest,
    GenerationResult,
    MediaOutput,
    TextSink,
    register,
)
from models_adapter.media import sniff_mime

_COMMON_KEYS = {"base_url", "model", "params", "api_key_env", "timeout_s", "max_retries",
                "retry_backoff_s", "extra_headers", "queue"}
_RETRY_STATUS = {429, 500, 502, 503, 504}
_MAX_RETRIES_CAP = 5  # whatever a config says: a stuck API must not hold a worker for long
_MAX_BACKOFF_S = 30.0
_EXCERPT = 300  # characters of an error body kept in a message
# Keys the adapter owns; a request's params must not turn streaming off or switch the model.
_RESERVED = {"model", "messages", "stream", "stream_options", "n", "prompt", "response_format"}


_clients: dict[tuple[int, float], httpx.Client] = {}
_clients_lock = threading.Lock()
# Built once at import (~30 ms of CPU to load the CA bundle): a Celery prefork parent imports
# this module before it forks, so its children inherit the context instead of each building one.
_TLS = httpx.create_ssl_context()


def _shared_client(timeout_s: float) -> httpx.Client:
    """One client per process and timeout, shared by every generation (it is thread-safe).

    A client per request would build a fresh TLS context each time (loading the CA bundle costs
    tens of milliseconds of CPU, even for plain http) and open a new connection to the model
    server; shared, connections are kept alive and reused. Keyed by pid too: a Celery prefork
    child must not use a client (and sockets) inherited from its parent.
    """
    key = (os.getpid(), timeout_s)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # One timeout for connect and for each read: with streaming, "read" is the
                # longest gap between two chunks, which tells a hung server from a slow answer.
                client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False, verify=_TLS,
                                      limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
                _clients[key] = client
    return client


class _Retryable(Exception):
    """A failure before any output that may succeed if tried again."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _OpenAIBase(Adapter):
    queue = QUEUE_API
    _extra_keys: frozenset[str] = frozenset()
    _default_timeout_s = 60.0
    _endpoint = ""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        c = self.config
        if "api_key" in c:  # a pasted key would end up in the database and in logs
            raise AdapterConfigError("put the key in an environment variable and name it in 'api_key_env'; "
                                     "'api_key' is not accepted")
        unknown = set(c) - _COMMON_KEYS - self._extra_keys
        if unknown:
            raise AdapterConfigError(f"{self.name}: unknown config key(s): {', '.join(sorted(unknown))}")
        for key in ("base_url", "model"):
            if not isinstance(c.get(key), str) or not c[key].strip():
                raise AdapterConfigError(f"{self.name}: config needs '{key}' (a non-empty string)")
        if not c["base_url"].startswith(("http://", "https://")):
            raise AdapterConfigError(f"{self.name}: base_url must start with http:// or https://")
        if not isinstance(c.get("params", {}), dict) or not isinstance(c.get("extra_headers", {}), dict):
            raise AdapterConfigError(f"{self.name}: 'params' and 'extra_headers' must be JSON objects")
        try:
            self.timeout_s = float(c.get("timeout_s", self._default_timeout_s))
            self.max_retries = max(0, min(int(c.get("max_retries", 2)), _MAX_RETRIES_CAP))
            self.backoff_s = max(0.0, float(c.get("retry_backoff_s", 0.5)))
        except (TypeError, ValueError):
            raise AdapterConfigError(f"{self.name}: timeout_s, max_retries, retry_backoff_s must be numbers") from None
        if self.timeout_s <= 0:
            raise AdapterConfigError(f"{self.name}: timeout_s must be > 0")
        self.url = c["base_url"].rstrip("/") + self._endpoint

    # -- helpers shared by both adapters -------------------------------------------------
    def _api_key(self) -> str | None:
        var = self.config.get("api_key_env")
        if not var:
            return None
        key = os.environ.get(str(var))
        if not key:
            raise AdapterError(f"{self.name}: environment variable {var} (named by api_key_env) is not set")
        return key

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {str(k): str(v) for k, v in self.config.get("extra_headers", {}).items()}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _client(self) -> httpx.Client:
        return _shared_client(self.timeout_s)

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        merged = {**self.config.get("params", {}), **request.params}
        return {k: v for k, v in merged.items() if k not in _RESERVED}

    def _with_retries(self, attempt_fn: Any, key: str | None) -> Any:
        """Run attempt_fn() until it returns; sleep and retry on _Retryable, at most max_retries times."""
        for attempt in range(self.max_retries + 1):
            try:
                return attempt_fn()
            except _Retryable as e:
                if attempt >= self.max_retries:
                    raise AdapterError(_scrub(f"{e} (gave up after {attempt + 1} attempts)", key)) from None
                delay = e.retry_after if e.retry_after is not None else self.backoff_s * (2 ** attempt)
                time.sleep(min(delay, _MAX_BACKOFF_S))
        raise AssertionError("unreachable")

    def _check_status(self, resp: httpx.Response, key: str | None) -> None:
        if resp.status_code < 400:
            return
        resp.read()
        msg = _scrub(f"{self.name}: HTTP {resp.status_code} from {self.url}: {_excerpt(resp)}", key)
        if resp.status_code in _RETRY_STATUS:
            raise _Retryable(msg, _retry_after(resp))
        raise AdapterError(msg)


def _excerpt(resp: httpx.Response) -> str:
    """The most useful short text of an error body: OpenAI-style error.message, else raw text."""
    text = resp.text or ""
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
        elif isinstance(err, str):
            text = err
    except (ValueError, AttributeError):
        pass
    text = " ".join(text.split())
    return text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "") or "(empty body)"


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("retry-after", "")))
    except ValueError:  # absent, or an HTTP date: fall back to our own backoff
        return None


def _scrub(message: str, key: str | None) -> str:
    # Servers sometimes echo the key they rejected; the message is stored, so cut it out.
    return message.replace(key, "[redacted]") if key else message


def _drain_rest(events: Iterator[Any], limit: int = 100) -> None:
    """Read what follows [DONE] (normally only the end of the chunked body) so the connection
    goes back to the pool for the next answer; a server still talking after that is cut off."""
    try:
        for _ in itertools.islice(events, limit):
            pass
    except (httpx.HTTPError, AdapterError):
        pass  # the answer is complete; a broken tail only costs the kept connection


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from server-sent-event lines; comments (": ping") are skipped and
    multi-line data is joined with newlines, as the SSE spec says."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "data":
                data.append(value)
            elif field_name == "event":
                event = value
    if data:  # a server that closes right after its last data line, without the blank line
        yield event, "\n".join(data)


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or json.dumps(err)[:_EXCERPT])
    return str(err)[:_EXCERPT]


@register
class OpenAIChatAdapter(_OpenAIBase):
    """Streams a chat completion from any OpenAI-compatible server."""

    name = "openai_chat"
    modalities = ("text",)
    _extra_keys = frozenset({"system", "stream_usage", "max_duration_s"})
    _endpoint = "/chat/completions"

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        try:
            self.max_duration_s = float(self.config.get("max_duration_s", 600))
        except (TypeError, ValueError):
            raise AdapterConfigError(f"{self.name}: max_duration_s must be a number") from None

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        key = self._api_key()
        body: dict[str, Any] = {**self._body(request), "model": self.config["model"],
                                "messages": request.messages(self.config.get("system")), "stream": True}
        if request.seed is not None:
            body.setdefault("seed", request.seed)
        if self.config.get("stream_usage", True):  # token counts in the last chunk (OpenAI, vLLM, llama.cpp)
            body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        meta: dict[str, Any] = {}
        client = self._client()
        self._with_retries(lambda: self._attempt(client, body, key, parts, meta, on_text), key)
        return GenerationResult(text="".join(parts), meta=meta)

    def _attempt(self, client: httpx.Client, body: dict[str, Any], key: str | None,
                 parts: list[str], meta: dict[str, Any], on_text: TextSink) -> None:
        # _Retryable is raised only for a refused connection or an error status, i.e. before
        # any byte of the answer was read; everything after that becomes a plain AdapterError.
        try:
            with client.stream("POST", self.url, json=body, headers=self._headers(key)) as resp:
                self._check_status(resp, key)
                if resp.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignored stream=true answers with one JSON document.
                    resp.read()
                    self._take_chunk(resp.json(), parts, meta, on_text, message=True)
                    return
                done = False
                events = _sse_events(self._lines_until_deadline(resp))
                for event, data in events:
                    if data.strip() == "[DONE]":
                        done = True
                        _drain_rest(events)
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        chunk = None
                    # Errors arrive as `event: error`, as {"error": {...}} (OpenAI, llama.cpp) or
                    # as {"object": "error", "message": ...} (vLLM).
                    err = data if event == "error" else None
                    if isinstance(chunk, dict) and (chunk.get("error") or chunk.get("object") == "error"):
                        err = chunk.get("error") or chunk
                    if err is not None:
                        raise AdapterError(_scrub(f"{self.name}: server reported an error mid-stream: "
                                                  f"{_error_text(err)}", key))
                    if chunk is None:
                        raise AdapterError(f"{self.name}: server sent a non-JSON event: {data[:_EXCERPT]!r}")
                    self._take_chunk(chunk, parts, meta, on_text)
                if not done and "finish_reason" not in meta:
                    # The body ended cleanly but the answer did not: a proxy or server died.
                    raise AdapterError(f"{self.name}: stream ended before the answer was complete "
                                       f"(no [DONE], no finish_reason) after {len(''.join(parts))} characters")
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise _Retryable(f"{self.name}: cannot connect to {self.url}: {type(e).__name__}") from None
        except httpx.TimeoutException as e:
            raise AdapterError(f"{self.name}: timeout after {self.timeout_s:g}s waiting for {self.url} "
                               f"({type(e).__name__}); {len(''.join(parts))} characters received") from None
        except httpx.HTTPError as e:
            raise AdapterError(f"{self.name}: connection to {self.url} failed mid-stream "
                               f"({type(e).__name__}: {e}); {len(''.join(parts))} characters received") from None

    def _lines_until_deadline(self, resp: httpx.Response) -> Iterator[str]:
        # The read timeout resets on every line, so a server sending only ": ping" keep-alives
        # would hold the worker forever; an overall deadline bounds the whole answer.
        deadline = time.monotonic() + self.max_duration_s
        for line in resp.iter_lines():
            if time.monotonic() > deadline:
                raise AdapterError(f"{self.name}: answer took longer than max_duration_s={self.max_duration_s:g}")
            yield line

    @staticmethod
    def _take_chunk(chunk: Any, parts: list[str], meta: dict[str, Any], on_text: TextSink,
                    message: bool = False) -> bool:
        """Emit the text of one chunk; record usage / finish_reason. True if text was emitted."""
        if not isinstance(chunk, dict):
            return False
        if isinstance(chunk.get("usage"), dict):
            meta["usage"] = chunk["usage"]
        choices = chunk.get("choices") or []  # the usage-only last chunk has "choices": []
        if not choices or not isinstance(choices[0], dict):
            return False
        choice = choices[0]
        if choice.get("finish_reason"):
            meta["finish_reason"] = choice["finish_reason"]
        holder = choice.get("message" if message else "delta") or {}
        text = holder.get("content") if isinstance(holder, dict) else None  # null in role-only chunks
        if not text or not isinstance(text, str):
            return False
        parts.append(text)
        on_text(text)
        return True


@register
class OpenAIImageAdapter(_OpenAIBase):
    """One image from an OpenAI-style /images/generations endpoint (b64_json or url answers)."""

    name = "openai_image"
    modalities = ("image",)
    _extra_keys = frozenset({"size", "response_format", "max_bytes"})
    _endpoint = "/images/generations"
    _default_timeout_s = 180.0  # image models take far longer than a first text token

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        try:
            self.max_bytes = int(self.config.get("max_bytes", 64 * 1024 * 1024))
        except (TypeError, ValueError):
            raise AdapterConfigError(f"{self.name}: max_bytes must be an integer") from None

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        key = self._api_key()
        body: dict[str, Any] = {**self._body(request), "model": self.config["model"],
                                "prompt": request.prompt, "n": 1}
        body.setdefault("size", self.config.get("size", "1024x1024"))
        # Some models (gpt-image-1) always answer b64 and reject the field: config may set null.
        fmt = self.config.get("response_format", "b64_json")
        if fmt:
            body["response_format"] = fmt
        client = self._client()
        data = self._with_retries(lambda: self._attempt(client, body, key), key)
        mime = sniff_mime(data)
        if mime not in ("image/png", "image/jpeg", "image/webp"):
            raise AdapterError(f"{self.name}: server returned {len(data)} bytes that are not PNG, JPEG or WebP")
        return GenerationResult(media=MediaOutput(data=data, mime=mime))

    def _attempt(self, client: httpx.Client, body: dict[str, Any], key: str | None) -> bytes:
        try:
            resp = client.post(self.url, json=body, headers=self._headers(key))
            self._check_status(resp, key)
            try:
                item = resp.json()["data"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                raise AdapterError(f"{self.name}: unexpected answer: {_excerpt(resp)}") from None
            if item.get("b64_json"):
                try:
                    return base64.b64decode(item["b64_json"], validate=True)
                except ValueError:
                    raise AdapterError(f"{self.name}: b64_json is not valid base64") from None
            if item.get("url"):
                return self._fetch(client, str(item["url"]))
            raise AdapterError(f"{self.name}: answer has neither b64_json nor url")
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise _Retryable(f"{self.name}: cannot connect to {self.url}: {type(e).__name__}") from None
        except httpx.TimeoutException as e:
            raise AdapterError(f"{self.name}: timeout after {self.timeout_s:g}s ({type(e).__name__})") from None
        except httpx.HTTPError as e:
            raise AdapterError(f"{self.name}: request failed ({type(e).__name__}: {e})") from None

    def _fetch(self, client: httpx.Client, url: str) -> bytes:
        if not url.startswith(("http://", "https://")):
            raise AdapterError(f"{self.name}: image url has an unsupported scheme")
        # No Authorization header: the url is usually a signed link on another host, which
        # must not see our key.
        with client.stream("GET", url, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise AdapterError(f"{self.name}: HTTP {resp.status_code} fetching the image url")
            out = bytearray()
            for block in resp.iter_bytes():
                out += block
                if len(out) > self.max_bytes:
                    raise AdapterError(f"{self.name}: image larger than max_bytes={self.max_bytes}")
            return bytes(out)
