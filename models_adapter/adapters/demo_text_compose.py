"""Answer writing for the `demo_text` adapter: high/medium answers, styles, poor and gibberish text."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from . import demo_text_content as C
from .demo_text_parse import FOREIGN_GREETINGS, _fill, _lower_first, fmt_num, foreign_greeting, wrong_number

@dataclass
class Answer:
    title: str
    intro: str
    points: list[tuple[str, str]] = field(default_factory=list)
    ordered: bool = False
    closing: str = ""
    code: tuple[str, str] | None = None  # (language, source)
    table: list[list[str]] | None = None  # header row first
    lines: list[str] | None = None  # verbatim lines (poems)
    prose: bool = False  # points are paragraphs of a story, never a list
    plain: bool = False  # no style decoration at all (e.g. a reply in another language)
    chatty: bool = True  # verbose style may add "I hope this gives you a thorough picture of ..."


def build_high(intent: str, prompt: str, topic: str, rng: random.Random, ctx: dict[str, Any]) -> Answer:
    """The well-made answer for this intent (the medium tier then thins it out)."""
    ans = _build_high(intent, prompt, topic, rng, ctx)
    if intent in ("greeting", "identity", "math", "translate", "foreign_greeting"):
        ans.chatty = False
    return ans


def _build_high(intent: str, prompt: str, topic: str, rng: random.Random, ctx: dict[str, Any]) -> Answer:
    t = topic or "this"
    T = t[:1].upper() + t[1:]
    if intent == "greeting":
        return Answer("Hello!", "Hello! It's nice to meet you.",
                      [("Explain", "I can explain ideas in plain language."),
                       ("Create", "I can draft poems, stories and short pieces of code."),
                       ("Plan", "I can turn a goal into clear, numbered steps.")],
                      closing="What would you like to work on today?")
    if intent == "identity":
        name, maker = ctx["identity"]
        if name and ctx["reveal"]:
            who = f"I'm {name}, a language model built by {maker}." if maker else f"I'm {name}, a language model."
            return Answer("About me", who,
                          [("Purpose", "I'm designed to answer questions, explain ideas and help with writing and code."),
                           ("Limits", "I can make mistakes, so please double-check important facts.")],
                          closing="How can I help you today?")
        return Answer("About me", "I'm an AI assistant taking part in a blind comparison.",
                      [("Why no name", "I'd rather not say which model I am, so you can judge my answers on their own merits."),
                       ("What I do", "I can explain ideas, write code and poems, and help you plan tasks.")],
                      closing="What would you like to ask?")
    if intent == "math":
        expr, value = ctx["math"]
        if value is None:
            return Answer("Calculation", f"**{expr}** is undefined: you cannot divide by zero.",
                          [("Why", "Division asks how many times the divisor fits; zero fits infinitely often, so no single number works.")],
                          closing="If you meant a different divisor, send it and I'll compute it.")
        ans = fmt_num(value)
        pts = []
        m = re.fullmatch(r"(\d+) × (\d+)", expr)
        if m and int(m.group(2)) >= 10:
            a, b = int(m.group(1)), int(m.group(2))
            tens, ones = b - b % 10, b % 10
            pts = [("Split", f"Break {b} into {tens} + {ones}."),
                   ("Multiply", f"{a} × {tens} = {a * tens} and {a} × {ones} = {a * ones}."),
                   ("Add", f"{a * tens} + {a * ones} = {a * b}.")]
        else:
            pts = [("Compute", f"Evaluating {expr} step by step gives {ans}."),
                   ("Check", "Doing the operation in reverse confirms the result.")]
        return Answer("Calculation", f"{expr} = **{ans}**.", pts, ordered=True,
                      closing=f"So the answer is {ans}.")
    if intent == "code":
        low = prompt.lower()
        lang = "javascript" if re.search(r"\b(javascript|js|node)\b", low) else "python"
        task = "linked_list" if "linked list" in low else "csv" if "csv" in low else \
            next((C.CODE_KEYWORDS[w] for w in re.findall(r"[a-z]+", low) if w in C.CODE_KEYWORDS), None)
        if task:
            src = C.CODE_TASKS[task][lang]
        else:
            fname = "_".join(re.findall(r"[a-z]+", t.lower())[:3]) or "process"
            if lang == "python":
                src = (f"def {fname}(items: list[str]) -> list[str]:\n    \"\"\"Handle {t}: strip blanks and normalise case.\"\"\"\n"
                       "    return [item.strip().lower() for item in items if item.strip()]\n\n\n"
                       f"print({fname}([' Alpha', '', 'Beta ']))  # ['alpha', 'beta']")
            else:
                parts = fname.split("_")
                jname = parts[0] + "".join(p.title() for p in parts[1:])
                src = (f"function {jname}(items) {{\n  // Handle {t}: strip blanks and normalise case.\n"
                       "  return items.map((s) => s.trim().toLowerCase()).filter(Boolean);\n}")
        return Answer(f"Code: {T}", f"Here is a clean {'JavaScript' if lang == 'javascript' else 'Python'} solution to \"{t}\".",
                      [("Approach", "The function does one job and returns a new value instead of changing its input."),
                       ("Edge cases", "Empty and unusual inputs are handled explicitly."),
                       ("Usage", "The last line shows a quick example you can run.")],
                      code=(lang, src), closing="Let me know if you want tests or a different language.")
    if intent == "foreign_greeting":
        lang = foreign_greeting(prompt) or "french"
        return Answer("", FOREIGN_GREETINGS[lang][1], plain=True)
    if intent == "story":
        st = t if re.match(r"(a|an|the|my|our|his|her|their)\b", t, re.I) else f"the {t}"
        beats = [_fill(s, st) for s in C.STORY_BEATS]
        return Answer(f"{T}: a short story", beats[0], [("", b) for b in beats[1:]], prose=True,
                      closing=f"The end. I kept the story about {t} short, with a clear beginning, middle and end.")
    if intent == "poem" and "haiku" in prompt.lower():
        lines = [f"{T} in soft light,", rng.choice(["quiet moments drift and pass,", "a small breath of wind moves on,"]),
                 rng.choice(["the day breathes slowly.", "and the world is still."])]
        return Answer(f"{T}", f"Here is a haiku about {t}:", lines=lines,
                      closing=f"A haiku keeps to three short lines, so the image of {t} has to carry the feeling.")
    if intent == "poem":
        couplets = rng.sample(C.POEM_COUPLETS, 4)
        lines = []
        for i, (a, b) in enumerate(couplets):
            lines += [_fill(a, t), _fill(b, t)]
            if i == 1:
                lines.append("")
        return Answer(f"{T}", f"Here is a short poem about {t}:", lines=lines,
                      closing=f"I kept the rhymes in couplets so the poem about {t} reads aloud smoothly.")
    if intent == "translate":
        lang = ctx["lang"] or "French"
        table = C.TRANSLATIONS[lang.lower()]
        phrase = ctx["phrase"]
        if phrase.lower() in table:
            return Answer("Translation", f"In {lang}, \"{phrase}\" is **\"{table[phrase.lower()]}\"**.",
                          [("Usage", "This is the form you would use in everyday conversation."),
                           ("Tip", "Pronunciation matters as much as spelling, so listen to a native speaker if you can.")],
                          closing=f"Want more {lang} phrases?")
        known = [(w, table[w]) for w in phrase.lower().split() if w in table]
        pts = [(w, f"\"{w}\" → \"{tr}\"") for w, tr in known] or [("Note", f"I don't have a reliable {lang} rendering of every word in \"{phrase}\".")]
        return Answer("Translation", f"Here is a word-by-word guide to \"{phrase}\" in {lang}.", pts,
                      closing="For a full sentence, word order may change, so treat this as a starting point.")
    if intent == "compare":
        a, b = ctx["compare"]
        table = [["Aspect", a, b]]
        pts = []
        for aspect, values in C.COMPARE_ASPECTS:
            va, vb = rng.sample(values, 2)
            table.append([aspect, va, vb])
            pts.append((aspect, f"On {aspect.lower()}, {a} is {va}, while {b} is {vb}."))
        return Answer(f"{a} vs {b}", f"Both {a} and {b} are reasonable choices; the right one depends on your goal.",
                      pts[:3], table=table,
                      closing="If you want the safe default, pick the one whose strengths match what you do most often; try both on a small task first.")
    if intent == "list":
        m = re.search(r"\b(\d+|three|four|five|six|seven|eight|nine|ten)\b", prompt, re.I)
        numbers = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
        n = min(8, max(3, (int(m.group(1)) if m.group(1).isdigit() else numbers[m.group(1).lower()]) if m else 5))
        facts = next((v for k, v in C.FACTS.items() if k in t.lower()), [])
        items = [(f"Tip {i + 1}", f) for i, f in enumerate(facts[:n])]
        items += [(k, _fill(s, t)) for k, s in rng.sample(C.LIST_ITEMS, n - len(items))]
        return Answer(f"{n} ideas: {T}", f"Here are {n} practical ideas for {t}:", items, ordered=True,
                      closing="Pick one or two to start with; consistency matters more than doing everything at once.")
    if intent == "howto":
        return Answer(f"How to {t}", f"Here is a reliable way to {t}, step by step.",
                      [(k, _fill(s, t)) for k, s in C.HOWTO_STEPS[:5]], ordered=True,
                      closing="Take your time on the first attempt; it gets much easier the second time.")
    facts = next((v for k, v in C.FACTS.items() if k in t.lower() or k in prompt.lower()), None)
    if intent == "explain":
        pts = [(lab, _fill(s, t)) for lab, s in C.EXPLAIN_POINTS]
        if facts:
            pts = [(f"Key fact {i + 1}", f) for i, f in enumerate(facts)] + pts[2:3]
        else:
            pts = rng.sample(pts, 4)
        return Answer(T, f"{T} is easiest to understand if we start from the core idea and build up.", pts,
                      closing=f"In short, {t} follows a clear logic once you see the main pieces.")
    pts = [(lab, _fill(s, t)) for lab, s in C.DEFAULT_POINTS]
    asked = prompt.strip().endswith("?") or re.match(r"\s*(what|which|who|how|why|when|where|should|can|could|is|are|do|does)\b", prompt, re.I)
    intro = f"Good question about {t}. Here's a clear way to think about it." if asked else f"Thanks for sharing that about {t}. Let's think it through."
    return Answer(T, intro, pts,
                  closing=f"If you tell me more about your situation, I can tailor the advice on {t}.")


def render(ans: Answer, style: str, topic: str, rng: random.Random, medium: bool) -> str:
    out: list[str] = []
    if ans.plain:
        return ans.intro
    md = style in ("bullet", "structured") and not medium
    points = ans.points[:2] if medium else ans.points
    if md:
        out.append(f"## {ans.title}")
    intro = ans.intro
    if style == "rambling":
        intro = rng.choice(["Oh, okay, so, ", "Well, hmm, let me think, ", "Right, so, basically, "]) + _lower_first(intro)
    out.append(intro)
    if ans.lines:
        poem = ans.lines[:4] if medium else ans.lines
        out.append("\n".join(poem).replace("\n\n\n", "\n\n"))
    elif points and ans.prose:
        out += [v for _, v in points]
    elif points:
        if md:
            out.append("\n".join(f"{i + 1}. **{k}:** {v}" if ans.ordered else f"- **{k}:** {v}" for i, (k, v) in enumerate(points)))
        elif style in ("bullet", "structured") or ans.ordered:
            out.append("\n".join(f"{i + 1}. {v}" if ans.ordered else f"- {v}" for i, (k, v) in enumerate(points)))
        elif style == "verbose":
            conn = ["First,", "Beyond that,", "It is also worth noting that", "Moreover,", "Finally,"]
            out += [f"{conn[min(i, len(conn) - 1)]} {_lower_first(v)}" for i, (_, v) in enumerate(points)]
        elif style == "rambling":
            fill = [", and, you know, ", " — which, honestly, reminds me of something else entirely — ", ", and also, ", ", I mean, "]
            s = points[0][1]
            for i, (_, v) in enumerate(points[1:]):
                s = s.rstrip(".") + fill[i % len(fill)] + _lower_first(v)
            out.append(s)
        else:
            out.append(" ".join(v for _, v in points[:3]))
    if ans.code:
        lang, src = ans.code
        out.append(f"```{lang}\n{src}\n```")
    if ans.table and style == "structured" and not medium:
        head, *rows = ans.table
        tbl = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
        out.append("\n".join(tbl))
    if not medium and ans.closing:
        out.append(f"**Bottom line:** {ans.closing}" if md else ans.closing)
        if style == "verbose" and ans.chatty:
            out.append(f"I hope this gives you a thorough picture of {topic or 'the question'}; feel free to ask a follow-up question.")
        if style == "rambling":
            out.append("Anyway, that's roughly it, I think, more or less.")
    return "\n\n".join(p for p in out if p)


def add_typos(text: str, rng: random.Random, rate: float, min_count: int = 0, keep: str = "") -> str:
    """Typos in prose only: fenced code blocks are left intact (a medium model's code has its own bug)."""
    parts = re.split(r"(```.*?```)", text, flags=re.S)
    if len(parts) > 1:
        prose = "\x00".join(parts[0::2])
        prose = add_typos(prose, rng, rate, min_count, keep).split("\x00")
        parts[0::2] = prose
        return "".join(parts)
    toks = re.split(r"(\s+)", text)
    protect = {w.lower() for w in re.findall(r"[A-Za-z]+", keep)}
    idx = [i for i, w in enumerate(toks) if re.fullmatch(r"[A-Za-z]{4,}[.,]?", w) and w.rstrip(".,").lower() not in protect]
    chosen = [i for i in idx if rng.random() < rate]
    if len(chosen) < min_count and idx:
        chosen += rng.sample(idx, min(min_count, len(idx)))
    for i in sorted(set(chosen)):
        w = toks[i]
        core, tail = (w[:-1], w[-1]) if w[-1] in ".," else (w, "")
        j = rng.randrange(1, len(core) - 1)
        op = rng.randrange(3)
        if op == 0:
            core = core[:j] + core[j + 1] + core[j] + core[j + 2:]
        elif op == 1:
            core = core[:j] + core[j + 1:]
        else:
            core = core[:j] + core[j] + core[j:]
        toks[i] = core + tail
    return "".join(toks)


def gibberish(rng: random.Random, n: int) -> str:
    out = []
    for i in range(n):
        w = "".join(rng.choice(C.GIBBER_SYLLABLES) for _ in range(rng.randint(1, 3)))
        if i and rng.random() < 0.12:
            w += rng.choice([".", ",", "!!", " ...", "?"])
        if rng.random() < 0.08:
            w = w.upper()
        out.append(w)
    return " ".join(out)


def poor_answer(intent: str, ctx: dict[str, Any], rng: random.Random, style: str) -> str:
    off = rng.choice(C.OFF_TOPICS)
    sents = [_fill(s.replace("{o}", off).replace("{O}", off[:1].upper() + off[1:]), off) for s in rng.sample(C.OFF_SENTENCES, 4)]
    lead = {"math": None, "code": "here is code:", "greeting": "hello hello hello.",
            "identity": "i am a helpful asistant that know many thing."}.get(intent, "Sure i can answer.")
    parts = []
    if intent == "math":
        expr, value = ctx["math"]
        parts.append(f"The answer is {wrong_number(rng, value) if value is not None else '0'}, becuse numbers.")
    elif lead:
        parts.append(lead)
    if intent == "code":
        lang_src = C.CODE_TASKS[rng.choice(sorted(C.CODE_TASKS))]["bug"]
        parts.append(lang_src + "\n")
    if ctx.get("prev_topic"):
        parts.append(f"As I said about {off}, it is the same thing again.")
    parts += sents + [sents[0], sents[0]]
    text = " ".join(parts)
    if style in ("bullet", "structured"):
        text = "\n".join("- " + s for s in re.split(r"(?<=[.!?:])\s+", text))
    return add_typos(text, rng, 0.15)


def _pad(text: str, rng: random.Random, tier: str, topic: str) -> str:
    fillers = {
        "high": [f"Feel free to ask a follow-up if anything about {topic or 'this'} is unclear.",
                 "I'm happy to go deeper on any of these points or give a concrete example."],
        "medium": ["Anyway, that is basically the gist of it.", "There is more to it but that is the main part."],
    }.get(tier, ["this is the thing.", "yes it is."])
    i = 0
    while len(text.split()) < 40 and i < 6:
        text += ("\n\n" if tier in ("high", "medium") else " ") + fillers[i % len(fillers)]
        i += 1
    return text


def _trim(text: str, limit: int = 200) -> str:
    if len(text.split()) <= limit:
        return text
    paras = text.split("\n\n")
    while len(paras) > 2 and len("\n\n".join(paras).split()) > limit:
        # drop the longest non-code, non-first paragraph
        cand = [i for i in range(1, len(paras)) if not paras[i].startswith("```")]
        if not cand:
            break
        paras.pop(max(cand, key=lambda i: len(paras[i])))
    return "\n\n".join(paras)
