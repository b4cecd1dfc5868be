"""openai_chat against a real loopback server speaking the OpenAI streaming protocol."""
from __future__ import annotations

import time

import pytest

from models_adapter.base import (
    QUEUE_API,
    AdapterConfigError,
    AdapterError,
    GenerationRequest,
    Turn,
    build_adapter,
)

KEY_VAR = "ARENA_TEST_OPENAI_KEY"
SECRET = "sk-test-secret-123456"


def make(fake_http, **cfg):
    base = {"base_url": fake_http.url + "/v1", "model": "tiny-chat", "retry_backoff_s": 0.01, "timeout_s": 5}
    return build_adapter("openai_chat", {**base, **cfg})


def run(adapter, prompt="Hi", **kw):
    got: list[str] = []
    result = adapter.generate(GenerationRequest(modality="text", prompt=prompt, **kw), got.append)
    return result, got


def test_streams_deltas_in_order_and_reports_usage(fake_http, sse_helpers):
    chunk, data = sse_helpers
    fake_http.reply_sse([
        ": ping\n\n",  # keep-alive comment (llama.cpp, proxies)
        chunk(None, role="assistant"),  # role-only chunk: content is null
        chunk("Hel"),
        chunk("lo").replace("data: ", "data:"),  # TGI writes no space after the colon
        chunk(""),  # empty delta
        chunk(", wor") + chunk("ld"),  # two events in one network write
        'data: {"choices":[{"index":0,"delta":{"content":"!"},',  # one event split over writes
        '"finish_reason":"stop"}]}\n\n',
        data({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}),
        "data: [DONE]\n\n",
    ], delay_s=0.01)
    result, got = run(make(fake_http))
    assert result.text == "Hello, world!"
    assert got == ["Hel", "lo", ", wor", "ld", "!"]
    assert result.meta == {"finish_reason": "stop", "usage": {"prompt_tokens": 3, "completion_tokens": 5}}
    assert result.media is None


def test_sends_conversation_params_and_key_from_env(fake_http, sse_helpers, monkeypatch):
    chunk, _ = sse_helpers
    monkeypatch.setenv(KEY_VAR, SECRET)
    fake_http.reply_sse([chunk("ok", finish="stop"), "data: [DONE]\n\n"])
    adapter = make(fake_http, api_key_env=KEY_VAR, system="Be brief.",
                   params={"temperature": 0.2, "max_tokens": 64}, extra_headers={"X-Org": "arena"})
    history = (Turn("user", "What is 2+2?"), Turn("assistant", "4"))
    result, _ = run(adapter, prompt="And 3+3?", history=history, params={"temperature": 0.9}, seed=7)
    assert result.text == "ok"
    [req] = fake_http.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == f"Bearer {SECRET}"
    assert req.headers["x-org"] == "arena"
    body = req.json()
    assert body["model"] == "tiny-chat" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    assert body["temperature"] == 0.9  # the request overrides the config
    assert body["max_tokens"] == 64 and body["seed"] == 7


def test_request_params_cannot_switch_model_or_streaming(fake_http, sse_helpers):
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("x", finish="stop"), "data: [DONE]\n\n"])
    run(make(fake_http), params={"model": "other", "stream": False})
    body = fake_http.requests[0].json()
    assert body["model"] == "tiny-chat" and body["stream"] is True


def test_missing_key_variable_is_named_and_nothing_is_sent(fake_http, monkeypatch):
    monkeypatch.delenv(KEY_VAR, raising=False)
    with pytest.raises(AdapterError, match=KEY_VAR):
        run(make(fake_http, api_key_env=KEY_VAR))
    assert fake_http.requests == []


def test_server_error_then_success_is_retried(fake_http, sse_helpers):
    chunk, _ = sse_helpers
    fake_http.reply_json(500, {"error": {"message": "overloaded"}})
    fake_http.reply_json(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})
    fake_http.reply_sse([chunk("fine", finish="stop"), "data: [DONE]\n\n"])
    result, got = run(make(fake_http, max_retries=2))
    assert result.text == "fine" and got == ["fine"]
    assert len(fake_http.requests) == 3


def test_retries_are_bounded(fake_http):
    for _ in range(5):
        fake_http.reply_json(503, {"error": {"message": "warming up"}})
    with pytest.raises(AdapterError, match=r"503.*warming up.*3 attempts"):
        run(make(fake_http, max_retries=2))
    assert len(fake_http.requests) == 3


def test_unauthorized_is_not_retried_and_key_never_shown(fake_http, monkeypatch):
    monkeypatch.setenv(KEY_VAR, SECRET)
    fake_http.reply_json(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    with pytest.raises(AdapterError) as exc:
        run(make(fake_http, api_key_env=KEY_VAR, max_retries=3))
    assert "401" in str(exc.value) and "Incorrect API key" in str(exc.value)
    assert SECRET not in str(exc.value)
    assert len(fake_http.requests) == 1


def test_connection_refused_is_retried_then_reported(free_port):
    adapter = build_adapter("openai_chat", {"base_url": f"http://127.0.0.1:{free_port}/v1", "model": "m",
                                            "max_retries": 1, "retry_backoff_s": 0.01, "timeout_s": 2})
    with pytest.raises(AdapterError, match=r"cannot connect.*2 attempts"):
        run(adapter)


def test_slow_server_times_out(fake_http, sse_helpers):
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("late"), "data: [DONE]\n\n"], wait_before_s=2)
    started = time.monotonic()
    with pytest.raises(AdapterError, match="timeout"):
        run(make(fake_http, timeout_s=0.3, max_retries=0))
    assert time.monotonic() - started < 1.5


def test_stall_between_tokens_times_out_after_partial_text(fake_http, sse_helpers):
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("first "), chunk("never")], delay_s=2)
    with pytest.raises(AdapterError, match="timeout") as exc:
        _, got = run(make(fake_http, timeout_s=0.5, max_retries=3))
    assert "6 characters received" in str(exc.value)
    assert len(fake_http.requests) == 1  # text was shown: a retry would duplicate it


@pytest.mark.parametrize("chunked", [True, False])
def test_connection_dropped_mid_stream(fake_http, sse_helpers, chunked):
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("Once "), chunk("upon "), chunk("a time"), "data: [DONE]\n\n"],
                        chunked=chunked, drop_after=2)
    got: list[str] = []
    adapter = make(fake_http, max_retries=3)
    with pytest.raises(AdapterError, match="mid-stream|before the answer was complete"):
        adapter.generate(GenerationRequest(modality="text", prompt="story"), got.append)
    assert got == ["Once ", "upon "]  # what was shown stays shown
    assert len(fake_http.requests) == 1  # and is never duplicated by a retry


def test_error_object_in_stream(fake_http, sse_helpers):
    chunk, data = sse_helpers
    fake_http.reply_sse([chunk("Partial"), data({"error": {"message": "CUDA out of memory", "code": 500}})])
    got: list[str] = []
    with pytest.raises(AdapterError, match="CUDA out of memory"):
        make(fake_http).generate(GenerationRequest(modality="text", prompt="x"), got.append)
    assert got == ["Partial"]


@pytest.mark.parametrize("error_event", [
    'data: {"object": "error", "message": "CUDA out of memory", "type": "InternalServerError"}\n\n',  # vLLM
    "event: error\ndata: CUDA out of memory\n\n",
])
def test_other_error_event_shapes(fake_http, sse_helpers, error_event):
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("Partial"), error_event])
    with pytest.raises(AdapterError, match="error mid-stream: CUDA out of memory"):
        run(make(fake_http))


def test_finish_reason_without_done_marker_is_complete(fake_http, sse_helpers):
    # Some servers close the stream after the finish_reason chunk without "data: [DONE]".
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("short"), chunk(None, finish="length")])
    result, _ = run(make(fake_http))
    assert result.text == "short" and result.meta["finish_reason"] == "length"


def test_server_ignoring_stream_flag_still_works(fake_http):
    fake_http.reply_json(200, {"choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": "whole answer"}}],
                               "usage": {"completion_tokens": 2}})
    result, got = run(make(fake_http))
    assert result.text == "whole answer" and got == ["whole answer"]
    assert result.meta["usage"] == {"completion_tokens": 2}


def test_registered_on_api_queue():
    adapter = build_adapter("openai_chat", {"base_url": "http://localhost:8000/v1", "model": "m"})
    assert adapter.queue_for(adapter.config) == QUEUE_API and adapter.modalities == ("text",)


@pytest.mark.parametrize("cfg, match", [
    ({"model": "m"}, "base_url"),
    ({"base_url": "http://x/v1"}, "model"),
    ({"base_url": "ftp://x", "model": "m"}, "http"),
    ({"base_url": "http://x/v1", "model": "m", "api_key": "sk-oops"}, "api_key_env"),
    ({"base_url": "http://x/v1", "model": "m", "temprature": 1}, "temprature"),
    ({"base_url": "http://x/v1", "model": "m", "timeout_s": "soon"}, "number"),
])
def test_bad_config_is_refused(cfg, match):
    with pytest.raises(AdapterConfigError, match=match):
        build_adapter("openai_chat", cfg)


def test_keep_alive_pings_alone_cannot_hold_a_worker_forever(fake_http):
    fake_http.reply_sse([": ping\n\n"] * 40, delay_s=0.05)
    started = time.monotonic()
    with pytest.raises(AdapterError, match="max_duration_s"):
        run(make(fake_http, max_duration_s=0.3))
    assert time.monotonic() - started < 1.5


def test_answers_in_a_row_share_one_kept_alive_connection(fake_http, sse_helpers):
    """Each worker process keeps one client: the second answer reuses the first one's TCP
    connection instead of paying a new connection (and TLS set-up) per generation."""
    chunk, _ = sse_helpers
    for word in ("one", "two", "three"):
        fake_http.reply_sse([chunk(word), chunk(None, finish="stop"), "data: [DONE]\n\n"])
    texts = [run(make(fake_http))[0].text for _ in range(3)]
    assert texts == ["one", "two", "three"]
    assert len({r.client_port for r in fake_http.requests}) == 1


def test_a_server_that_closed_the_kept_connection_is_reached_again(fake_http, sse_helpers):
    """A kept-alive connection the server has since closed must not fail the next answer."""
    chunk, _ = sse_helpers
    fake_http.reply_sse([chunk("first"), chunk(None, finish="stop"), "data: [DONE]\n\n"], chunked=False)
    fake_http.reply_sse([chunk("second"), chunk(None, finish="stop"), "data: [DONE]\n\n"])
    assert run(make(fake_http))[0].text == "first"  # the server closes this connection after it
    assert run(make(fake_http, max_retries=0))[0].text == "second"
    assert len({r.client_port for r in fake_http.requests}) == 2
