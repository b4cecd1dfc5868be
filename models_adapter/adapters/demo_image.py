"""`demo_image`: an offline, CPU-only text-to-image "model" drawing a scene with Pillow.

The prompt's keywords (sun, moon, star, night, sunset, sea/ocean, mountain, tree/forest, house,
city, cat, car, flower, colour words) pick the objects; config["quality"] decides how well:

* high (>= 0.75): smooth gradient sky, anti-aliased shapes (drawn at 2x, downsampled), every object;
* medium (>= 0.45): no anti-aliasing, banded sky, one object may be missing, light noise;
* poor (>= 0.2): blocky low resolution, wrong colours, missing/wrong objects, noise, JPEG artefacts;
* worst (< 0.2): mostly noise.

Output: PNG bytes with no metadata chunks (only IHDR, IDAT, IEND).
"""
from __future__ import annotations

import io
import math
import random
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from models_adapter.base import QUEUE_DEFAULT, Adapter, GenerationRequest, GenerationResult, MediaOutput, TextSink, register

from .demo_common import COLOURS, cfg_float, cfg_int, maybe_fail, request_rng, sleep_ms, words

OBJECT_WORDS = {
    "sun": "sun", "sunny": "sun", "moon": "moon", "star": "star", "stars": "star", "starry": "star",
    "tree": "tree", "trees": "forest", "forest": "forest", "woods": "forest",
    "house": "house", "home": "house", "cabin": "house", "cottage": "house",
    "cat": "cat", "kitten": "cat", "cats": "cat",
    "mountain": "mountain", "mountains": "mountain", "hill": "mountain", "hills": "mountain", "peak": "mountain",
    "sea": "sea", "ocean": "sea", "beach": "sea", "lake": "sea", "water": "sea", "waves": "sea",
    "flower": "flower", "flowers": "flowers", "garden": "flowers", "rose": "flower", "tulip": "flower",
    "car": "car", "cars": "car", "truck": "car", "ball": "ball", "balls": "ball",
    "city": "city", "skyline": "city", "buildings": "city", "skyscraper": "city", "town": "city",
}
NIGHT_WORDS = {"night", "midnight", "dark", "moon", "star", "stars", "starry", "nighttime"}
DUSK_WORDS = {"sunset", "sunrise", "dusk", "dawn", "evening", "twilight", "rising", "setting"}
DEFAULT_COLOUR = {"sun": (255, 214, 60), "moon": (240, 240, 215), "star": (255, 236, 140), "tree": (46, 139, 60),
                  "forest": (40, 120, 55), "house": (225, 200, 160), "cat": (70, 70, 75), "mountain": (110, 120, 140),
                  "sea": (30, 100, 170), "flower": (230, 70, 120), "flowers": (230, 70, 120), "car": (200, 40, 40),
                  "city": (70, 75, 90), "ball": (220, 50, 50)}


def parse_scene(prompt: str) -> dict[str, Any]:
    ws = words(prompt)
    objects: list[str] = []
    colours: dict[str, tuple[int, int, int]] = {}
    pending: tuple[int, int, int] | None = None
    free_colour = None
    for w in ws:
        if w in COLOURS:
            pending = COLOURS[w]
            free_colour = free_colour or pending
            continue
        obj = OBJECT_WORDS.get(w)
        if obj:
            if obj not in objects:
                objects.append(obj)
            if pending is not None:
                colours[obj] = pending
                pending = None
    night = bool(NIGHT_WORDS & set(ws)) and "sun" not in objects
    dusk = bool(DUSK_WORDS & set(ws))
    if dusk and "sun" not in objects and not night:
        objects.insert(0, "sun")
    if night and "moon" not in objects and "star" not in objects:
        objects.append("moon")
    return {"objects": objects, "colours": colours, "night": night, "dusk": dusk, "tint": free_colour if not colours else None}


def _sky(size: int, top: tuple, bottom: tuple, levels: int | None) -> np.ndarray:
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    if levels:
        t = np.floor(t * levels) / levels
    top_a, bot_a = np.array(top, np.float32), np.array(bottom, np.float32)
    row = top_a * (1 - t) + bot_a * t  # (size, 3)
    return np.repeat(row[:, None, :], size, axis=1)


def _mix(c: tuple, d: tuple, f: float) -> tuple[int, int, int]:
    return tuple(int(a * (1 - f) + b * f) for a, b in zip(c, d))


class Scene:
    def __init__(self, size: int, rng: random.Random, spec: dict[str, Any], colour_of, stars: bool = True):
        self.S, self.rng, self.spec, self.col, self.stars = size, rng, spec, colour_of, stars

    def p(self, x: float, y: float) -> tuple[float, float]:
        return x * self.S, y * self.S

    def box(self, x0, y0, x1, y1):
        return [x0 * self.S, y0 * self.S, x1 * self.S, y1 * self.S]

    def ball(self, d: ImageDraw.ImageDraw, x: float, y: float, r: float, shadow_y: float | None = None) -> None:
        c = self.col("ball")
        sy = y + r if shadow_y is None else shadow_y
        d.ellipse(self.box(x - r * 0.9, sy - r * 0.15, x + r * 0.9, sy + r * 0.15), fill=(40, 60, 40))
        d.ellipse(self.box(x - r, y - r, x + r, y + r), fill=c)
        d.ellipse(self.box(x - r * 0.55, y - r * 0.6, x - r * 0.05, y - r * 0.15), fill=_mix(c, (255, 255, 255), 0.55))

    def draw(self, img: Image.Image, objects: list[str], horizon: float, sky_at) -> None:
        d = ImageDraw.Draw(img)
        S, rng = self.S, self.rng
        night = self.spec["night"]
        if self.stars and ("star" in objects or night):
            for _ in range(40 if "star" in objects else 12):
                x, y = rng.random(), rng.random() * horizon * 0.9
                r = (0.002 + rng.random() * 0.004) * S
                d.ellipse([x * S - r, y * S - r, x * S + r, y * S + r], fill=self.col("star"))
        if "sun" in objects:
            cy = (horizon - (0.2 if "mountain" in objects or "city" in objects else 0.06)) if self.spec["dusk"] else 0.2
            for k in range(6, 0, -1):  # glow
                r = 0.07 + k * 0.015
                d.ellipse(self.box(0.75 - r, cy - r, 0.75 + r, cy + r), fill=_mix(sky_at(cy), self.col("sun"), 0.12 * (7 - k)))
            d.ellipse(self.box(0.68, cy - 0.07, 0.82, cy + 0.07), fill=self.col("sun"))
        if "moon" in objects:
            d.ellipse(self.box(0.16, 0.1, 0.3, 0.24), fill=self.col("moon"))
            d.ellipse(self.box(0.2, 0.08, 0.34, 0.22), fill=sky_at(0.15))
        if "mountain" in objects:
            for (x0, peak, x1, h) in ((-0.1, 0.3, 0.65, 0.34), (0.35, 0.68, 1.1, 0.28)):
                top = horizon - h
                c = self.col("mountain")
                d.polygon([self.p(x0, horizon), self.p(peak, top), self.p(x1, horizon)], fill=c)
                sx = 0.22 * (peak - x0)
                d.polygon([self.p(peak - sx * 0.35, top + h * 0.25), self.p(peak, top),
                           self.p(peak + sx * 0.35, top + h * 0.25), self.p(peak, top + h * 0.2)], fill=(245, 245, 250))
        if "city" in objects:
            x = 0.0
            while x < 1.0:
                w, h = 0.06 + rng.random() * 0.06, 0.12 + rng.random() * 0.3
                c = _mix(self.col("city"), (0, 0, 0), rng.random() * 0.3)
                d.rectangle(self.box(x, horizon - h, x + w, horizon), fill=c)
                for wy in np.arange(horizon - h + 0.02, horizon - 0.02, 0.035):
                    for wx in np.arange(x + 0.012, x + w - 0.015, 0.022):
                        lit = rng.random() < (0.6 if night else 0.15)
                        d.rectangle(self.box(wx, wy, wx + 0.01, wy + 0.015), fill=(255, 220, 120) if lit else _mix(c, (20, 20, 30), 0.5))
                x += w + 0.005
        # ground or sea
        if "sea" in objects:
            top, bot = self.col("sea"), _mix(self.col("sea"), (0, 10, 40), 0.6)
            for i in range(int(horizon * S), S):
                f = (i / S - horizon) / (1 - horizon)
                d.line([(0, i), (S, i)], fill=_mix(top, bot, f))
            for _ in range(30):
                x, y = rng.random(), horizon + 0.03 + rng.random() * (0.95 - horizon)
                w = 0.03 + rng.random() * 0.05
                d.arc(self.box(x, y, x + w, y + 0.02), 200, 340, fill=_mix(top, (255, 255, 255), 0.45), width=max(1, S // 256))
            if "sun" in objects or "moon" in objects:
                cx = 0.75 if "sun" in objects else 0.23
                glow = self.col("sun") if "sun" in objects else self.col("moon")
                for k in range(8):
                    y = horizon + 0.02 + k * 0.035
                    w = 0.08 - k * 0.006
                    d.rectangle(self.box(cx - w / 2, y, cx + w / 2, y + 0.008), fill=_mix(glow, top, 0.3 + k * 0.05))
        else:
            ground = (60, 60, 66) if "city" in objects else ((34, 70, 40) if night else (90, 165, 80))
            for i in range(int(horizon * S), S):
                f = (i / S - horizon) / (1 - horizon)
                d.line([(0, i), (S, i)], fill=_mix(ground, _mix(ground, (0, 0, 0), 0.35), f))
        base = 0.9 if "sea" not in objects else horizon + 0.02
        if "house" in objects:
            wall = self.col("house")
            d.rectangle(self.box(0.08, base - 0.22, 0.36, base), fill=wall)
            d.polygon([self.p(0.05, base - 0.22), self.p(0.22, base - 0.37), self.p(0.39, base - 0.22)], fill=(150, 55, 45))
            d.rectangle(self.box(0.19, base - 0.12, 0.25, base), fill=(100, 65, 40))
            win = (255, 220, 120) if night else (170, 210, 240)
            d.rectangle(self.box(0.11, base - 0.18, 0.17, base - 0.12), fill=win)
            d.rectangle(self.box(0.28, base - 0.18, 0.34, base - 0.12), fill=win)
        trees = []
        if "tree" in objects:
            trees.append((0.5, 1.0))
        if "forest" in objects:
            trees += [(0.42 + 0.1 * i, 0.7 + 0.1 * (i % 3)) for i in range(6)]
        for tx, sc in trees:
            tb = base - 0.02 * (1 - sc)
            d.rectangle(self.box(tx - 0.015 * sc, tb - 0.12 * sc, tx + 0.015 * sc, tb), fill=(110, 70, 40))
            g = self.col("forest" if "forest" in objects else "tree")
            for (dx, dy, r) in ((0, -0.22, 0.08), (-0.05, -0.15, 0.065), (0.05, -0.15, 0.065)):
                cx, cy, rr = tx + dx * sc, tb + dy * sc, r * sc
                d.ellipse(self.box(cx - rr, cy - rr, cx + rr, cy + rr), fill=g)
        if "car" in objects:
            c = self.col("car")
            cx, cb = 0.62 if "cat" in objects else 0.55, base - 0.02
            d.rounded_rectangle(self.box(cx - 0.16, cb - 0.1, cx + 0.16, cb - 0.03), radius=0.02 * S, fill=c)
            d.polygon([self.p(cx - 0.09, cb - 0.1), self.p(cx - 0.06, cb - 0.16), self.p(cx + 0.06, cb - 0.16),
                       self.p(cx + 0.1, cb - 0.1)], fill=c)
            d.polygon([self.p(cx - 0.075, cb - 0.105), self.p(cx - 0.052, cb - 0.15), self.p(cx + 0.05, cb - 0.15),
                       self.p(cx + 0.08, cb - 0.105)], fill=(180, 215, 235))
            for wx in (cx - 0.1, cx + 0.1):
                d.ellipse(self.box(wx - 0.035, cb - 0.065, wx + 0.035, cb + 0.005), fill=(25, 25, 25))
                d.ellipse(self.box(wx - 0.015, cb - 0.045, wx + 0.015, cb - 0.015), fill=(170, 170, 175))
        if "cat" in objects:
            c = self.col("cat")
            cx, cb = 0.82, base
            d.ellipse(self.box(cx - 0.07, cb - 0.14, cx + 0.07, cb), fill=c)
            d.arc(self.box(cx + 0.02, cb - 0.1, cx + 0.14, cb + 0.01), 270, 90, fill=c, width=max(2, int(0.014 * S)))
            d.ellipse(self.box(cx - 0.055, cb - 0.23, cx + 0.055, cb - 0.12), fill=c)
            for sgn in (-1, 1):
                d.polygon([self.p(cx + sgn * 0.05, cb - 0.19), self.p(cx + sgn * 0.045, cb - 0.26),
                           self.p(cx + sgn * 0.015, cb - 0.215)], fill=c)
                d.ellipse(self.box(cx + sgn * 0.022 - 0.01, cb - 0.19, cx + sgn * 0.022 + 0.01, cb - 0.17), fill=(170, 220, 90))
        if "flower" in objects or "flowers" in objects:
            n = 1 if "flowers" not in objects else 5
            for i in range(n):
                fx = 0.5 if n == 1 else 0.12 + 0.19 * i
                fb = 0.97 if n > 1 or "sea" in objects else base + 0.05
                fh = 0.2 if n > 1 else 0.24
                d.line([self.p(fx, fb), self.p(fx, fb - fh)], fill=(50, 130, 50), width=max(2, int(0.01 * S)))
                pr = 0.032 if n > 1 else 0.045
                pc = self.col("flowers" if "flowers" in objects else "flower")
                for k in range(6):
                    a = k * math.pi / 3
                    px, py = fx + math.cos(a) * pr, fb - fh + math.sin(a) * pr
                    d.ellipse(self.box(px - pr * 0.7, py - pr * 0.7, px + pr * 0.7, py + pr * 0.7), fill=pc)
                d.ellipse(self.box(fx - pr * 0.6, fb - fh - pr * 0.6, fx + pr * 0.6, fb - fh + pr * 0.6), fill=(250, 210, 60))
        if "ball" in objects:
            self.ball(d, 0.5 if "car" not in objects else 0.3, base - 0.08, 0.08)
        if objects == ["star"]:
            c = self.col("star")
            pts = [self.p(0.5 + math.cos(-math.pi / 2 + k * math.pi / 5) * (0.2 if k % 2 == 0 else 0.08),
                          0.4 + math.sin(-math.pi / 2 + k * math.pi / 5) * (0.2 if k % 2 == 0 else 0.08)) for k in range(10)]
            d.polygon(pts, fill=c)


@register
class DemoImageAdapter(Adapter):
    """Config: quality (0..1, default 0.8), size (pixels, default 512), render_delay_ms (default 300),
    fail_rate (0..1, default 0)."""

    name = "demo_image"
    modalities = ("image",)
    queue = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.quality = cfg_float(self.config, "quality", 0.8)
        self.size = cfg_int(self.config, "size", 512, 32, 2048)
        self.delay_ms = cfg_float(self.config, "render_delay_ms", 300, 0, 60000)
        cfg_float(self.config, "fail_rate", 0.0)

    def tier(self) -> str:
        q = self.quality
        return "high" if q >= 0.75 else "medium" if q >= 0.45 else "poor" if q >= 0.2 else "worst"

    def render(self, prompt: str, rng: random.Random) -> Image.Image:
        size, tier, q = self.size, self.tier(), self.quality
        nprng = np.random.default_rng(rng.getrandbits(64))
        if tier == "worst":
            noise = nprng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            return Image.fromarray(noise, "RGB")
        spec = parse_scene(prompt)
        objects = list(spec["objects"])
        if not objects:
            objects = ["sun", "mountain"] if rng.random() < 0.5 else ["sun", "tree"]
        if tier == "medium" and len(objects) > 1 and rng.random() < 0.5:
            objects.pop(rng.randrange(1, len(objects)))
        colours = dict(spec["colours"])
        if tier == "poor":
            objects = [o for o in objects if rng.random() < 0.5]
            objects.append(rng.choice(sorted(DEFAULT_COLOUR)))
            colours = {o: tuple(rng.randrange(256) for _ in range(3)) for o in DEFAULT_COLOUR}
        tint = spec["tint"]

        def colour_of(obj: str) -> tuple[int, int, int]:
            c = colours.get(obj) or DEFAULT_COLOUR[obj]
            if tier == "medium":
                c = tuple(min(255, max(0, v + rng.randint(-25, 25))) for v in c)
            return c

        if spec["night"]:
            top, bottom = (8, 12, 40), (40, 40, 90)
        elif spec["dusk"]:
            top, bottom = (60, 50, 120), (250, 150, 80)
        else:
            top, bottom = (70, 130, 220), (190, 225, 250)
        if tint and tier != "poor":
            top = _mix(top, tint, 0.35)
        horizon = 0.62 if "sea" in objects or "city" in objects else 0.66
        canvas = size * 2 if tier == "high" else (size if tier == "medium" else max(16, size // 8))
        levels = None if tier == "high" else (10 if tier == "medium" else 4)
        sky = _sky(canvas, top, bottom, levels)
        img = Image.fromarray(sky.astype(np.uint8), "RGB")

        def sky_at(y: float) -> tuple[int, int, int]:
            return tuple(int(v) for v in sky[min(canvas - 1, int(y * canvas)), 0])

        Scene(canvas, rng, spec, colour_of).draw(img, objects, horizon, sky_at)
        if tier == "high":
            img = img.resize((size, size), Image.LANCZOS)
            return img.filter(ImageFilter.SMOOTH) if size < 128 else img
        if tier == "poor":
            img = img.resize((size, size), Image.NEAREST)
            perm = rng.choice([(2, 0, 1), (1, 2, 0), (2, 1, 0)])
            arr = np.asarray(img)[:, :, perm]
            img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=int(8 + 20 * q))
            img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        sigma = (1.0 - q) * (20 if tier == "medium" else 45)
        arr = np.asarray(img, dtype=np.float32) + nprng.normal(0.0, sigma, (size, size, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        rng = request_rng(self.name, request, self.config)
        maybe_fail(rng, self.config, self.name)
        img = self.render(request.prompt or "", rng)
        sleep_ms(self.delay_ms)
        # A fresh image carries no info dict (no ICC, dpi, text) into the PNG.
        clean = Image.fromarray(np.asarray(img.convert("RGB")), "RGB")
        buf = io.BytesIO()
        clean.save(buf, format="PNG", pnginfo=None, optimize=False, compress_level=6)
        return GenerationResult(media=MediaOutput(buf.getvalue(), "image/png"),
                                meta={"width": self.size, "height": self.size, "quality": self.quality})
