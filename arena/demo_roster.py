"""The demo competitors and prompt sets loaded by `manage.py arena_seed_demo`: invented models
of visibly different quality that run offline on a CPU (models_adapter/adapters/demo*.py)."""
from __future__ import annotations

# slug, name, organization, modality, adapter, config
COMPETITORS: list[tuple[str, str, str, str, str, dict]] = [
    ("aurora-7b", "Aurora-7B", "Northwind Labs", "text", "demo_text",
     {"quality": 0.95, "style": "structured", "identity": "Aurora-7B, made by Northwind Labs"}),
    ("lumen-13b", "Lumen-13B", "Brightfield AI", "text", "demo_text",
     {"quality": 0.8, "style": "verbose", "identity": "Lumen-13B from Brightfield AI"}),
    ("quill-3", "Quill-3", "Inkwell Research", "text", "demo_text",
     {"quality": 0.55, "style": "bullet", "identity": "Quill-3 by Inkwell Research"}),
    ("pebble-1b", "Pebble-1B", "Riverstone Systems", "text", "demo_text",
     {"quality": 0.3, "style": "rambling", "identity": "Pebble-1B by Riverstone Systems"}),
    ("mumble-0", "Mumble-0", "Static Garage", "text", "demo_text",
     {"quality": 0.05, "style": "rambling", "identity": "Mumble-0 by Static Garage"}),
    ("prism-xl", "Prism-XL", "Spectra Studio", "image", "demo_image", {"quality": 0.95}),
    ("canvas-2", "Canvas-2", "Easel Works", "image", "demo_image", {"quality": 0.7}),
    ("smudge-1", "Smudge-1", "Blotch Labs", "image", "demo_image", {"quality": 0.4}),
    ("pixel-storm", "Pixel-Storm", "Rust Bucket Co", "image", "demo_image", {"quality": 0.1}),
    ("cadence-2", "Cadence-2", "Tuneforge", "audio", "demo_audio", {"quality": 0.9}),
    ("hum-1", "Hum-1", "Buzzline Audio", "audio", "demo_audio", {"quality": 0.3}),
    ("reel-5", "Reel-5", "Framecraft", "video", "demo_video", {"quality": 0.9}),
    ("flicker-1", "Flicker-1", "Jitterbug Media", "video", "demo_video", {"quality": 0.3}),
    ("sculpt-3d", "Sculpt-3D", "Chisel Labs", "3d", "demo_3d", {"quality": 0.9}),
    ("blocky-1", "Blocky-1", "Voxelbox", "3d", "demo_3d", {"quality": 0.3}),
]

# slug, name, modality, category, prompts
PROMPT_SETS: list[tuple[str, str, str, str, list[str]]] = [
    ("demo-coding", "Demo: coding", "text", "coding", [
        "Write a Python function that checks whether a string is a palindrome.",
        "Explain the difference between a list and a tuple in Python.",
        "Write code to reverse a linked list.",
        "How do I read a CSV file in Python?",
    ]),
    ("demo-math", "Demo: math", "text", "math", [
        "What is 17*23?",
        "What is 144/12?",
        "Explain what a prime number is.",
        "What is 250+375?",
    ]),
    ("demo-creative", "Demo: creative writing", "text", "creative_writing", [
        "Write a short poem about the sea at night.",
        "Write a poem about autumn leaves.",
        "Tell me a short story about a lighthouse keeper.",
    ]),
    ("demo-general", "Demo: general knowledge", "text", "general", [
        "Explain how photosynthesis works.",
        "Compare cats and dogs as pets.",
        "How do I make a good cup of coffee?",
        "List five tips for better sleep.",
        "Explain why the sky is blue.",
        "Bonjour, comment vas-tu ?",
    ]),
    ("demo-images", "Demo: image prompts", "image", "other", [
        "A red house under a yellow sun",
        "A cat sitting under a tree at night with a moon",
        "Mountains and the sea at sunset",
        "A city skyline at night with stars",
        "A green flower in a blue field",
        "A red car on a road near mountains",
    ]),
    ("demo-audio", "Demo: music prompts", "audio", "other", [
        "A happy piano melody",
        "A slow sad tune",
        "Fast drums and bass",
    ]),
    ("demo-video", "Demo: video prompts", "video", "other", [
        "A sun rising over the sea",
        "A red ball bouncing",
        "Stars twinkling over a city",
    ]),
    ("demo-3d", "Demo: 3D prompts", "3d", "other", [
        "A red cube",
        "A blue sphere",
        "A golden torus",
        "A wooden chair",
        "A green pyramid",
    ]),
]
