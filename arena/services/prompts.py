"""Prompts: validation, language detection, and drawing one from a prompt set."""
from __future__ import annotations

import functools
import random

from django.conf import settings

from arena.errors import BadRequest, NotFound
from django.db.models import Count, Q

from arena.models import PREGENERATED, Competitor, Prompt

# py3langid (langid.py's model, numpy): ~0.05 ms a prompt where langdetect took ~6 ms of the
# request's CPU, deterministic, and more often right on short prompts (bench: 31 of 32 short
# prompts in 20 languages against langdetect's 28). Over all of its 97 languages, a three-word
# English prompt often scores highest as Icelandic, Scots Gaelic or Romanian: the identifier is
# restricted to the configured languages and its normalised probability must reach a threshold.
from py3langid.langid import MODEL_FILE, LanguageIdentifier


@functools.lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = [lang for lang in languages if lang in ident.nb_classes]
    if known:
        ident.set_languages(known)
    return ident


def detect_language(text: str) -> str:
    """ISO 639-1 code of the prompt's language when it is one of ARENA_LANGUAGES and the detector
    is at least ARENA_LANGUAGE_MIN_CONFIDENCE sure of it; otherwise "und"."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < 3 or not settings.ARENA_LANGUAGES:
        return "und"
    lang, prob = _identifier(tuple(settings.ARENA_LANGUAGES)).classify(text)
    if lang in ("", "zxx") or lang not in settings.ARENA_LANGUAGES or prob < settings.ARENA_LANGUAGE_MIN_CONFIDENCE:
        return "und"
    return lang


def clean_prompt_text(text: object) -> str:
    if not isinstance(text, str):
        raise BadRequest("The prompt must be text.")
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise BadRequest("Please write a prompt (it is empty).")
    limit = settings.ARENA_MAX_PROMPT_CHARS
    if len(text) > limit:
        raise BadRequest(f"The prompt is too long: {len(text)} characters, at most {limit}.")
    return text


def prompt_for_battle(*, text: object, modality: str, prompt_id: object = None, category: str | None = None) -> Prompt:
    """The set prompt the voter drew (if its text is unchanged), else a new voter prompt."""
    text = clean_prompt_text(text)
    if prompt_id not in (None, ""):
        try:
            drawn = Prompt.objects.filter(pk=int(prompt_id), modality=modality).first()  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("prompt_id must be a number.") from None
        if drawn is not None and drawn.text.strip() == text:
            return drawn
    return Prompt.objects.create(
        text=text, modality=modality, category=category or "other", language=detect_language(text), source=Prompt.SOURCE_USER
    )


def random_prompt(*, modality: str, rng: random.Random | None = None) -> Prompt:
    """A set prompt that at least two available models can answer (pre-generated models only
    answer prompts they have an output for)."""
    qs = Prompt.objects.filter(modality=modality, source=Prompt.SOURCE_SET, prompt_set__active=True)
    available = Competitor.objects.filter(modality=modality, active=True, healthy=True)
    live = available.exclude(adapter=PREGENERATED).count()
    if live < 2:
        qs = qs.annotate(
            answered=Count("pregenerated", filter=Q(pregenerated__competitor__in=available.filter(adapter=PREGENERATED)))
        ).filter(answered__gte=2 - live)
    count = qs.count()
    if count == 0:
        raise NotFound(f"There is no prompt set for {modality} yet.")
    return qs.order_by("pk")[(rng or random).randrange(count)]
