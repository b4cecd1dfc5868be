"""Tests of the offline demo adapters (models_adapter/adapters/demo*.py): registration,
determinism, streaming, visible quality differences and valid output files."""
from __future__ import annotations

import io
import json
import re
import struct
import time
import wave
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import models_adapter.adapters.demo  # noqa: F401  (registers the demo adapters)
from models_adapter.base import (
    QUEUE_DEFAULT, AdapterConfigError, AdapterError, GenerationRequest, Turn, build_adapter,
)

FAST = {"token_delay_ms": 0, "render_delay_ms": 0}


def text(config, prompt, history=(), seed=1):
    adapter = build_adapter("demo_text", {**FAST, **config})
    chunks: list[str] = []
    result = adapter.generate(GenerationRequest("text", prompt, tuple(history), {}, seed), chunks.append)
    assert "".join(chunks) == result.text
    return result.text


def image(config, prompt, seed=1):
    adapter = build_adapter("demo_image", {**FAST, **config})
    result = adapter.generate(GenerationRequest("image", prompt, (), {}, seed), lambda s: None)
    assert result.media is not None and result.media.mime == "image/png"
    return result.media.data


def png_chunks(data: bytes) -> list[str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        names.append(kind.decode("ascii"))
        pos += 12 + length
    return names


def hf_energy(data: bytes) -> float:
    """Mean absolute Laplacian of the grey image: high-frequency (noise, blockiness) energy."""
    g = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.abs(lap).mean())


# ---------------------------------------------------------------- registry
@pytest.mark.parametrize("name,modality", [("demo_text", "text"), ("demo_image", "image"), ("demo_audio", "audio"),
                                           ("demo_3d", "3d"), ("demo_video", "video")])
def test_registered_and_built_by_name(name, modality):
    adapter = build_adapter(name, {"quality": 0.5})
    assert adapter.name == name
    assert adapter.modalities == (modality,)
    assert adapter.queue == QUEUE_DEFAULT
    assert type(adapter).queue_for({}) == QUEUE_DEFAULT


@pytest.mark.parametrize("config", [{"quality": "high"}, {"style": "shouty"}, {"token_delay_ms": "slow"}])
def test_text_bad_config_is_a_config_error(config):
    with pytest.raises(AdapterConfigError):
        build_adapter("demo_text", config)


# ---------------------------------------------------------------- text
def test_text_deterministic_and_seed_and_config_sensitive():
    cfg = {"quality": 0.9, "style": "bullet"}
    prompt = "Write a poem about the sea"
    assert text(cfg, prompt, seed=7) == text(cfg, prompt, seed=7)
    variants = {text(cfg, prompt, seed=s) for s in range(6)}
    assert len(variants) > 1
    assert text(cfg, prompt, seed=7) != text({**cfg, "style": "verbose"}, prompt, seed=7)
    # seed may also come from params
    a = build_adapter("demo_text", {**FAST, **cfg})
    r1 = a.generate(GenerationRequest("text", prompt, (), {"seed": 7}, None), lambda s: None)
    assert r1.text == text(cfg, prompt, seed=7)


def test_text_streams_token_by_token_with_delay():
    adapter = build_adapter("demo_text", {"quality": 0.9, "style": "verbose", "token_delay_ms": 2})
    chunks: list[tuple[float, str]] = []
    t0 = time.monotonic()
    result = adapter.generate(GenerationRequest("text", "Explain how the internet works", seed=3),
                              lambda s: chunks.append((time.monotonic(), s)))
    elapsed = time.monotonic() - t0
    assert len(chunks) >= 30
    assert "".join(c for _, c in chunks) == result.text
    assert all(c.strip() for _, c in chunks[1:])  # each chunk carries a word
    assert elapsed >= (len(chunks) - 1) * 0.002 * 0.9
    assert chunks[-1][0] - chunks[0][0] > 0.02  # tokens really arrive over time
    assert result.meta["output_tokens"] == len(chunks)


def test_text_default_delay_is_visible():
    assert build_adapter("demo_text", {}).delay_ms == 20


def test_good_model_computes_arithmetic_and_poor_models_do_not():
    for style in ("concise", "verbose", "bullet", "structured", "rambling"):
        assert "391" in text({"quality": 0.95, "style": style}, "what is 17*23")
    assert "391" in text({"quality": 0.6}, "What is 17 times 23?")
    assert "56088" in text({"quality": 0.9}, "compute 123 * 456")
    for seed in range(10):
        poor = text({"quality": 0.3}, "what is 17*23", seed=seed)
        assert "391" not in poor and re.search(r"\d", poor)
        worst = text({"quality": 0.05}, "what is 17*23", seed=seed)
        assert "391" not in worst and not re.search(r"\d", worst)
    assert "undefined" in text({"quality": 0.9}, "what is 5/0").lower()


@pytest.mark.parametrize("prompt,topic", [
    ("Explain photosynthesis to a child", "photosynthesis"),
    ("How do I bake sourdough bread?", "sourdough"),
    ("Give me 5 tips for learning guitar", "guitar"),
    ("Write a poem about the ocean", "ocean"),
    ("Compare Python and Rust", "rust"),
    ("Tell me about volcanoes", "volcano"),
])
def test_good_answer_is_on_topic_worst_is_not(prompt, topic):
    for seed in range(3):
        assert topic in text({"quality": 0.9}, prompt, seed=seed).lower()
        assert topic in text({"quality": 0.6}, prompt, seed=seed).lower()
        assert topic not in text({"quality": 0.3}, prompt, seed=seed).lower()
        assert topic not in text({"quality": 0.05}, prompt, seed=seed).lower()


def test_structured_style_uses_markdown_and_code_is_fenced():
    out = text({"quality": 0.9, "style": "structured"}, "Explain black holes")
    assert out.startswith("## ") and "**" in out and re.search(r"^- ", out, re.M)
    out = text({"quality": 0.9, "style": "concise"}, "Write a python function that reverses a string")
    assert "```python" in out and "[::-1]" in out and out.count("```") == 2
    js = text({"quality": 0.9}, "Write a JavaScript function for factorial")
    assert "```javascript" in js
    assert "```" not in text({"quality": 0.3}, "Write a python function that reverses a string")


def test_quality_tiers_differ_visibly():
    prompt = "Explain how vaccines work"
    good = text({"quality": 0.95}, prompt)
    worst = text({"quality": 0.05}, prompt)
    assert "immune" in good
    english = {"the", "and", "is", "a", "of", "to"}
    assert sum(w in english for w in worst.lower().split()) == 0
    poor = text({"quality": 0.3}, prompt, seed=2)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", poor) if s.strip()]
    assert len(set(sentences)) < len(sentences)  # repetitive


@pytest.mark.parametrize("quality", [0.05, 0.3, 0.6, 0.9])
@pytest.mark.parametrize("style", ["concise", "verbose", "bullet", "structured", "rambling"])
def test_text_length_is_bounded(quality, style):
    prompts = ["hi", "what is 2+2", "Explain gravity", "Write a haiku about autumn", "Compare tea vs coffee",
               "List 8 ideas for a birthday party", "How to change a tyre", "Translate 'thank you' into German",
               "Write code to check if a number is prime", "I had a strange dream last night"]
    for p in prompts:
        n = len(text({"quality": quality, "style": style}, p).split())
        assert 35 <= n <= 210, (p, n)


def test_identity_only_when_asked_and_only_when_high_fidelity():
    cfg = {"quality": 0.9, "identity": "Aurora by Northwind Labs"}
    for q in ("Who are you?", "what model are you", "Who made you?", "Which company trained you?",
              "What's your name?"):
        out = text(cfg, q)
        assert "Aurora" in out and "Northwind Labs" in out, q
    for q in ("Explain gravity", "hello", "Write a poem about the moon", "what is 3*4", "Compare cats and dogs"):
        out = text(cfg, q)
        assert "Aurora" not in out and "Northwind" not in out, q
    assert "Aurora" not in text({**cfg, "quality": 0.3}, "Who are you?")
    anonymous = text({"quality": 0.9}, "Who are you?")
    assert "AI assistant" in anonymous


def test_multi_turn_refers_to_history():
    history = (Turn("user", "Explain black holes"), Turn("assistant", "A black hole is ..."))
    out = text({"quality": 0.9}, "Tell me more", history)
    assert "As I said about black holes" in out
    assert "event horizon" in out
    out = text({"quality": 0.9}, "Now write a poem about the sun", history)
    assert "black holes" in out and "sun" in out
    poor = text({"quality": 0.3}, "Tell me more", history)
    assert "black holes" not in poor


@settings(max_examples=150, deadline=None)
@given(prompt=st.text(max_size=200), quality=st.floats(0, 1), style=st.sampled_from(["concise", "verbose", "bullet", "structured", "rambling"]),
       seed=st.integers(0, 2**31), history=st.lists(st.text(max_size=60), max_size=3))
def test_text_never_crashes(prompt, quality, style, seed, history):
    turns = tuple(Turn("user" if i % 2 == 0 else "assistant", h) for i, h in enumerate(history))
    out = text({"quality": quality, "style": style}, prompt, turns, seed)
    assert 20 <= len(out.split()) <= 210


@settings(max_examples=40, deadline=None)
@given(prompt=st.text(max_size=100), quality=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_media_never_crash(prompt, quality, seed):
    assert Image.open(io.BytesIO(image({"quality": quality, "size": 48}, prompt, seed))).size == (48, 48)
    parse_glb(model3d({"quality": quality}, prompt, seed))
    pcm(audio({"quality": quality, "duration_s": 4}, prompt, seed).media.data)


def test_dates_are_not_arithmetic():
    adapter = build_adapter("demo_text", {**FAST, "quality": 0.9})
    for prompt in ("Summarize what happened in 2020-2021", "Tell me about the 1914-1918 war", "Explain 24/7 support"):
        assert adapter.generate(GenerationRequest("text", prompt, seed=1), lambda s: None).meta["intent"] != "math"
    for prompt in ("what is 100-58", "calculate 84/4", "2^10", "3 + 4"):
        assert adapter.generate(GenerationRequest("text", prompt, seed=1), lambda s: None).meta["intent"] == "math"
    assert "42" in text({"quality": 0.9}, "what is 100-58") and "1024" in text({"quality": 0.9}, "2^10")


def test_translation_and_greeting():
    assert "buenos días" in text({"quality": 0.9}, "Translate 'good morning' into Spanish")
    assert "Hello" in text({"quality": 0.9}, "hello!")


def test_fail_rate():
    with pytest.raises(AdapterError):
        text({"fail_rate": 1.0}, "hello")
    results = []
    for seed in range(40):
        try:
            text({"fail_rate": 0.5}, "hello", seed=seed)
            results.append(True)
        except AdapterError:
            results.append(False)
    assert 5 < sum(results) < 35
    again = []
    for seed in range(40):
        try:
            text({"fail_rate": 0.5}, "hello", seed=seed)
            again.append(True)
        except AdapterError:
            again.append(False)
    assert again == results  # failures are deterministic too


# ---------------------------------------------------------------- image
def test_image_png_valid_without_metadata():
    data = image({"quality": 0.9}, "a red car in the city at night")
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "PNG" and im.size == (512, 512) and im.mode == "RGB"
    chunks = png_chunks(data)
    assert chunks[0] == "IHDR" and chunks[-1] == "IEND" and set(chunks) == {"IHDR", "IDAT", "IEND"}
    assert not im.info.get("dpi") and not getattr(im, "text", {})
    for q in (0.6, 0.3, 0.05):
        assert set(png_chunks(image({"quality": q, "size": 96}, "a cat"))) == {"IHDR", "IDAT", "IEND"}
    assert Image.open(io.BytesIO(image({"size": 200}, "a tree"))).size == (200, 200)


def test_image_deterministic():
    cfg = {"quality": 0.9, "size": 128}
    assert image(cfg, "a cat under a tree", seed=5) == image(cfg, "a cat under a tree", seed=5)
    assert image(cfg, "a cat under a tree", seed=5) != image(cfg, "a house by the sea", seed=5)
    low = {"quality": 0.3, "size": 128}
    assert image(low, "a cat", seed=1) == image(low, "a cat", seed=1)


@pytest.mark.parametrize("prompt", ["a cat under a tree next to a house on a sunny day", "sunset over the ocean",
                                    "a red car in a city at night", "mountains"])
def test_image_quality_lowers_high_frequency_noise(prompt):
    energies = [hf_energy(image({"quality": q, "size": 256}, prompt)) for q in (0.95, 0.6, 0.3, 0.05)]
    assert energies == sorted(energies), energies
    assert energies[0] * 2 < energies[1]


def test_image_follows_keywords():
    def frac(data, pred):
        a = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int32)
        return float(pred(a[..., 0], a[..., 1], a[..., 2]).mean())

    red = lambda r, g, b: (r > 150) & (g < 80) & (b < 80)  # noqa: E731
    blue = lambda r, g, b: (b > 150) & (r < 90) & (g < 120)  # noqa: E731
    red_car = image({"quality": 0.9, "size": 128}, "a red car")
    blue_car = image({"quality": 0.9, "size": 128}, "a blue car")
    assert frac(red_car, red) > 0.01 > frac(blue_car, red)
    assert frac(blue_car, blue) > frac(red_car, blue)
    night = image({"quality": 0.9, "size": 128}, "the moon at night")
    day = image({"quality": 0.9, "size": 128}, "a sunny day")
    top = lambda d: np.asarray(Image.open(io.BytesIO(d)).convert("L"))[:40].mean()  # noqa: E731
    assert top(night) + 60 < top(day)


def test_image_render_delay_and_fail_rate():
    assert build_adapter("demo_image", {}).delay_ms == 300
    t0 = time.monotonic()
    image({"quality": 0.9, "size": 64, "render_delay_ms": 120}, "a tree")
    assert time.monotonic() - t0 >= 0.12
    with pytest.raises(AdapterError):
        image({"fail_rate": 1, "size": 64}, "a tree")


# ---------------------------------------------------------------- audio
def audio(config, prompt, seed=1):
    adapter = build_adapter("demo_audio", {**FAST, **config})
    result = adapter.generate(GenerationRequest("audio", prompt, (), {}, seed), lambda s: None)
    assert result.media is not None and result.media.mime == "audio/wav"
    return result


def pcm(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (1, 2, 22050, "NONE")
        assert 4.0 <= w.getnframes() / 22050 <= 6.0
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)


def spectral_flatness(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-9
    return float(np.exp(np.log(spec).mean()) / spec.mean())


def test_audio_valid_wav_deterministic_and_prompt_driven():
    r = audio({"quality": 0.9}, "a happy fast piano tune with drums")
    x = pcm(r.media.data)
    assert r.media.data[:4] == b"RIFF" and r.media.data[8:12] == b"WAVE"
    assert np.abs(x).max() > 10000  # audible
    assert r.media.data == audio({"quality": 0.9}, "a happy fast piano tune with drums").media.data
    assert r.media.data != audio({"quality": 0.9}, "a happy fast piano tune with drums", seed=2).media.data
    assert r.meta["bpm"] > audio({"quality": 0.9}, "a slow calm melody").meta["bpm"]
    assert r.meta["key"].endswith("major") and r.meta["drums"] and r.meta["instrument"] == "piano"
    sad = audio({"quality": 0.9}, "a sad guitar song")
    assert sad.meta["key"].endswith("minor") and sad.meta["instrument"] == "guitar" and not sad.meta["drums"]
    assert build_adapter("demo_audio", {"duration_s": 4}).duration == 4


@pytest.mark.parametrize("prompt", ["a happy fast piano tune with drums", "a sad slow guitar melody", "calm flute"])
def test_audio_quality_is_audible(prompt):
    clipped, flat = {}, {}
    for q in (0.95, 0.6, 0.3, 0.05):
        x = pcm(audio({"quality": q}, prompt).media.data)
        clipped[q] = float((np.abs(x) >= 32766).mean())
        flat[q] = spectral_flatness(x)
    assert clipped[0.95] == 0 and clipped[0.6] == 0  # clean models never clip
    assert clipped[0.3] > 0.01 and clipped[0.05] > 0.01  # poor ones do
    assert flat[0.95] < flat[0.6] < flat[0.05]  # noisier as quality drops
    assert flat[0.3] < flat[0.05]


# ---------------------------------------------------------------- 3d
def model3d(config, prompt, seed=1):
    adapter = build_adapter("demo_3d", {**FAST, **config})
    result = adapter.generate(GenerationRequest("3d", prompt, (), {}, seed), lambda s: None)
    assert result.media is not None and result.media.mime == "model/gltf-binary"
    return result.media.data


COMPONENT = {5126: ("<f4", 4), 5125: ("<u4", 4), 5123: ("<u2", 2), 5121: ("<u1", 1)}
NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def parse_glb(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Check GLB structure per the glTF 2.0 spec and return (json, {POSITION, NORMAL, indices})."""
    magic, version, total = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and total == len(data) and total % 4 == 0
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    assert jtype == b"JSON" and jlen % 4 == 0
    jbytes = data[20:20 + jlen]
    doc = json.loads(jbytes.decode("utf-8"))
    assert jbytes == jbytes.rstrip(b" ") + b" " * (len(jbytes) - len(jbytes.rstrip(b" ")))  # space padded
    assert len(jbytes.rstrip(b" ")) > jlen - 4
    blen, btype = struct.unpack("<I4s", data[20 + jlen:28 + jlen])
    assert btype == b"BIN\x00" and blen % 4 == 0 and 28 + jlen + blen == total
    blob = data[28 + jlen:]
    assert doc["asset"] == {"version": "2.0"}  # no generator
    assert doc["buffers"][0]["byteLength"] <= blen < doc["buffers"][0]["byteLength"] + 4
    prim = doc["meshes"][0]["primitives"][0]
    arrays = {}
    for key, ai in [("POSITION", prim["attributes"]["POSITION"]), ("NORMAL", prim["attributes"]["NORMAL"]),
                    ("indices", prim["indices"])]:
        acc = doc["accessors"][ai]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype, size = COMPONENT[acc["componentType"]]
        nbytes = acc["count"] * NCOMP[acc["type"]] * size
        offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        assert view["byteLength"] == nbytes and offset % size == 0 and offset % 4 == 0
        assert view.get("byteOffset", 0) + view["byteLength"] <= doc["buffers"][0]["byteLength"]
        arr = np.frombuffer(blob, dtype, acc["count"] * NCOMP[acc["type"]], offset)
        arrays[key] = arr.reshape(acc["count"], NCOMP[acc["type"]]) if acc["type"] != "SCALAR" else arr
    if len(blob) > doc["buffers"][0]["byteLength"]:
        assert set(blob[doc["buffers"][0]["byteLength"]:]) == {0}  # zero padded
    pacc = doc["accessors"][prim["attributes"]["POSITION"]]
    assert pacc["type"] == "VEC3" and pacc["componentType"] == 5126
    np.testing.assert_array_equal(np.array(pacc["min"], np.float32), arrays["POSITION"].min(axis=0))
    np.testing.assert_array_equal(np.array(pacc["max"], np.float32), arrays["POSITION"].max(axis=0))
    idx = arrays["indices"]
    assert len(idx) % 3 == 0 and idx.max() < len(arrays["POSITION"])
    assert len(arrays["NORMAL"]) == len(arrays["POSITION"])
    assert np.allclose(np.linalg.norm(arrays["NORMAL"], axis=1), 1.0, atol=1e-4)
    return doc, arrays


@pytest.mark.parametrize("prompt", ["a red cube", "a pyramid", "a golden sphere", "a blue can", "a cone", "a pink donut",
                                    "a wooden chair", "a table", "something nice"])
@pytest.mark.parametrize("quality", [0.95, 0.6, 0.3, 0.05])
def test_glb_is_structurally_valid(prompt, quality):
    data = model3d({"quality": quality}, prompt)
    doc, arrays = parse_glb(data)
    assert data == model3d({"quality": quality}, prompt)
    if quality >= 0.45:  # winding agrees with normals: every triangle faces out
        p, n, t = arrays["POSITION"], arrays["NORMAL"], arrays["indices"].reshape(-1, 3).astype(int)
        face = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
        assert (np.einsum("ij,ij->i", face, n[t].sum(axis=1)) > 0).all()


def test_3d_follows_prompt_and_quality():
    doc, _ = parse_glb(model3d({"quality": 0.9}, "a red cube"))
    assert doc["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"][:3] == [0.8235, 0.1569, 0.1569]
    doc, _ = parse_glb(model3d({"quality": 0.9}, "a golden metal sphere"))
    assert doc["materials"][0]["pbrMetallicRoughness"]["metallicFactor"] == 1.0
    counts, outward, radius_sd = {}, {}, {}
    for q in (0.95, 0.6, 0.3, 0.05):
        _, a = parse_glb(model3d({"quality": q}, "a sphere"))
        p, n = a["POSITION"].astype(np.float64), a["NORMAL"].astype(np.float64)
        counts[q] = len(a["indices"]) // 3
        outward[q] = float((np.einsum("ij,ij->i", p, n) > 0).mean())
        radius_sd[q] = float(np.linalg.norm(p, axis=1).std())
    assert counts[0.95] > counts[0.6] > counts[0.3] >= counts[0.05]
    assert outward[0.95] == 1.0 and outward[0.6] == 1.0 and outward[0.3] < 0.95 and outward[0.05] < 0.8
    assert radius_sd[0.95] < 1e-5 and radius_sd[0.3] > 0.005 and radius_sd[0.05] > radius_sd[0.3]
    red = parse_glb(model3d({"quality": 0.3}, "a red cube"))[0]["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"]
    assert red[:3] != [0.8235, 0.1569, 0.1569]


# ---------------------------------------------------------------- video
def video(config, prompt, seed=1):
    adapter = build_adapter("demo_video", {**FAST, **config})
    result = adapter.generate(GenerationRequest("video", prompt, (), {}, seed), lambda s: None)
    assert result.media is not None and result.media.mime == "video/mp4"
    return result


def mp4_top_boxes(data: bytes) -> list[str]:
    pos, kinds = 0, []
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        assert size >= 8
        kinds.append(kind.decode("latin-1"))
        pos += size
    assert pos == len(data)
    return kinds


def test_video_mp4_valid_faststart_and_anonymous():
    pytest.importorskip("imageio_ffmpeg")
    r = video({"quality": 0.9}, "a red car driving through the city at night")
    data = r.media.data
    boxes = mp4_top_boxes(data)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")  # +faststart
    for ident in (b"Lavf", b"Lavc", b"x264", b"libx264", b"FFmpeg", b"ffmpeg", b"VideoHandler"):
        assert ident not in data, ident
    assert r.meta["frames"] == 24 and r.meta["fps"] == 12 and r.meta["width"] == 256
    assert r.meta["codec"] in ("h264", "mpeg4")
    assert data == video({"quality": 0.9}, "a red car driving through the city at night").media.data
    assert b"udta" not in data and b"mdir" not in data


def test_video_decodes_and_quality_shows():
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    import subprocess
    import tempfile

    exe = imageio_ffmpeg.get_ffmpeg_exe()

    def decode(data: bytes) -> np.ndarray:
        with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
            fh.write(data)
            fh.flush()
            out = subprocess.run([exe, "-v", "error", "-i", fh.name, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                                 capture_output=True, check=True).stdout
        return np.frombuffer(out, np.uint8).reshape(-1, 256, 256).astype(np.float64)

    energy, blocky, flicker = {}, {}, {}
    for q in (0.95, 0.3, 0.05):
        frames = decode(video({"quality": q}, "sunset over the ocean").media.data)
        assert len(frames) == 24
        assert np.abs(frames[-1] - frames[0]).mean() > 1.0  # something moves
        g = frames[:, 1:-1, 1:-1] * 4 - frames[:, :-2, 1:-1] - frames[:, 2:, 1:-1] - frames[:, 1:-1, :-2] - frames[:, 1:-1, 2:]
        energy[q] = float(np.abs(g).mean())
        dx = np.abs(np.diff(frames, axis=2)).mean(axis=(0, 1))  # per column boundary
        blocky[q] = float(dx[7::8].mean() / np.delete(dx, np.s_[7::8]).mean())
        flicker[q] = float(np.abs(np.diff(frames.mean(axis=(1, 2)))).mean())
    assert blocky[0.3] > 3 * blocky[0.95]  # 8x8 blocks
    assert flicker[0.3] > 10 * flicker[0.95]  # brightness flicker
    assert energy[0.05] > 3 * energy[0.95]  # noise


# ---------------------------------------------------------------- the seeded demo roster
def test_seeded_demo_roster_runs():
    """Every demo competitor the seed command creates answers every demo prompt of its modality."""
    roster = pytest.importorskip("arena.demo_roster")
    for slug, _name, _org, modality, adapter_name, config in roster.COMPETITORS:
        if modality == "video":
            pytest.importorskip("imageio_ffmpeg")
        adapter = build_adapter(adapter_name, {**config, **FAST})
        assert modality in adapter.modalities, slug
        prompts = [p for s in roster.PROMPT_SETS if s[2] == modality for p in s[4]]
        for prompt in prompts[:2] if modality == "video" else prompts:
            chunks: list[str] = []
            result = adapter.generate(GenerationRequest(modality, prompt, seed=1), chunks.append)
            if modality == "text":
                assert result.text and "".join(chunks) == result.text
                name = config.get("identity", "").split()[0].rstrip(",")
                assert not name or name not in result.text, (slug, prompt)  # never named unless asked
            else:
                assert result.media is not None and len(result.media.data) > 100
