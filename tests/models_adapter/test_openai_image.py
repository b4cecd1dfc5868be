"""openai_image against a real loopback server speaking OpenAI's /images/generations."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from models_adapter.base import QUEUE_API, AdapterError, GenerationRequest, build_adapter

KEY_VAR = "ARENA_TEST_IMAGE_KEY"


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def make(fake_http, **cfg):
    base = {"base_url": fake_http.url + "/v1", "model": "tiny-diffusion", "retry_backoff_s": 0.01, "timeout_s": 5}
    return build_adapter("openai_image", {**base, **cfg})


def gen(adapter, prompt="a red square"):
    return adapter.generate(GenerationRequest(modality="image", prompt=prompt), lambda _t: None)


def test_b64_answer_becomes_png_media(fake_http, monkeypatch):
    monkeypatch.setenv(KEY_VAR, "sk-img")
    png = image_bytes("PNG")
    fake_http.reply_json(200, {"created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}]})
    result = gen(make(fake_http, api_key_env=KEY_VAR, size="512x512", params={"quality": "low"}))
    assert result.media is not None and result.media.mime == "image/png" and result.media.data == png
    assert Image.open(io.BytesIO(result.media.data)).size == (8, 8)
    [req] = fake_http.requests
    assert req.path == "/v1/images/generations" and req.headers["authorization"] == "Bearer sk-img"
    assert req.json() == {"model": "tiny-diffusion", "prompt": "a red square", "n": 1, "size": "512x512",
                          "response_format": "b64_json", "quality": "low"}


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_url_answer_is_fetched_without_the_key(fake_http, monkeypatch, fmt, mime):
    monkeypatch.setenv(KEY_VAR, "sk-img")
    data = image_bytes(fmt)
    fake_http.reply_json(200, {"data": [{"url": fake_http.url + "/files/out.bin"}]})
    fake_http.reply_bytes(200, data, "application/octet-stream")  # mime comes from the bytes
    result = gen(make(fake_http, api_key_env=KEY_VAR))
    assert result.media.mime == mime and result.media.data == data
    post, get = fake_http.requests
    assert (get.method, get.path) == ("GET", "/files/out.bin")
    assert "authorization" not in get.headers  # a signed link on another host must not see the key


def test_response_format_can_be_left_out(fake_http):
    fake_http.reply_json(200, {"data": [{"b64_json": base64.b64encode(image_bytes("PNG")).decode()}]})
    gen(make(fake_http, response_format=None))
    assert "response_format" not in fake_http.requests[0].json()


def test_non_image_bytes_are_refused(fake_http):
    fake_http.reply_json(200, {"data": [{"b64_json": base64.b64encode(b"<html>oops</html>").decode()}]})
    with pytest.raises(AdapterError, match="not PNG, JPEG or WebP"):
        gen(make(fake_http))


def test_policy_refusal_is_reported_not_retried(fake_http):
    fake_http.reply_json(400, {"error": {"message": "Your request was rejected by the safety system."}})
    with pytest.raises(AdapterError, match="400.*safety system"):
        gen(make(fake_http, max_retries=2))
    assert len(fake_http.requests) == 1


def test_busy_server_is_retried(fake_http):
    fake_http.reply_json(503, {"error": "busy"})
    fake_http.reply_json(200, {"data": [{"b64_json": base64.b64encode(image_bytes("PNG")).decode()}]})
    assert gen(make(fake_http, max_retries=1)).media.mime == "image/png"
    assert len(fake_http.requests) == 2


def test_answer_without_image_is_an_error(fake_http):
    fake_http.reply_json(200, {"data": []})
    with pytest.raises(AdapterError, match="unexpected answer"):
        gen(make(fake_http))


def test_is_an_image_adapter_on_api_queue():
    adapter = build_adapter("openai_image", {"base_url": "http://localhost/v1", "model": "m"})
    assert adapter.modalities == ("image",) and adapter.queue_for(adapter.config) == QUEUE_API
