"""A real HTTP server on loopback that plays an OpenAI-compatible API, scripted per test.

The adapters talk to it over a socket exactly as to vLLM or OpenAI, so what is tested is the
wire behaviour (headers, SSE framing, chunked bodies, dropped connections, slow answers), not a
mocked client.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

Reply = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_port: int = 0  # which TCP connection carried it

    def json(self) -> Any:
        return json.loads(self.body)


class FakeHTTP:
    """Answers the n-th request with the n-th scripted reply; records every request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append(Received(self.command, self.path,
                                              {k.lower(): v for k, v in self.headers.items()},
                                              self.rfile.read(length), self.client_address[1]))
                reply = fake._replies.popleft() if fake._replies else _json_reply(500, {"error": "no reply scripted"})
                try:
                    reply(self)
                except OSError:  # the client gave up (timeout tests) or the socket is already shut
                    self.close_connection = True

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hung up (timeout and drop tests do so on purpose) is expected;
                # anything else is still printed.
                if not isinstance(sys.exc_info()[1], OSError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a handler still sleeping must not block teardown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    # -- scripting -----------------------------------------------------------------------
    def reply(self, fn: Reply) -> None:
        self._replies.append(fn)

    def reply_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._replies.append(_json_reply(status, obj, headers))

    def reply_bytes(self, status: int, body: bytes, content_type: str) -> None:
        def send(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        self._replies.append(send)

    def reply_sse(self, pieces: list[str], *, chunked: bool = True, drop_after: int | None = None,
                  delay_s: float = 0.0, wait_before_s: float = 0.0) -> None:
        """Send `pieces` (raw SSE text) as separate network writes. drop_after=k closes the
        socket abruptly after k pieces, without ending the chunked body."""
        def send(h: BaseHTTPRequestHandler) -> None:
            time.sleep(wait_before_s)
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            if chunked:
                h.send_header("Transfer-Encoding", "chunked")
            else:
                h.send_header("Connection", "close")
            h.end_headers()
            for i, piece in enumerate(pieces):
                if drop_after is not None and i >= drop_after:
                    h.wfile.flush()
                    h.connection.shutdown(socket.SHUT_RDWR)
                    h.close_connection = True
                    return
                raw = piece.encode()
                h.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n" if chunked else raw)
                h.wfile.flush()
                time.sleep(delay_s)
            if chunked:
                h.wfile.write(b"0\r\n\r\n")
            h.close_connection = not chunked
        self._replies.append(send)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    def send(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)
    return send


def sse_data(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def chat_chunk(content: str | None = None, finish: str | None = None, role: str | None = None) -> str:
    delta: dict[str, Any] = {"content": content}
    if role:
        delta["role"] = role
    return sse_data({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


@pytest.fixture
def fake_http() -> Iterator[FakeHTTP]:
    server = FakeHTTP()
    yield server
    server.close()


@pytest.fixture
def sse_helpers() -> tuple[Callable[..., str], Callable[[Any], str]]:
    """(chat_chunk, sse_data) builders, handed out as a fixture so tests need no import path."""
    return chat_chunk, sse_data


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
