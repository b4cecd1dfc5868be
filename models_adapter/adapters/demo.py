"""Offline demo "models": deterministic, CPU-only generators for every modality.

Importing this module registers all of them. They need no weights and no network, run on the
default queue, and are deterministic for the same (prompt, history, seed, config). Quality is a
config knob so that a leaderboard built from demo votes means something.

Common config keys: "quality" (0..1; >= 0.75 good, >= 0.45 middling, >= 0.2 poor, below that
near-noise) and "fail_rate" (0..1, chance of a simulated AdapterError; default 0).

* demo_text  (demo_text*.py)  "style": concise | verbose | bullet | structured | rambling;
  "token_delay_ms" (default 20; one on_text call per word); "identity" ("Name by Maker",
  "Name, made by Maker", "Name from Maker"): only a model of quality >= 0.6 asked who it is
  names itself; otherwise no model ever names itself.
* demo_image (demo_image.py)  "size" (default 512), "render_delay_ms" (default 300); PNG, no metadata.
* demo_audio (demo_audio.py)  "duration_s" (default 5), "render_delay_ms" (default 300); WAV 16-bit mono 22050 Hz.
* demo_3d    (demo_3d.py)     "render_delay_ms" (default 300); GLB with POSITION/NORMAL/indices, no generator.
* demo_video (demo_video.py)  "duration_s" (2), "fps" (12), "size" (256), "render_delay_ms" (300);
  H.264 MP4 via the ffmpeg binary of the imageio-ffmpeg wheel, no encoder identity strings.
"""
from __future__ import annotations

from .demo_3d import Demo3DAdapter
from .demo_audio import DemoAudioAdapter
from .demo_image import DemoImageAdapter
from .demo_text import DemoTextAdapter
from .demo_video import DemoVideoAdapter

__all__ = ["Demo3DAdapter", "DemoAudioAdapter", "DemoImageAdapter", "DemoTextAdapter", "DemoVideoAdapter"]
