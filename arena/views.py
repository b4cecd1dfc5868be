"""Battle page and its JSON API. Thin: parse, call a service or selector, answer."""
from __future__ import annotations

import functools
import json
import mimetypes
from pathlib import Path
from typing import Any, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import close_old_connections, transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce, Now
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from arena.errors import ArenaError, BadRequest, TooLarge
from arena.models import MODALITY_CHOICES, Battle, Competitor, Generation, Vote, Voter
from arena.schemas import BattleCreateBody, OptOutBody, TurnBody, VoteBody, as_service_data, parse_body
from arena.services import pow as proof_of_work
from arena.services import ratelimits
from arena.selectors import battle_public_state, criteria_for, reveal, voter_recent_votes
from arena.services.battles import battle_continue, battle_create, battle_for_voter, battle_lookup, battle_owned
from arena.services.exclusions import vote_as_seen_by_voter
from arena.services.prompts import random_prompt
from arena.services.voters import voter_for_request, voter_set_release_opt_out
from arena.services.pow import ChallengeRequired
from arena.services.ratelimits import RateLimited
from arena.services.votes import vote_cast

MAX_BODY = 64 * 1024


def _json_api(view: Callable[..., Any]) -> Callable[..., JsonResponse]:
    """Turn ArenaError into a JSON 4xx with its message; anything else is our fault (500)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            result = view(request, *args, **kwargs)
        except ArenaError as e:
            body: dict[str, Any] = {"error": e.message}
            if isinstance(e, ChallengeRequired):
                body["pow"] = e.challenge
            response = JsonResponse(body, status=e.status)
            if isinstance(e, RateLimited):
                response["Retry-After"] = str(e.retry_after)
            return response
        if isinstance(result, JsonResponse):
            return result
        return JsonResponse(result)

    return wrapper


def _body(request: HttpRequest, schema):
    """The JSON body, validated against its declared schema (arena.schemas)."""
    try:
        raw = request.body
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE: refused before it is read
        raise TooLarge("The request is too large.") from None
    if len(raw) > MAX_BODY:
        raise TooLarge("The request is too large.")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The request body is not valid JSON.") from None
    return as_service_data(parse_body(schema, data))


def _modalities() -> list[dict[str, Any]]:
    """Each modality with its available models and the K choices its roster allows."""
    available = Competitor.objects.filter(active=True, healthy=True)
    counts = dict(available.values_list("modality").annotate(n=Count("pk")))
    # Blind battles draw only models with a sampling weight (arena.services.battles).
    blind = dict(available.filter(sampling_weight__gt=0).values_list("modality").annotate(n=Count("pk")))
    out = []
    for m, label in MODALITY_CHOICES:
        n, nb = counts.get(m, 0), blind.get(m, 0)
        out.append({
            "value": m, "label": label, "models": n,
            "max_k": min(nb, settings.ARENA_K_MAX) if nb >= settings.ARENA_K_MIN else 0,
            "criteria": [{"value": c, "label": c.replace("_", " ").capitalize()} for c in criteria_for(m)],
        })
    return out


@require_GET
def battle_page(request: HttpRequest):
    modalities = _modalities()
    context = {
        "modalities": modalities,
        "k_options": list(range(settings.ARENA_K_MIN, settings.ARENA_K_MAX + 1)),
        "k_default": settings.ARENA_K_DEFAULT,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "page_config": {
            "kDefault": settings.ARENA_K_DEFAULT,
            "kMin": settings.ARENA_K_MIN,
            "maxK": {m["value"]: m["max_k"] for m in modalities},
        },
        "release_opt_out": bool(getattr(voter_for_request(request, create=False), "release_opt_out", False)),
    }
    return render(request, "arena/battle.html", context)


@require_GET
def my_votes_page(request: HttpRequest):
    """The voter's own recent votes: revealed names, and whether each counted (and why not)."""
    voters = []
    me = voter_for_request(request, create=False)
    if me is not None:
        voters.append(me)
    if request.user.is_authenticated:
        voters += [v for v in Voter.objects.filter(user=request.user) if me is None or v.pk != me.pk]
    return render(request, "arena/me.html", {"votes": voter_recent_votes(voters=voters), "has_voter": bool(voters)})


@require_GET
def terms_page(request: HttpRequest):
    return render(request, "arena/terms.html", {"release_delay_days": getattr(settings, "ARENA_RELEASE_DELAY_DAYS", 30)})


@require_POST
@_json_api
def api_release_opt_out(request: HttpRequest):
    """`{"opt_out": true|false}`: whether this voter's conversations go into research releases."""
    data = _body(request, OptOutBody)
    opt_out = data.get("opt_out")
    if not isinstance(opt_out, bool):
        raise BadRequest("opt_out must be true or false.")
    voter = voter_set_release_opt_out(voter=voter_for_request(request), opt_out=opt_out)  # type: ignore[arg-type]
    return {"release_opt_out": voter.release_opt_out}


@require_POST
@_json_api
def api_battle_create(request: HttpRequest):
    data = _body(request, BattleCreateBody)
    # Limits first: a refused request creates nothing, not even the voter.
    identity = ratelimits.Identity.of(request, voter_for_request(request, create=False))
    ratelimits.check(action="battle", identity=identity)
    with transaction.atomic():  # a refused battle leaves no new voter behind either
        voter = voter_for_request(request)
        ratelimits.count(action="battle", identity=ratelimits.Identity(identity.network, voter, identity.account))
        battle = battle_create(
            voter=voter,
            modality=data.get("modality", "text"),
            prompt_text=data.get("prompt"),
            mode=data.get("mode"),
            k=data.get("k"),
            prompt_id=data.get("prompt_id"),
            named=data.get("models"),
        )
    return JsonResponse(battle_public_state(battle), status=201)


@require_GET
@_json_api
def api_battle_detail(request: HttpRequest, public_id: str):
    battle = battle_for_voter(public_id=public_id, voter=voter_for_request(request, create=False))
    return battle_public_state(battle)


@require_POST
@_json_api
def api_battle_turn(request: HttpRequest, public_id: str):
    data = _body(request, TurnBody)
    voter = voter_for_request(request, create=False)
    identity = ratelimits.Identity.of(request, voter)
    ratelimits.check(action="turn", identity=identity)
    battle = battle_for_voter(public_id=public_id, voter=voter)
    ratelimits.count(action="turn", identity=identity)
    battle_continue(battle=battle, voter=voter, prompt_text=data.get("prompt"))  # type: ignore[arg-type]
    battle.refresh_from_db()
    return JsonResponse(battle_public_state(battle), status=201)


@require_POST
async def api_battle_vote(request: HttpRequest, public_id: str) -> JsonResponse:
    """Votes come in bursts from many voters at once. Django would run every sync view of a
    process in ONE thread (thread_sensitive), so each vote waited for all before it; a vote
    touches nothing thread-bound, so it runs in a thread of the pool, beside other votes, on a
    connection from the database pool that it gives back when done."""
    if settings.ARENA_PARALLEL_VOTES:
        return await sync_to_async(_vote_in_pool_thread, thread_sensitive=False)(request, public_id)
    # Off: the thread of the other sync views (the in-process tests, whose uncommitted test
    # transaction lives on that thread's connection).
    return await sync_to_async(_vote, thread_sensitive=True)(request, public_id)


def _vote_in_pool_thread(request: HttpRequest, public_id: str) -> JsonResponse:
    try:
        return _vote(request, public_id)
    finally:
        close_old_connections()  # back to the pool (CONN_MAX_AGE=0 there), not kept by this thread


@_json_api
def _vote(request: HttpRequest, public_id: str):
    data = _body(request, VoteBody)
    found = battle_lookup(public_id)  # with its voter: the session's, in a vote of one's own
    voter = voter_for_request(request, create=False, known=found.voter if found is not None else None)
    identity = ratelimits.Identity.of(request, voter)
    ratelimits.check(action="vote", identity=identity)
    battle = battle_owned(found, voter)
    # Past the threshold, an anonymous voter's new vote needs a solved challenge (a retried
    # vote that is already stored is answered as before, without one).
    needs_pow = ratelimits.over_pow_threshold(identity) and not Vote.objects.filter(battle=battle).exists()
    if needs_pow:
        proof_of_work.require(battle=battle, voter=voter, answer=data.get("pow"))  # type: ignore[arg-type]
    ratelimits.count(action="vote", identity=identity)
    vote, created = vote_cast(battle=battle, voter=voter, data=data, network_hash=identity.network)  # type: ignore[arg-type]
    if created:
        ratelimits.count_pow_threshold(identity)
    counted, because = vote_as_seen_by_voter(vote)  # a fraud exclusion is not shown (shadow)
    body = {
        "battle": battle.public_id,
        "ranking": vote.ranking,
        "outcome": vote.outcome,
        "counted": counted,
        "excluded_because": because,
        "models": reveal(battle),
    }
    return JsonResponse(body, status=201 if created else 200)


@require_GET
@_json_api
def api_prompt_random(request: HttpRequest):
    modality = request.GET.get("modality", "text")
    if modality not in dict(MODALITY_CHOICES):
        raise BadRequest(f"Unknown modality {modality!r}.")
    p = random_prompt(modality=modality)
    return {"id": p.pk, "text": p.text, "category": p.category}


@require_GET
@_json_api
def api_competitors(request: HttpRequest):
    """The public roster for named side-by-side battles (names only, never adapter config)."""
    qs = Competitor.objects.filter(active=True)
    modality = request.GET.get("modality")
    if modality:
        qs = qs.filter(modality=modality)
    return {"models": [{"slug": c.slug, "model": c.name, "organization": c.organization, "modality": c.modality} for c in qs]}


@require_GET
def media(request: HttpRequest, name: str):
    """A generated file, only to the voter whose battle it belongs to (or anyone once voted)."""
    gen = Generation.objects.select_related("slot__battle").filter(media_name=name).first()
    if gen is None:
        raise Http404("No such file.")
    battle = gen.slot.battle
    voter = voter_for_request(request, create=False)
    own = voter is not None and voter.pk == battle.voter_id
    if battle.status != Battle.VOTED and not own:
        raise Http404("No such file.")
    path = Path(settings.MEDIA_ROOT) / name
    if not path.is_file():
        raise Http404("No such file.")
    if own and battle.status in (Battle.GENERATING, Battle.READY):
        # Evidence for the vote's listening check: this voter did load this clip (one UPDATE;
        # a player's range requests only add to the count).
        Generation.objects.filter(pk=gen.pk).update(
            fetch_count=F("fetch_count") + 1, first_fetched_at=Coalesce("first_fetched_at", Now())
        )
    response = FileResponse(path.open("rb"), content_type=gen.media_mime or mimetypes.guess_type(name)[0])
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


