"""Prompt language labels: the old rule (py3langid's best guess over its 97 languages) against
the configured one (ARENA_LANGUAGES + ARENA_LANGUAGE_MIN_CONFIDENCE), on short English prompts
of the kind voters type and on prompts in other languages. Prints, per rule: wrong labels
(a language that is not the prompt's), `und`, right labels, and microseconds per prompt.

    .venv/bin/python bench/language_bench.py
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import py3langid  # noqa: E402

from arena.services.prompts import detect_language  # noqa: E402

SHORT_ENGLISH = [
    "is this good", "Write a poem", "a cat", "sunset over sea", "Tell me a joke", "hi there", "a red chair",
    "drum and bass", "how r u", "calm piano", "pls fix my code", "a wooden table", "lo-fi beat", "jazz trio",
    "a dragon", "make it shorter", "summarise this", "what is love", "best pizza?", "explain gravity",
    "a low poly tree", "cyberpunk city at night", "happy birthday song", "a vase", "is it safe", "sad violin",
    "a golden ring", "rain on a window", "two dogs playing", "fix typos", "a bowl of ramen", "ocean waves",
    "translate to french", "a haiku on snow", "why is the sky blue", "list 3 fruits", "a mug", "epic trailer music",
    "robot dancing", "a steel sword",
]
OTHER = [
    ("Pourquoi le ciel est-il bleu ?", "fr"), ("¿Por qué el cielo es azul?", "es"), ("Warum ist der Himmel blau?", "de"),
    ("Почему небо голубое?", "ru"), ("なぜ空は青いのですか", "ja"), ("你好，请介绍一下你自己", "zh"), ("안녕하세요, 잘 지내세요?", "ko"),
    ("Scrivi una poesia sul mare d'inverno", "it"), ("Escreva um poema sobre o mar", "pt"), ("Schrijf een gedicht over de zee", "nl"),
    ("Napisz wiersz o morzu zimą", "pl"), ("Denizi anlatan bir şiir yaz", "tr"), ("اكتب قصيدة عن البحر", "ar"),
    ("समुद्र के बारे में एक कविता लिखो", "hi"), ("Viết một bài thơ về biển", "vi"), ("Напиши вірш про море взимку", "uk"),
    ("Skriv en dikt om havet på vintern", "sv"), ("Γράψε ένα ποίημα για τη θάλασσα", "el"), ("כתוב שיר על הים", "he"),
    ("เขียนกลอนเกี่ยวกับทะเล", "th"),
]


def old_rule(text: str) -> str:
    if sum(ch.isalpha() for ch in text) < 3:
        return "und"
    lang, _ = py3langid.classify(text)
    return "und" if lang in ("", "zxx") else lang


def score(rule, cases) -> tuple[int, int, int, float]:
    wrong = und = right = 0
    t0 = time.perf_counter()
    for text, want in cases:
        got = rule(text)
        if got == "und":
            und += 1
        elif got == want:
            right += 1
        else:
            wrong += 1
    return wrong, und, right, (time.perf_counter() - t0) / len(cases) * 1e6


def main() -> None:
    sets = {"short English": [(t, "en") for t in SHORT_ENGLISH], "other languages": OTHER}
    for cases in sets.values():  # warm up: models loaded, caches filled
        for text, _ in cases * 3:
            old_rule(text), detect_language(text)
    print(f"{'prompts':<16} {'rule':<28} {'wrong':>6} {'und':>5} {'right':>6} {'us/prompt':>10}")
    for name, cases in sets.items():
        for label, rule in (("old: best of 97, no threshold", old_rule), ("new: configured + threshold", detect_language)):
            wrong, und, right, us = score(rule, cases)
            print(f"{name + f' ({len(cases)})':<16} {label:<28} {wrong:>6} {und:>5} {right:>6} {us:>10.0f}")


if __name__ == "__main__":
    main()
