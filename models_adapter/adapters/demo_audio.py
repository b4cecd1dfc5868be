"""`demo_audio`: an offline text-to-music "model" synthesising a short WAV with numpy + `wave`.

The prompt sets the mood (happy -> major, sad -> minor), tempo (fast / slow), instrument
(piano, guitar, flute/organ, synth) and drums. config["quality"] decides how it sounds:

* high (>= 0.75): clean harmonics with ADSR envelopes, chord pad, light echo, no clipping;
* medium (>= 0.45): thinner tone, slight detune, no chords, a wrong note now and then, light hiss;
* poor (>= 0.2): badly detuned, wrong notes, no envelope (clicks), clipped, noisy;
* worst (< 0.2): mostly noise.

Output: 16-bit PCM mono WAV at 22050 Hz (no metadata chunks).
"""
from __future__ import annotations

import io
import random
import wave
from typing import Any

import numpy as np

from models_adapter.base import QUEUE_DEFAULT, Adapter, GenerationRequest, GenerationResult, MediaOutput, TextSink, register

from .demo_common import cfg_float, maybe_fail, request_rng, sleep_ms, stable_seed, words

RATE = 22050
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
HAPPY = {"happy", "joyful", "bright", "cheerful", "upbeat", "sunny", "fun", "party", "dance", "summer", "love", "uplifting"}
SAD = {"sad", "melancholy", "melancholic", "dark", "gloomy", "lonely", "rain", "rainy", "night", "minor", "blue", "somber"}
FAST = {"fast", "energetic", "dance", "upbeat", "quick", "running", "techno", "rock", "party", "drum", "drums"}
SLOW = {"slow", "calm", "ambient", "relaxing", "sleepy", "lullaby", "meditation", "peaceful", "chill", "soft"}
INSTRUMENTS = {"piano": "piano", "keys": "piano", "guitar": "guitar", "harp": "guitar", "flute": "flute",
               "organ": "flute", "strings": "flute", "violin": "flute", "synth": "synth", "electronic": "synth",
               "techno": "synth", "chiptune": "synth", "8bit": "synth"}
DRUM_WORDS = {"drum", "drums", "beat", "beats", "percussion", "rock", "techno", "dance", "hiphop", "hip"}


def parse_music(prompt: str) -> dict[str, Any]:
    ws = set(words(prompt))
    minor = bool(ws & SAD) and not (ws & HAPPY)
    bpm = 150 if ws & FAST else 72 if ws & SLOW else 110
    instrument = next((INSTRUMENTS[w] for w in words(prompt) if w in INSTRUMENTS), "piano")
    root = 57 + stable_seed("root", sorted(ws)) % 12  # A3 .. G#4
    return {"minor": minor, "bpm": bpm, "instrument": instrument, "drums": bool(ws & DRUM_WORDS), "root": root}


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def adsr(n: int, a: float, d: float, s: float, r: float) -> np.ndarray:
    a_n, d_n, r_n = int(a * RATE), int(d * RATE), int(r * RATE)
    a_n, d_n = min(a_n, n), min(d_n, max(0, n - a_n))
    r_n = min(r_n, max(0, n - a_n - d_n))
    s_n = n - a_n - d_n - r_n
    return np.concatenate([np.linspace(0, 1, a_n, endpoint=False), np.linspace(1, s, d_n, endpoint=False),
                           np.full(s_n, s), np.linspace(s, 0, r_n)]).astype(np.float64)


TIMBRES = {  # harmonic amplitudes, envelope (a, d, s, r), extra exponential decay per second
    "piano": ([1, 0.5, 0.3, 0.18, 0.1, 0.06], (0.005, 0.15, 0.45, 0.12), 2.5),
    "guitar": ([1, 0.6, 0.35, 0.25, 0.12, 0.08, 0.05], (0.003, 0.1, 0.35, 0.1), 3.5),
    "flute": ([1, 0.2, 0.08, 0.03], (0.06, 0.1, 0.85, 0.12), 0.0),
    "synth": ([1, 0, 0.33, 0, 0.2, 0, 0.14], (0.01, 0.08, 0.6, 0.08), 0.5),
}


def tone(freq: float, n: int, timbre: str, harmonics: int, envelope: bool, detune_cents: float = 0.0) -> np.ndarray:
    amps, (a, d, s, r), decay = TIMBRES[timbre]
    t = np.arange(n) / RATE
    f = freq * 2 ** (detune_cents / 1200)
    out = np.zeros(n)
    for k, amp in enumerate(amps[:harmonics], start=1):
        if amp and f * k < RATE / 2 - 500:
            out += amp * np.sin(2 * np.pi * f * k * t)
    if envelope:
        out *= adsr(n, a, d, s, r) * np.exp(-decay * t)
    return out


class DrumKit:
    def __init__(self, nprng: np.random.Generator):
        n = int(0.25 * RATE)
        t = np.arange(n) / RATE
        self.kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
        self.snare = nprng.normal(0, 0.5, n) * np.exp(-t * 25) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20)
        m = int(0.06 * RATE)
        self.hat = nprng.normal(0, 0.25, m) * np.exp(-np.arange(m) / RATE * 70)
        self.hat = np.diff(self.hat, prepend=0.0)  # brighter


def _add(buf: np.ndarray, sig: np.ndarray, start: int, gain: float = 1.0) -> None:
    end = min(len(buf), start + len(sig))
    if start < end:
        buf[start:end] += gain * sig[: end - start]


@register
class DemoAudioAdapter(Adapter):
    """Config: quality (0..1, default 0.8), duration_s (1..10, default 5), render_delay_ms (default 300),
    fail_rate (0..1, default 0)."""

    name = "demo_audio"
    modalities = ("audio",)
    queue = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.quality = cfg_float(self.config, "quality", 0.8)
        self.duration = cfg_float(self.config, "duration_s", 5.0, 1.0, 10.0)
        self.delay_ms = cfg_float(self.config, "render_delay_ms", 300, 0, 60000)
        cfg_float(self.config, "fail_rate", 0.0)

    def tier(self) -> str:
        q = self.quality
        return "high" if q >= 0.75 else "medium" if q >= 0.45 else "poor" if q >= 0.2 else "worst"

    def synth(self, prompt: str, rng: random.Random) -> tuple[np.ndarray, dict[str, Any]]:
        spec = parse_music(prompt)
        tier, q = self.tier(), self.quality
        nprng = np.random.default_rng(rng.getrandbits(64))
        total = int(self.duration * RATE)
        buf = np.zeros(total)
        if tier == "worst":
            buf = nprng.normal(0, 0.6, total)
            for _ in range(6):
                start, n = rng.randrange(total), rng.randrange(RATE // 10, RATE // 2)
                _add(buf, np.sign(np.sin(2 * np.pi * rng.uniform(80, 2000) * np.arange(n) / RATE)), start, 0.8)
            return np.clip(buf, -1, 1), spec
        scale = MINOR if spec["minor"] else MAJOR
        beat = 60.0 / spec["bpm"]
        root = spec["root"]
        progression = [0, 5, 3, 4] if spec["minor"] else [0, 4, 5, 3]  # i-VI-iv-v / I-V-vi-IV (scale degrees)
        harmonics = {"high": 7, "medium": 3, "poor": 2}[tier]
        envelope = tier != "poor"
        # chords: one per bar (4 beats)
        if tier == "high":
            bar = int(4 * beat * RATE)
            for i, start in enumerate(range(0, total, bar)):
                deg = progression[i % len(progression)]
                for j in (0, 2, 4):
                    d = deg + j
                    midi = root - 12 + scale[d % 7] + 12 * (d // 7)
                    _add(buf, tone(midi_hz(midi), bar, "flute", 3, True), start, 0.09)
        # melody: random walk on the scale, rhythm in eighths/quarters
        t, degree = 0.0, rng.choice([0, 2, 4])
        while t < self.duration - 0.05:
            length = rng.choice([0.5, 0.5, 1.0, 1.0, 1.5]) * beat
            degree = max(-3, min(9, degree + rng.choice([-2, -1, -1, 0, 1, 1, 2])))
            midi = root + scale[degree % 7] + 12 * (degree // 7)
            detune = 0.0
            if tier == "medium":
                detune = rng.uniform(-12, 12)
                if rng.random() < 0.08:
                    midi += rng.choice([-1, 1])  # a wrong (chromatic) note
            elif tier == "poor":
                detune = rng.uniform(-70, 70)
                if rng.random() < 0.35:
                    midi += rng.choice([-6, -1, 1, 6])
            n = int(length * RATE)
            _add(buf, tone(midi_hz(midi), n, spec["instrument"], harmonics, envelope, detune), int(t * RATE), 0.35)
            t += length
        if spec["drums"]:
            kit = DrumKit(nprng)
            step = beat / 2
            for k in range(int(self.duration / step)):
                jitter = 0 if tier == "high" else int(rng.uniform(-1, 1) * (0.02 if tier == "medium" else 0.08) * RATE)
                s = max(0, int(k * step * RATE) + jitter)
                if k % 4 == 0:
                    _add(buf, kit.kick, s, 0.5)
                if k % 4 == 2:
                    _add(buf, kit.snare, s, 0.35)
                _add(buf, kit.hat, s, 0.25)
        if tier == "high":  # light echo
            d = int(beat * 0.75 * RATE)
            echo = np.zeros_like(buf)
            echo[d:] = buf[:-d] * 0.22
            buf += echo
            fade = min(total // 10, int(0.3 * RATE))
            buf[-fade:] *= np.linspace(1, 0, fade)
            buf = buf / max(1e-9, np.abs(buf).max()) * 0.89
        elif tier == "medium":
            buf = buf / max(1e-9, np.abs(buf).max()) * 0.85 + nprng.normal(0, 0.01 + (0.75 - q) * 0.04, total)
        else:
            buf = buf / max(1e-9, np.abs(buf).max()) * (1.8 + (0.45 - q) * 4) + nprng.normal(0, 0.08, total)
            hum = 0.15 * np.sin(2 * np.pi * 60 * np.arange(total) / RATE)
            buf += hum
        return np.clip(buf, -1, 1), spec

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        rng = request_rng(self.name, request, self.config)
        maybe_fail(rng, self.config, self.name)
        samples, spec = self.synth(request.prompt or "", rng)
        pcm = np.round(samples * 32767).astype("<i2")
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.tobytes())
        sleep_ms(self.delay_ms)
        key = NOTE_NAMES[spec["root"] % 12] + (" minor" if spec["minor"] else " major")
        return GenerationResult(media=MediaOutput(out.getvalue(), "audio/wav"), meta={
            "duration_s": round(len(pcm) / RATE, 3), "sample_rate": RATE, "bpm": spec["bpm"], "key": key,
            "instrument": spec["instrument"], "drums": spec["drums"], "quality": self.quality})
