"""Prompt analysis for the `demo_text` adapter: intent, topic, identity questions, arithmetic."""
from __future__ import annotations

import ast
import operator
import random
import re

from . import demo_text_content as C

_IDENTITY_RE = re.compile(
    r"\b(who|what)\s+(are|r)\s+(you|u)\b|\bwhat\s+(model|llm|ai|system)\b|\bwhich\s+(model|llm|ai|company|lab|version)\b"
    r"|\bwho\s+(made|created|built|trained|developed|owns|makes)\s+(you|u)\b|\byour\s+(name|creator|maker|developer|company)\b"
    r"|\b(what|which)\s+(company|lab|organi[sz]ation|team|firm)\b.*\b(you|your)\b|\b(made|created|built|trained|developed)\s+you\b"
    r"|\bwhat('?s| is)\s+your\s+name\b|\bare\s+you\s+(gpt|chatgpt|claude|gemini|llama|an?\s+ai)\b|\bintroduce\s+yourself\b",
    re.I)
_GREETING_RE = re.compile(r"^\s*(hi|hello|hey|hiya|howdy|good\s+(morning|afternoon|evening)|greetings|yo)\b[\s!.,?]*(there)?[\s!.,?]*$", re.I)
_FOLLOWUP_RE = re.compile(r"^\s*(tell me more|more|go on|continue|why\??|elaborate|can you elaborate|and\??|what else|explain more|expand on that|say more)\b", re.I)
_LANG_RE = re.compile(r"\b(?:in|into|to)\s+(french|spanish|german|italian)\b", re.I)

_LEAD_RE = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+|would you\s+|i want you to\s+|i'd like you to\s+|now\s+|ok(?:ay)?,?\s+"
    r"|i\s+(?:had|have|am|was|think|feel|saw|got|need|love|like)\s+|i'm\s+|my\s+)*"
    r"(?:explain(?:\s+to\s+me)?|describe|summari[sz]e|tell me(?:\s+more)?(?:\s+about)?|what(?:\s+is|\s+are|\s+was|\s+were|'s)"
    r"|who\s+(?:is|was)|why\s+(?:is|are|do|does|did)|how\s+(?:do\s+i|can\s+i|should\s+i|would\s+i|to|does|do|did|is|are)"
    r"|write(?:\s+me)?(?:\s+an?)?(?:\s+short|\s+long|\s+little)?(?:\s+python|\s+javascript|\s+js)?"
    r"(?:\s+poem|\s+haiku|\s+sonnet|\s+limerick|\s+story|\s+song|\s+essay|\s+function|\s+program|\s+script|\s+code|\s+snippet)?"
    r"(?:\s+in\s+\w+)?(?:\s+(?:about|on|that|which|to|for))?"
    r"|give\s+me(?:\s+an?)?(?:\s+list\s+of)?(?:\s+\d+)?(?:\s+(?:ideas|tips|examples|reasons|ways|facts|things))?(?:\s+(?:for|about|on|to|of))?"
    r"|list(?:\s+(?:\d+|three|four|five|six|seven|eight|nine|ten))?(?:\s+(?:ideas|tips|examples|reasons|ways|facts|things))?(?:\s+(?:for|about|on|to|of))?"
    r"|compare|translate)?\s*",
    re.I)
_CUT_RE = re.compile(r"\s+(?:to\s+an?\s+|for\s+an?\s+|like\s+i'?m|in\s+simple|in\s+\d+\s+words|in\s+(?:python|javascript|js)\b|briefly|please|step\s+by\s+step)|[?.!,;:]", re.I)


def parse_identity(identity: str) -> tuple[str, str]:
    """"Aurora by Northwind Labs", "Aurora-7B, made by Northwind Labs", "Lumen from Brightfield AI"
    -> (name, maker); a bare name gives (name, "")."""
    m = re.match(r"^\s*(.+?)[\s,;]+(?:(?:an?\s+)?(?:model\s+)?(?:made|built|created|developed|trained)\s+)?(?:by|from)\s+(.+?)[\s.]*$",
                 identity, re.I)
    return (m.group(1).strip(" ,"), m.group(2).strip()) if m else (identity.strip(), "")


def extract_topic(prompt: str) -> str:
    text = prompt.strip()
    text = _LEAD_RE.sub("", text, count=1)
    text = re.sub(r"^(?:an?\s+)?(?:short\s+|little\s+|long\s+|quick\s+)?(?:story|tale|fable|poem|haiku|song|summary|overview|"
                  r"essay|list)\s+(?:about|of|on|for)\s+", "", text, flags=re.I)
    text = _CUT_RE.split(text, maxsplit=1)[0]
    ws = text.split()
    while ws and ws[0].lower() in C.STOP:
        ws.pop(0)
    while ws and ws[-1].lower() in C.STOP:
        ws.pop()
    ws = ws[:8]
    while len(ws) > 1 and ws[-1].lower() in C.STOP:
        ws.pop()
    if not ws:
        content = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", prompt) if w.lower() not in C.STOP]
        ws = content[:3]
    return " ".join(ws)


# ---------------------------------------------------------------- arithmetic
_WORD_OPS = [(r"\bmultiplied\s+by\b", "*"), (r"\btimes\b", "*"), (r"\bdivided\s+by\b", "/"),
             (r"\bover\b", "/"), (r"\bplus\b", "+"), (r"\bminus\b", "-"), (r"\bto\s+the\s+power\s+of\b", "^"),
             (r"\bsquared\b", "^2")]
_EXPR_RE = re.compile(r"[(\d][\d\s.+\-*/()x×÷^−]*[\d)]")
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(b) > 64 or abs(a) > 1e6):
            raise ValueError("too big")
        return _BINOPS[type(node.op)](a, b)
    raise ValueError("unsupported")


def find_arithmetic(prompt: str) -> tuple[str, float | None] | None:
    """(expression as written, value or None for division by zero) or None if no arithmetic."""
    text = prompt
    for pat, rep in _WORD_OPS:
        text = re.sub(pat, rep, text, flags=re.I)
    for m in _EXPR_RE.finditer(text):
        expr = m.group(0).strip()
        if not re.search(r"\d\s*[+\-*/x×÷^−]\s*[(\d-]", expr):
            continue
        py = expr.replace("×", "*").replace("x", "*").replace("÷", "/").replace("^", "**").replace("−", "-")
        try:
            value = _eval(ast.parse(py, mode="eval").body)
        except ZeroDivisionError:
            return expr, None
        except (SyntaxError, ValueError, OverflowError, TypeError):
            continue
        pretty = re.sub(r"\s*([+\-*/x×÷^−])\s*", r" \1 ", expr).replace("*", "×").replace(" x ", " × ")
        return re.sub(r"\s+", " ", pretty).strip(), value
    return None


def fmt_num(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}".replace(",", "") if abs(v) < 1e15 else f"{v:.6g}"
    return f"{v:.4f}".rstrip("0").rstrip(".")


def wrong_number(rng: random.Random, v: float) -> str:
    if isinstance(v, float) and not v.is_integer():
        return fmt_num(round(v * rng.choice([1.1, 0.9, 2, 0.5]), 2) + rng.choice([1, -1]))
    iv = int(v)
    s = str(abs(iv))
    if len(s) >= 2 and s[-1] != s[-2] and rng.random() < 0.5:
        s = s[:-2] + s[-1] + s[-2]
        w = int(s) * (1 if iv >= 0 else -1)
    else:
        w = iv + rng.choice([-11, -10, -3, -1, 1, 2, 9, 10, 12])
    if w == iv:
        w = iv + 7
    return str(w)


# ---------------------------------------------------------------- answer model


def _lower_first(s: str) -> str:
    return s if re.match(r"I\b|I'|[A-Z]{2}|\d", s) else s[:1].lower() + s[1:]


def _fill(s: str, t: str) -> str:
    return s.replace("{t}", t).replace("{T}", t[:1].upper() + t[1:])


def detect_intent(prompt: str) -> str:
    p = prompt.lower()
    if _IDENTITY_RE.search(prompt):
        return "identity"
    if _GREETING_RE.match(prompt):
        return "greeting"
    if foreign_greeting(prompt):
        return "foreign_greeting"
    arith = find_arithmetic(prompt)
    if arith is not None and (re.search(r"[*x×+^÷]", arith[0]) or re.search(r"\b(what\s+is|what's|whats|calculate|compute|solve|equals?|how much is)\b|=", p)):
        return "math"
    if re.search(r"\b(compare|comparison|versus|vs\.?|difference between)\b", p) or re.search(r"\bshould i (use|learn|pick|choose|buy) .+ or .+", p):
        return "compare"
    if re.search(r"\b(code|function|program|script|snippet|python|javascript|implement|algorithm|regex|sql)\b", p):
        return "code"
    if re.search(r"\b(poem|haiku|sonnet|limerick|poetry|verse|rhyme)\b", p):
        return "poem"
    if re.search(r"\b(story|tale|fable)\b", p):
        return "story"
    if re.search(r"\btranslat|\bhow do you say\b|\bsay .+ in (french|spanish|german|italian)\b", p):
        return "translate"
    if re.search(r"\b(list|ideas|tips|examples|reasons|ways to|top \d+|give me \d+)\b", p):
        return "list"
    if re.search(r"\bhow (do|can|should|would) i\b|\bhow to\b|\bsteps?\b|\bguide\b", p):
        return "howto"
    if re.search(r"\b(explain|what is|what are|what's|why|how does|how do|describe|tell me about|who (is|was))\b", p):
        return "explain"
    return "default"


def _trim_stop(ws: list[str]) -> str:
    ws = list(ws)
    while len(ws) > 1 and ws[0].lower() in C.STOP:
        ws.pop(0)
    while len(ws) > 1 and ws[-1].lower() in C.STOP:
        ws.pop()
    return " ".join(ws)


FOREIGN_GREETINGS = {
    "french": (r"\b(bonjour|salut|bonsoir|ça va|comment vas-tu|comment allez-vous)\b",
               "Bonjour ! Je vais très bien, merci. Et vous ? Je peux vous aider à expliquer une idée, écrire un poème "
               "ou un peu de code, ou préparer un plan étape par étape. De quoi voulez-vous parler aujourd'hui ? "
               "Je peux aussi répondre en anglais si vous préférez."),
    "spanish": (r"\b(hola|buenos días|buenas tardes|qué tal|cómo estás)\b",
                "¡Hola! Estoy muy bien, gracias. ¿Y tú? Puedo ayudarte a explicar ideas, escribir un poema o un poco de "
                "código, o preparar un plan paso a paso. ¿De qué te gustaría hablar hoy? También puedo responder en inglés si lo prefieres."),
    "german": (r"\b(hallo|guten (?:tag|morgen|abend)|wie geht's|wie geht es dir)\b",
               "Hallo! Mir geht es gut, danke. Und Ihnen? Ich kann Ideen erklären, ein Gedicht oder etwas Code schreiben "
               "oder einen Plan Schritt für Schritt erstellen. Worüber möchten Sie heute sprechen? Ich kann auch gern auf Englisch antworten."),
}


def foreign_greeting(prompt: str) -> str | None:
    if len(prompt.split()) > 8:
        return None
    for lang, (pat, _) in FOREIGN_GREETINGS.items():
        if re.search(pat, prompt, re.I):
            return lang
    return None


def compare_items(prompt: str, topic: str) -> tuple[str, str]:
    pats = [r"compare\s+(.+?)\s+(?:and|with|to|vs\.?|versus)\s+(.+)", r"difference between\s+(.+?)\s+and\s+(.+)",
            r"(.+?)\s+(?:vs\.?|versus)\s+(.+)", r"(?:use|learn|pick|choose|buy)\s+(.+?)\s+or\s+(.+)", r"(.+?)\s+or\s+(.+)"]
    for pat in pats:
        m = re.search(pat, prompt, re.I)
        if m:
            a, b = (re.split(r"[?.!,;:]", x)[0].strip() for x in m.groups())
            a = _trim_stop(a.split()[-3:])
            b = _trim_stop(re.split(r"\s+(?:in|as|for|when|if|on)\s+", b, maxsplit=1, flags=re.I)[0].split()[:3])
            if a and b:
                return a, b
    return topic or "the first option", "the alternative"
