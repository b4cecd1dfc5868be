"""Proof of work for anonymous voters past a threshold of votes (no third-party captcha).

The server hands out a stateless signed challenge (django.core.signing: the battle, the voter,
the difficulty, a random nonce and the time); the browser (static/arena/pow.js) finds a
`solution` such that SHA-256("<challenge>:<solution>") starts with `difficulty` zero bits and
sends both with the vote. The server checks the signature and age, that the challenge is for
this battle and voter, the hash, and that it was not used before (a cache entry per nonce for as
long as the challenge lives): each solved challenge buys exactly one vote.
"""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from arena.errors import ArenaError, BadRequest
from arena.models import Battle, Voter

SALT = "arena.pow"
USED_KEY = "arena:pow:used:{}"


class ChallengeRequired(ArenaError):
    """428 Precondition Required, with a fresh challenge in the body (`pow`)."""

    status = 428

    def __init__(self, message: str, challenge: dict):
        super().__init__(message)
        self.challenge = challenge


def challenge_for(*, battle: Battle, voter: Voter) -> dict:
    difficulty = settings.ARENA_POW_DIFFICULTY
    token = signing.dumps(
        {"b": battle.public_id, "v": voter.public_id, "d": difficulty, "n": secrets.token_hex(12)},
        salt=SALT, compress=False,
    )
    return {"challenge": token, "difficulty": difficulty, "algorithm": "sha256-leading-zero-bits"}


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def solves(challenge: str, solution: str, difficulty: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{solution}".encode()).digest()
    return leading_zero_bits(digest) >= difficulty


def require(*, battle: Battle, voter: Voter, answer: object) -> None:
    """Accept a solved, fresh, unused challenge for this battle and voter; else raise
    ChallengeRequired with a new one (or BadRequest for a malformed answer). Uses the challenge
    up: call it only once the vote is otherwise valid."""
    fresh = challenge_for(battle=battle, voter=voter)
    if answer in (None, "", {}):
        raise ChallengeRequired(
            "Many votes came from this browser or network: your browser has to solve a small "
            "puzzle before this vote (it takes a second or two).",
            fresh,
        )
    if not isinstance(answer, dict) or not isinstance(answer.get("challenge"), str) or not isinstance(answer.get("solution"), str):
        raise BadRequest('pow must be {"challenge": "...", "solution": "..."}.')
    token, solution = answer["challenge"], answer["solution"]
    if len(token) > 512 or len(solution) > 32:
        raise BadRequest("The puzzle answer is too long.")
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.ARENA_POW_TTL_S)
    except signing.SignatureExpired:
        raise ChallengeRequired("The puzzle expired; your browser will solve a new one.", fresh) from None
    except signing.BadSignature:
        raise ChallengeRequired("That puzzle did not come from this server; your browser will solve a new one.", fresh) from None
    if data.get("b") != battle.public_id or data.get("v") != voter.public_id:
        raise ChallengeRequired("That puzzle was for another battle; your browser will solve a new one.", fresh)
    if not solves(token, solution, int(data.get("d", 0))):
        raise ChallengeRequired("The puzzle answer is wrong; your browser will solve a new one.", fresh)
    # Single use: the first request to claim the nonce wins (cache.add is atomic in Redis).
    if not cache.add(USED_KEY.format(data["n"]), 1, timeout=settings.ARENA_POW_TTL_S + 60):
        raise ChallengeRequired("That puzzle was already used; your browser will solve a new one.", fresh)
