"""`demo_3d`: an offline text-to-3D "model" writing a binary glTF 2.0 (GLB) by hand.

The prompt picks a shape (cube/box, pyramid, sphere/ball, cylinder/can, cone, torus/donut,
chair, table; otherwise a vase) and a colour / metal look. config["quality"] decides the mesh:

* high (>= 0.75): fine tessellation, smooth correct normals, the asked colour;
* medium (>= 0.45): coarser tessellation, correct normals, colour slightly off;
* poor (>= 0.2): low-poly, faceted, vertex jitter, some flipped normals, wrong colour;
* worst (< 0.2): jagged noise on every vertex, random normals, random colour.

The GLB has POSITION (with min/max), NORMAL and indices accessors, one material, and an asset
object with only "version": "2.0" (no generator string).
"""
from __future__ import annotations

import json
import random
import struct
from typing import Any

import numpy as np

from models_adapter.base import QUEUE_DEFAULT, Adapter, GenerationRequest, GenerationResult, MediaOutput, TextSink, register

from .demo_common import COLOURS, cfg_float, maybe_fail, request_rng, sleep_ms, words

Mesh = tuple[np.ndarray, np.ndarray, np.ndarray]  # positions (N,3), normals (N,3), triangles (M,3)

SHAPE_WORDS = {
    "cube": "cube", "box": "cube", "crate": "cube", "dice": "cube", "die": "cube", "block": "cube",
    "pyramid": "pyramid", "sphere": "sphere", "ball": "sphere", "orb": "sphere", "planet": "sphere", "globe": "sphere",
    "cylinder": "cylinder", "can": "cylinder", "pipe": "cylinder", "pillar": "cylinder", "column": "cylinder",
    "cone": "cone", "torus": "torus", "donut": "torus", "doughnut": "torus", "ring": "torus",
    "chair": "chair", "stool": "chair", "seat": "chair", "table": "table", "desk": "table",
    "vase": "vase", "pot": "vase", "cup": "vase",
}
METAL_WORDS = {"metal", "metallic", "gold", "golden", "silver", "chrome", "steel", "iron", "copper", "bronze"}
DEFAULT_COLOURS = {"cube": (0.8, 0.55, 0.3), "pyramid": (0.85, 0.7, 0.4), "sphere": (0.2, 0.45, 0.85),
                   "cylinder": (0.7, 0.7, 0.75), "cone": (0.95, 0.5, 0.15), "torus": (0.9, 0.5, 0.6),
                   "chair": (0.55, 0.35, 0.2), "table": (0.6, 0.4, 0.25), "vase": (0.3, 0.6, 0.55)}


def _merge(*meshes: Mesh) -> Mesh:
    ps, ns, ts, off = [], [], [], 0
    for p, n, t in meshes:
        ps.append(p)
        ns.append(n)
        ts.append(t + off)
        off += len(p)
    return np.concatenate(ps), np.concatenate(ns), np.concatenate(ts)


def box(center=(0.0, 0.0, 0.0), size=(1.0, 1.0, 1.0)) -> Mesh:
    c, h = np.array(center, float), np.array(size, float) / 2
    ps, ns, ts = [], [], []
    for axis in range(3):
        for sgn in (-1.0, 1.0):
            u, v = [a for a in range(3) if a != axis]
            n = np.zeros(3)
            n[axis] = sgn
            base = len(ps)
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u], p[v] = sgn, du, dv
                ps.append(c + p * h)
                ns.append(n)
            ts += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(ps), np.array(ns), np.array(ts)


def lathe(profile: list[tuple[float, float]], seg: int, smooth: bool = True) -> Mesh:
    """Surface of revolution around +Y from (radius, y) points; normals from the profile slope."""
    prof = np.array(profile, float)
    m = len(prof)
    tang = np.gradient(prof, axis=0)  # (dr, dy)
    ps, ns = [], []
    for j in range(seg + 1):
        a = 2 * np.pi * j / seg
        ca, sa = np.cos(a), np.sin(a)
        for i in range(m):
            r, y = prof[i]
            ps.append((r * ca, y, r * sa))
            dr, dy = tang[i]
            nr, ny = dy, -dr  # perpendicular to the profile, pointing outwards for an upward profile
            ln = np.hypot(nr, ny) or 1.0
            ns.append((nr / ln * ca, ny / ln, nr / ln * sa))
    ts = []
    for j in range(seg):
        for i in range(m - 1):
            a, b = j * m + i, (j + 1) * m + i
            ts += [(a, b, a + 1), (a + 1, b, b + 1)]
    return np.array(ps), np.array(ns), np.array(ts)


def disc(y: float, r: float, seg: int, up: bool) -> Mesh:
    ps = [(0.0, y, 0.0)] + [(r * np.cos(2 * np.pi * j / seg), y, r * np.sin(2 * np.pi * j / seg)) for j in range(seg)]
    ns = [(0.0, 1.0 if up else -1.0, 0.0)] * (seg + 1)
    ts = [(0, 1 + j, 1 + (j + 1) % seg) for j in range(seg)]
    return np.array(ps), np.array(ns), np.array(ts)


def sphere(seg: int, r: float = 0.5) -> Mesh:
    rings = max(3, seg // 2)
    prof = [(r * np.sin(np.pi * i / rings), -r * np.cos(np.pi * i / rings)) for i in range(rings + 1)]
    p, _, t = lathe(prof, seg)
    return p, p / np.linalg.norm(p, axis=1, keepdims=True), t


def torus(seg: int, big: float = 0.38, small: float = 0.14) -> Mesh:
    sides = max(4, seg // 2)
    ps, ns = [], []
    for j in range(seg + 1):
        a = 2 * np.pi * j / seg
        for i in range(sides + 1):
            b = 2 * np.pi * i / sides
            n = np.array((np.cos(b) * np.cos(a), np.sin(b), np.cos(b) * np.sin(a)))
            ps.append(np.array((big * np.cos(a), 0.0, big * np.sin(a))) + small * n)
            ns.append(n)
    ts = []
    m = sides + 1
    for j in range(seg):
        for i in range(sides):
            a, b = j * m + i, (j + 1) * m + i
            ts += [(a, b, a + 1), (a + 1, b, b + 1)]
    return np.array(ps), np.array(ns), np.array(ts)


def pyramid() -> Mesh:
    apex, h = np.array((0.0, 0.5, 0.0)), 0.5
    corners = [np.array(c) for c in ((-h, -h, -h), (h, -h, -h), (h, -h, h), (-h, -h, h))]
    ps, ns, ts = [], [], []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        n = np.cross(b - a, apex - a)
        n /= np.linalg.norm(n)
        base = len(ps)
        ps += [a, b, apex]
        ns += [n, n, n]
        ts.append((base, base + 1, base + 2))
    base = len(ps)
    ps += corners
    ns += [np.array((0.0, -1.0, 0.0))] * 4
    ts += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(ps), np.array(ns), np.array(ts)


def build_shape(shape: str, seg: int) -> Mesh:
    if shape == "cube":
        return box()
    if shape == "pyramid":
        return pyramid()
    if shape == "sphere":
        return sphere(seg)
    if shape == "torus":
        return torus(seg)
    if shape == "cylinder":
        side = lathe([(0.35, -0.5), (0.35, 0.5)], seg)
        return _merge(side, disc(0.5, 0.35, seg, True), disc(-0.5, 0.35, seg, False))
    if shape == "cone":
        rings = max(2, seg // 6)
        side = lathe([(0.4 * (1 - i / rings) + 1e-4, -0.5 + i / rings) for i in range(rings + 1)], seg)
        return _merge(side, disc(-0.5, 0.4, seg, False))
    if shape == "chair":
        legs = [box((x, -0.25, z), (0.07, 0.5, 0.07)) for x in (-0.22, 0.22) for z in (-0.22, 0.22)]
        return _merge(box((0, 0.03, 0), (0.55, 0.06, 0.55)), box((0, 0.33, -0.245), (0.55, 0.55, 0.06)), *legs)
    if shape == "table":
        legs = [box((x, -0.2, z), (0.08, 0.55, 0.08)) for x in (-0.42, 0.42) for z in (-0.25, 0.25)]
        return _merge(box((0, 0.1, 0), (1.0, 0.06, 0.65)), *legs)
    n = max(4, seg // 3)  # vase
    prof = [(0.18 + 0.17 * np.sin(np.pi * (0.15 + 0.85 * i / n)) ** 2 - 0.07 * (i / n) ** 3, -0.5 + i / n) for i in range(n + 1)]
    return _merge(lathe(prof, seg), disc(-0.5, prof[0][0], seg, False))


def orient(p: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Drop degenerate triangles and wind every triangle counter-clockwise seen from its normals' side."""
    a, b, c = p[t[:, 0]], p[t[:, 1]], p[t[:, 2]]
    face = np.cross(b - a, c - a)
    area = np.linalg.norm(face, axis=1)
    keep = area > 1e-10
    t, face = t[keep], face[keep]
    flip = np.einsum("ij,ij->i", face, n[t].sum(axis=1)) < 0
    t = t.copy()
    t[flip] = t[flip][:, ::-1]
    return t


def facet(p: np.ndarray, t: np.ndarray) -> Mesh:
    """Unweld: one vertex per corner, flat face normals (low-poly look)."""
    q = p[t.reshape(-1)]
    a, b, c = q[0::3], q[1::3], q[2::3]
    f = np.cross(b - a, c - a)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return q, np.repeat(f, 3, axis=0), np.arange(len(q)).reshape(-1, 3)


def _pad4(b: bytes, fill: bytes) -> bytes:
    return b + fill * ((4 - len(b) % 4) % 4)


def write_glb(p: np.ndarray, n: np.ndarray, t: np.ndarray, colour: tuple[float, float, float],
              metallic: float, roughness: float, double_sided: bool = False) -> bytes:
    pos = p.astype("<f4")
    nor = n.astype("<f4")
    big = len(pos) > 65535
    idx = t.reshape(-1).astype("<u4" if big else "<u2")
    views, blob = [], b""
    for arr, target in ((pos, 34962), (nor, 34962), (idx, 34963)):
        raw = arr.tobytes()
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(raw), "target": target})
        blob = _pad4(blob + raw, b"\x00")
    doc = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2, "material": 0, "mode": 4}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [round(float(c), 4) for c in colour] + [1.0],
                                                "metallicFactor": metallic, "roughnessFactor": roughness},
                       "doubleSided": double_sided}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(pos), "type": "VEC3",
             "min": [float(v) for v in pos.min(axis=0)], "max": [float(v) for v in pos.max(axis=0)]},
            {"bufferView": 1, "componentType": 5126, "count": len(nor), "type": "VEC3"},
            {"bufferView": 2, "componentType": 5125 if big else 5123, "count": len(idx), "type": "SCALAR"},
        ],
    }
    js = _pad4(json.dumps(doc, separators=(",", ":")).encode("utf-8"), b" ")
    total = 12 + 8 + len(js) + 8 + len(blob)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
            + struct.pack("<I4s", len(blob), b"BIN\x00") + blob)


@register
class Demo3DAdapter(Adapter):
    """Config: quality (0..1, default 0.8), render_delay_ms (default 300), fail_rate (0..1, default 0)."""

    name = "demo_3d"
    modalities = ("3d",)
    queue = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.quality = cfg_float(self.config, "quality", 0.8)
        self.delay_ms = cfg_float(self.config, "render_delay_ms", 300, 0, 60000)
        cfg_float(self.config, "fail_rate", 0.0)

    def tier(self) -> str:
        q = self.quality
        return "high" if q >= 0.75 else "medium" if q >= 0.45 else "poor" if q >= 0.2 else "worst"

    def model(self, prompt: str, rng: random.Random) -> tuple[Mesh, tuple[float, float, float], float, dict[str, Any]]:
        ws = words(prompt)
        shape = next((SHAPE_WORDS[w] for w in ws if w in SHAPE_WORDS), "vase")
        colour_word = next((w for w in ws if w in COLOURS), None)
        colour = tuple(c / 255 for c in COLOURS[colour_word]) if colour_word else DEFAULT_COLOURS[shape]
        metallic = 1.0 if METAL_WORDS & set(ws) else 0.05
        if "gold" in ws or "golden" in ws:
            colour = (1.0, 0.77, 0.34)
        tier, q = self.tier(), self.quality
        nprng = np.random.default_rng(rng.getrandbits(64))
        seg = {"high": 48, "medium": 20, "poor": 7, "worst": 5}[tier]
        p, n, t = build_shape(shape, seg)
        t = orient(p, n, t)
        if tier == "medium":
            colour = tuple(min(1.0, max(0.0, c + rng.uniform(-0.12, 0.12))) for c in colour)
        elif tier in ("poor", "worst"):
            colour = tuple(rng.random() for _ in range(3))
            amp = 0.015 + (0.45 - q) * 0.06 if tier == "poor" else 0.08
            p = p + nprng.normal(0.0, amp, p.shape)
            p, n, t = facet(p, t)
            if tier == "poor":
                flip = nprng.random(len(t)) < 0.25
                n = n.reshape(-1, 3, 3)
                n[flip] *= -1
                n = n.reshape(-1, 3)
            else:
                n = nprng.normal(0.0, 1.0, n.shape)
                n /= np.linalg.norm(n, axis=1, keepdims=True)
        return (p, n, t), colour, metallic, {"shape": shape, "vertices": len(p), "triangles": len(t)}

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        rng = request_rng(self.name, request, self.config)
        maybe_fail(rng, self.config, self.name)
        (p, n, t), colour, metallic, meta = self.model(request.prompt or "", rng)
        data = write_glb(p, n, t, colour, metallic, 0.35 if metallic > 0.5 else 0.6, double_sided=meta["shape"] == "vase")
        sleep_ms(self.delay_ms)
        return GenerationResult(media=MediaOutput(data, "model/gltf-binary"), meta={**meta, "quality": self.quality})
