"""`demo_text`: an offline, CPU-only text "model" whose quality is a config knob.

It recognises a handful of intents (greeting, identity question, arithmetic, code, poem,
translation, comparison, list, how-to, explain, default), extracts the prompt's topic, and
writes an answer whose quality tier is chosen by config["quality"]:

* high (>= 0.75): relevant, well structured, correct arithmetic, Markdown in bullet/structured style;
* medium (>= 0.45): relevant but shorter and vaguer, with a slip or two (typo, buggy code, repeat);
* poor (>= 0.2): off-topic, repetitive, typos, wrong arithmetic;
* worst (< 0.2): near-gibberish.

Text streams word by word through on_text with config["token_delay_ms"] between chunks.
"""
from __future__ import annotations

import random
import re
from typing import Any

from models_adapter.base import (
    QUEUE_DEFAULT, Adapter, AdapterConfigError, GenerationRequest, GenerationResult, TextSink,
    register,
)

from . import demo_text_content as C
from .demo_common import cfg_float, maybe_fail, request_rng, sleep_ms
from .demo_text_compose import _pad, _trim, add_typos, build_high, gibberish, poor_answer, render
from .demo_text_parse import (
    _FOLLOWUP_RE, _LANG_RE, _lower_first, compare_items, detect_intent, extract_topic, find_arithmetic,
    parse_identity,
)

STYLES = ("concise", "verbose", "bullet", "structured", "rambling")


@register
class DemoTextAdapter(Adapter):
    """Config: quality (0..1, default 0.8), style (concise|verbose|bullet|structured|rambling),
    token_delay_ms (default 20), identity ("Name by Maker", optional), fail_rate (0..1, default 0)."""

    name = "demo_text"
    modalities = ("text",)
    queue = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.quality = cfg_float(self.config, "quality", 0.8)
        self.style = str(self.config.get("style") or "concise").lower()
        if self.style not in STYLES:
            raise AdapterConfigError(f"demo_text: unknown style {self.style!r}; use one of {', '.join(STYLES)}")
        self.delay_ms = cfg_float(self.config, "token_delay_ms", 20, 0, 5000)
        ident = self.config.get("identity")
        self.identity = parse_identity(str(ident)) if ident else ("", "")
        cfg_float(self.config, "fail_rate", 0.0)  # validate early

    def tier(self) -> str:
        q = self.quality
        return "high" if q >= 0.75 else "medium" if q >= 0.45 else "poor" if q >= 0.2 else "worst"

    def compose(self, request: GenerationRequest, rng: random.Random) -> tuple[str, str]:
        prompt = request.prompt or ""
        prev_user = next((t.content for t in reversed(request.history) if t.role == "user"), None)
        prev_topic = extract_topic(prev_user) if prev_user else ""
        intent = detect_intent(prompt)
        topic = extract_topic(prompt)
        followup = bool(prev_topic) and (bool(_FOLLOWUP_RE.match(prompt)) or not topic)
        if followup:
            topic = prev_topic
            if intent in ("default", "explain") and prev_user:
                intent = detect_intent(prev_user)
                if intent in ("greeting", "identity", "math"):
                    intent = "explain"
        ctx: dict[str, Any] = {"identity": self.identity, "prev_topic": prev_topic, "reveal": self.quality >= 0.6}
        if intent == "math":
            ctx["math"] = find_arithmetic(prompt)
        if intent == "translate":
            lm = _LANG_RE.search(prompt)
            ctx["lang"] = lm.group(1).title() if lm else "French"
            q = re.search(r"[\"“'‘](.+?)[\"”'’]", prompt)
            if q:
                phrase = q.group(1)
            else:
                phrase = re.sub(r"^(?:please\s+)?(?:translate|how do you say|say)\s+", "", prompt.strip(), flags=re.I)
                phrase = _LANG_RE.split(phrase)[0]
                phrase = re.split(r"[?.!]", phrase)[0].strip()
            ctx["phrase"] = phrase.strip() or "hello"
            topic = ctx["phrase"]
        if intent == "compare":
            ctx["compare"] = compare_items(prompt, topic)
            topic = " and ".join(ctx["compare"])
        tier = self.tier()
        if tier == "worst":
            return gibberish(rng, rng.randint(45, 80)), intent
        if tier == "poor":
            return _pad(poor_answer(intent, ctx, rng, self.style), rng, tier, topic), intent
        ans = build_high(intent, prompt, topic, rng, ctx)
        medium = tier == "medium"
        if medium:
            ans.intro = rng.choice(["Basically, ", "So, kind of, ", "Well, "]) + _lower_first(ans.intro)
            if ans.code and ans.code[0] == "python":
                task = next((k for k, v in C.CODE_TASKS.items() if v["python"] == ans.code[1]), None)
                if task:
                    ans.code = ("python", C.CODE_TASKS[task]["bug"])
        text = render(ans, self.style, topic, rng, medium)
        if prev_topic and followup or (prev_topic and intent not in ("greeting", "identity", "math")):
            if medium:
                text = "As I mentioned before, " + _lower_first(text) if not text.startswith("#") else text
            else:
                lead = f"As I said about {prev_topic}, " if followup else f"Moving on from {prev_topic}: "
                if text.startswith("## "):
                    head, _, rest = text.partition("\n\n")
                    text = f"{head}\n\n{lead}{rest[:1].lower() + rest[1:] if followup else rest}"
                else:
                    text = lead + (text[:1].lower() + text[1:] if followup else text)
        if medium:
            # a slip or two: typos, and sometimes a repeated sentence
            text = add_typos(text, rng, 0.02 + (0.75 - self.quality) * 0.08, min_count=1, keep=topic)
            last = text.split("\n\n")[-1]
            if rng.random() < 0.5 and not ans.code and not re.match(r"\s*(\d+\.|-)\s", last) and "\n" not in last:
                text += " " + re.split(r"(?<=[.!?])\s+", last)[0]
        text = _pad(text, rng, tier, topic)
        return _trim(text), intent

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        rng = request_rng(self.name, request, self.config)
        maybe_fail(rng, self.config, self.name)
        text, intent = self.compose(request, rng)
        chunks = re.findall(r"\S+\s*|\s+", text)
        for i, chunk in enumerate(chunks):
            if i:
                sleep_ms(self.delay_ms)
            on_text(chunk)
        return GenerationResult(text=text, meta={
            "output_tokens": len(chunks), "words": len(text.split()), "intent": intent,
            "quality": self.quality, "style": self.style})
