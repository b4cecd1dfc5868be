"""`demo_video`: an offline text-to-video "model": Pillow frames piped to the ffmpeg binary that
the `imageio-ffmpeg` wheel ships, encoded as a small H.264 MP4 (mpeg4 if libx264 is missing).

The scene comes from the same keywords as demo_image; the sun/moon travel across the sky, cars
drive, stars twinkle, clouds drift, the sea shimmers, snow or rain falls. config["quality"]:

* high (>= 0.75): anti-aliased frames, smooth motion, good bitrate;
* medium (>= 0.45): aliased frames, slight jitter, lower bitrate;
* poor (>= 0.2): blocky frames, wrong colours, stutter (repeated frames), flicker, very low bitrate;
* worst (< 0.2): noise.

The MP4 carries no encoder identity: no global/stream metadata (-map_metadata -1, empty encoder
tags, +bitexact so no "Lavf"/"Lavc" strings) and x264's SEI version banner is removed.
"""
from __future__ import annotations

import functools
import math
import os
import random
import subprocess
import tempfile
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from models_adapter.base import (
    QUEUE_DEFAULT, Adapter, AdapterError, GenerationRequest, GenerationResult, MediaOutput, TextSink, register,
)

from .demo_common import cfg_float, cfg_int, maybe_fail, request_rng, sleep_ms, words
from .demo_image import DEFAULT_COLOUR, Scene, _mix, _sky, parse_scene

MOVING = ("sun", "moon", "car", "star", "ball")
RISING = {"rising", "rise", "rises", "sunrise", "dawn", "morning"}


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise AdapterError("demo_video needs the imageio-ffmpeg package (it ships the ffmpeg binary)") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise AdapterError(f"demo_video: no ffmpeg binary: {e}") from None


@functools.lru_cache(maxsize=4)
def has_encoder(exe: str, encoder: str) -> bool:
    try:
        out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == [encoder] for line in out.splitlines() if line.strip())


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def scrub_compressor_name(data: bytes) -> bytes:
    """Blank the 32-byte compressorname of every visual sample entry (moov/trak/mdia/minf/stbl/stsd)
    and turn udta/meta tag boxes into zero-filled `free` boxes.

    ffmpeg's CLI always tags a stream with "Lavc <encoder>" and the MP4 muxer copies that into the
    sample entry; blanking it keeps the byte layout (no offsets change) and leaves an empty name."""
    buf = bytearray(data)

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 8 <= end:
            size = int.from_bytes(buf[pos:pos + 4], "big")
            kind = bytes(buf[pos + 4:pos + 8])
            head = 8
            if size == 1:
                size, head = int.from_bytes(buf[pos + 8:pos + 16], "big"), 16
            elif size == 0:
                size = end - pos
            if size < head or pos + size > end:
                return
            if kind in _CONTAINERS:
                walk(pos + head, pos + size)
            elif kind in (b"udta", b"meta"):  # (empty) tag containers: same-size zeroed `free` box
                buf[pos + 4:pos + 8] = b"free"
                buf[pos + head:pos + size] = bytes(size - head)
            elif kind == b"stsd":
                entry = pos + head + 8  # version/flags + entry_count
                while entry + 8 <= pos + size:
                    esize = int.from_bytes(buf[entry:entry + 4], "big")
                    if esize < 8 + 78:
                        break
                    name = entry + 8 + 42  # VisualSampleEntry: compressorname after 42 bytes
                    buf[name:name + 32] = bytes(32)
                    entry += esize
            pos += size

    walk(0, len(buf))
    return bytes(buf)


def encode_mp4(frames: list[np.ndarray], fps: int, crf: int) -> tuple[bytes, str]:
    exe = ffmpeg_exe()
    h, w = frames[0].shape[:2]
    if has_encoder(exe, "libx264"):
        codec = "h264"
        venc = ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-threads", "1",
                "-bsf:v", "filter_units=remove_types=6"]  # drop SEI NAL units (x264 version banner)
    else:
        codec = "mpeg4"
        venc = ["-c:v", "mpeg4", "-q:v", str(max(2, min(31, crf // 2))), "-threads", "1"]
    with tempfile.TemporaryDirectory(prefix="demo_video_") as tmp:
        path = os.path.join(tmp, "out.mp4")
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
               "-an", *venc, "-pix_fmt", "yuv420p",
               "-map_metadata", "-1", "-metadata", "encoder=", "-metadata:s:v", "encoder=",
               "-metadata:s:v", "handler_name=Video", "-fflags", "+bitexact", "-flags:v", "+bitexact",
               "-movflags", "+faststart", "-f", "mp4", path]
        raw = b"".join(np.ascontiguousarray(f, dtype=np.uint8).tobytes() for f in frames)
        try:
            proc = subprocess.run(cmd, input=raw, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            raise AdapterError(f"demo_video: ffmpeg failed to run: {type(e).__name__}") from None
        if proc.returncode != 0 or not os.path.exists(path):
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise AdapterError(f"demo_video: ffmpeg exited {proc.returncode}: {' / '.join(tail)}")
        with open(path, "rb") as fh:
            return scrub_compressor_name(fh.read()), codec


@register
class DemoVideoAdapter(Adapter):
    """Config: quality (0..1, default 0.8), duration_s (0.5..6, default 2), fps (4..30, default 12),
    size (64..512, default 256), render_delay_ms (default 300), fail_rate (0..1, default 0)."""

    name = "demo_video"
    modalities = ("video",)
    queue = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.quality = cfg_float(self.config, "quality", 0.8)
        self.duration = cfg_float(self.config, "duration_s", 2.0, 0.5, 6.0)
        self.fps = cfg_int(self.config, "fps", 12, 4, 30)
        self.size = cfg_int(self.config, "size", 256, 64, 512) // 2 * 2
        self.delay_ms = cfg_float(self.config, "render_delay_ms", 300, 0, 60000)
        cfg_float(self.config, "fail_rate", 0.0)

    def tier(self) -> str:
        q = self.quality
        return "high" if q >= 0.75 else "medium" if q >= 0.45 else "poor" if q >= 0.2 else "worst"

    def frames(self, prompt: str, rng: random.Random) -> list[np.ndarray]:
        size, tier, q = self.size, self.tier(), self.quality
        n = max(2, int(round(self.duration * self.fps)))
        nprng = np.random.default_rng(rng.getrandbits(64))
        if tier == "worst":
            return [nprng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
        spec = parse_scene(prompt)
        objects = list(spec["objects"]) or ["sun", "mountain"]
        ws = set(words(prompt))
        weather = "snow" if ws & {"snow", "snowy", "winter", "snowing"} else "rain" if ws & {"rain", "rainy", "storm", "raining"} else None
        if tier == "poor":
            objects = [o for o in objects if rng.random() < 0.5] + [rng.choice(sorted(DEFAULT_COLOUR))]
        colours = dict(spec["colours"]) if tier != "poor" else {o: tuple(rng.randrange(256) for _ in range(3)) for o in DEFAULT_COLOUR}

        def colour_of(obj: str) -> tuple[int, int, int]:
            return colours.get(obj) or DEFAULT_COLOUR[obj]

        top, bottom = ((8, 12, 40), (40, 40, 90)) if spec["night"] else ((60, 50, 120), (250, 150, 80)) if spec["dusk"] else ((70, 130, 220), (190, 225, 250))
        canvas = size * 2 if tier == "high" else size if tier == "medium" else max(16, size // 8)
        sky = _sky(canvas, top, bottom, None if tier == "high" else (12 if tier == "medium" else 4))
        horizon = 0.62 if "sea" in objects or "city" in objects else 0.66
        background = Image.fromarray(sky.astype(np.uint8), "RGB")

        def sky_at(y: float) -> tuple[int, int, int]:
            return tuple(int(v) for v in sky[min(canvas - 1, max(0, int(y * canvas))), 0])

        static = [o for o in objects if o not in MOVING]
        scene = Scene(canvas, random.Random(rng.getrandbits(32)), spec, colour_of, stars=False)
        scene.draw(background, static, horizon, sky_at)
        stars = [(rng.random(), rng.random() * horizon * 0.9, rng.random() * 6.3) for _ in range(40 if "star" in objects or spec["night"] else 0)]
        clouds = [(rng.random(), 0.08 + rng.random() * 0.2, 0.6 + rng.random() * 0.6) for _ in range(0 if spec["night"] else 3)]
        flakes = [(rng.random(), rng.random(), 0.5 + rng.random()) for _ in range(60 if weather else 0)]
        S = canvas
        out = []
        perm = rng.choice([(2, 0, 1), (1, 2, 0)])
        for k in range(n):
            tk = (k - k % 3) if tier == "poor" else k  # stutter: hold frames
            f = tk / max(1, n - 1)
            img = background.copy()
            d = ImageDraw.Draw(img)
            jit = (rng.uniform(-0.006, 0.006) if tier == "medium" else 0.0)
            for (x, y, ph) in stars:
                r = (0.003 + 0.003 * (1 + math.sin(ph + 6 * f * math.pi))) * S
                d.ellipse([x * S - r, y * S - r, x * S + r, y * S + r], fill=colour_of("star"))
            for (x, y, sc) in clouds:
                cx = (x + 0.15 * f * sc) % 1.2 - 0.1
                for dx, dy, r in ((0, 0, 0.05), (0.05, 0.01, 0.04), (-0.05, 0.01, 0.04), (0.02, -0.025, 0.04)):
                    rr = r * sc
                    d.ellipse([(cx + dx * sc - rr) * S, (y + dy * sc - rr) * S, (cx + dx * sc + rr) * S, (y + dy * sc + rr) * S],
                              fill=_mix(sky_at(y), (255, 255, 255), 0.85))
            if "sun" in objects or "moon" in objects:
                body = "sun" if "sun" in objects else "moon"
                x = 0.2 + 0.6 * f + jit
                y = horizon - 0.08 - 0.4 * math.sin(math.pi * (0.25 + 0.5 * f))
                if body == "sun" and ws & RISING:  # a rising sun
                    x, y = 0.5 + jit, horizon + 0.06 - 0.36 * f
                elif spec["dusk"]:  # a setting sun
                    x, y = 0.65 + 0.1 * f + jit, horizon - 0.32 + 0.3 * f
                r = 0.07
                if body == "sun":
                    for g in range(4, 0, -1):
                        rg = r + g * 0.015
                        d.ellipse([(x - rg) * S, (y - rg) * S, (x + rg) * S, (y + rg) * S], fill=_mix(sky_at(y), colour_of("sun"), 0.2 * (5 - g)))
                d.ellipse([(x - r) * S, (y - r) * S, (x + r) * S, (y + r) * S], fill=colour_of(body))
                hy = int(horizon * S)  # nothing in the sky shows through the ground or sea
                img.paste(background.crop((0, hy, S, S)), (0, hy))
                if "sea" in objects:
                    for j in range(6):
                        yy = horizon + 0.03 + j * 0.045
                        w = (0.07 - j * 0.008) * (1 + 0.3 * math.sin(10 * f + j))
                        d.rectangle([(x - w / 2) * S, yy * S, (x + w / 2) * S, (yy + 0.01) * S], fill=_mix(colour_of(body), (30, 100, 170), 0.3))
            if "sea" in objects:
                for j in range(12):
                    yy = horizon + 0.04 + (j * 0.031) % (0.95 - horizon)
                    xx = ((j * 0.37 + 0.1 * f * (1 + j % 3)) % 1.1) - 0.05
                    d.arc([xx * S, yy * S, (xx + 0.08) * S, (yy + 0.025) * S], 200, 340, fill=(200, 225, 245), width=max(1, S // 200))
            if "car" in objects:
                c = colour_of("car")
                cx, cb = -0.2 + 1.4 * f + jit, 0.9
                d.rounded_rectangle([(cx - 0.16) * S, (cb - 0.1) * S, (cx + 0.16) * S, (cb - 0.03) * S], radius=0.02 * S, fill=c)
                d.polygon([((cx - 0.09) * S, (cb - 0.1) * S), ((cx - 0.06) * S, (cb - 0.16) * S), ((cx + 0.06) * S, (cb - 0.16) * S),
                           ((cx + 0.1) * S, (cb - 0.1) * S)], fill=c)
                for wx in (cx - 0.1, cx + 0.1):
                    d.ellipse([(wx - 0.035) * S, (cb - 0.065) * S, (wx + 0.035) * S, (cb + 0.005) * S], fill=(25, 25, 25))
                    a = -8 * math.pi * f
                    d.line([((wx + 0.02 * math.cos(a)) * S, (cb - 0.03 + 0.02 * math.sin(a)) * S),
                            ((wx - 0.02 * math.cos(a)) * S, (cb - 0.03 - 0.02 * math.sin(a)) * S)], fill=(170, 170, 175), width=max(1, S // 128))
            if "ball" in objects:
                bx = 0.15 + 0.7 * f + jit
                by = 0.9 - 0.08 - 0.45 * abs(math.sin(3 * math.pi * f))
                scene.ball(d, bx, by, 0.08, shadow_y=0.9)
            for (x, y, sp) in flakes:
                yy = (y + f * sp) % 1.0
                if weather == "snow":
                    r = 0.006 * S
                    d.ellipse([x * S - r, yy * S - r, x * S + r, yy * S + r], fill=(250, 250, 255))
                else:
                    d.line([(x * S, yy * S), ((x - 0.01) * S, (yy + 0.04) * S)], fill=(170, 190, 220), width=max(1, S // 256))
            if tier == "high":
                img = img.resize((size, size), Image.LANCZOS)
            elif tier == "poor":
                img = img.resize((size, size), Image.NEAREST)
            arr = np.asarray(img, dtype=np.float32)
            if tier == "poor":
                arr = arr[:, :, perm] * rng.uniform(0.7, 1.3) + nprng.normal(0, 25, arr.shape)
            elif tier == "medium":
                arr = arr + nprng.normal(0, (0.75 - q) * 25, arr.shape)
            out.append(np.clip(arr, 0, 255).astype(np.uint8))
        return out

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        rng = request_rng(self.name, request, self.config)
        maybe_fail(rng, self.config, self.name)
        frames = self.frames(request.prompt or "", rng)
        crf = {"high": 20, "medium": 28, "poor": 42, "worst": 40}[self.tier()]
        data, codec = encode_mp4(frames, self.fps, crf)
        sleep_ms(self.delay_ms)
        return GenerationResult(media=MediaOutput(data, "video/mp4"), meta={
            "codec": codec, "frames": len(frames), "fps": self.fps, "width": self.size, "height": self.size,
            "duration_s": round(len(frames) / self.fps, 3), "quality": self.quality})
