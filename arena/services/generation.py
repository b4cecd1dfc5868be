"""Generating the outputs of a battle: queue one task per slot, run the adapter, stream the
chunks to the battle's WebSocket group, save the output, and move the battle on.

The same `run_generation` runs in a Celery worker (queue chosen by the adapter: default, api
or gpu) or, on the embedded default, in a thread pool of the web process.
"""
from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F
from django.utils import timezone

from arena.models import PREGENERATED, Battle, Competitor, Generation, PregeneratedOutput
from arena.services.events import battle_group, flush, publish_chunk, publish_on_commit
from arena.services.partials import partial_key
from models_adapter.base import AdapterError, GenerationRequest, Turn as ChatTurn, adapter_class, build_adapter
from models_adapter.media import media_duration_s

log = logging.getLogger(__name__)

# After this many failures in a row a competitor is left out of new battles.
UNHEALTHY_AFTER = 3
VOID_MESSAGE = "A model failed to answer, so this battle cannot be judged. Start a new round."

_pool: ThreadPoolExecutor | None = None

EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3", "video/mp4": ".mp4", "video/webm": ".webm", "model/gltf-binary": ".glb",
    "model/gltf+json": ".gltf",
}


_HEADER = re.compile(r"^#{1,6}\s", re.M)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_counts(text: str) -> dict[str, int]:
    """The four LMArena style features of an answer (for style-controlled leaderboards)."""
    return {
        "tokens": len(text.split()),
        "headers": len(_HEADER.findall(text)),
        "lists": len(_LIST.findall(text)),
        "bold": len(_BOLD.findall(text)),
    }


def background(fn) -> None:
    """Run fn in the web process's thread pool (embedded mode: no Celery worker)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="arena-bg")
    # In the caller's context: the request id of its log lines goes along (config/requestid.py).
    _pool.submit(contextvars.copy_context().run, _closing(fn))


def _closing(fn):
    def run():
        from django.db import connection

        try:
            fn()
        except Exception:  # the pool would swallow it silently
            log.exception("background task failed")
        finally:
            connection.close()

    return run


def enqueue_turn(*, turn_id: int, generations: list[Generation] | None = None) -> None:
    """Queue a generation task per slot of the turn (called after the turn is committed).
    `generations`: the turn's rows when the caller has them (with slot.competitor loaded)."""
    from arena.tasks import generate

    gens = generations if generations is not None else (
        Generation.objects.filter(turn_id=turn_id).select_related("slot__competitor")
    )
    for gen in gens:
        comp = gen.slot.competitor
        if settings.ARENA_INPROCESS_TASKS:
            background(lambda pk=gen.pk: _run_safely(pk))
        else:
            try:
                queue = adapter_class(comp.adapter).queue_for(comp.adapter_config)
            except AdapterError:
                queue = settings.CELERY_TASK_DEFAULT_QUEUE
            generate.apply_async(args=[gen.pk], queue=queue)


class CompetitorBusy(Exception):
    """The competitor already runs its `max_concurrency` generations; try again shortly."""


def _run_safely(generation_id: int) -> None:
    deadline = time.monotonic() + settings.ARENA_GENERATION_TIMEOUT_S
    while True:
        try:
            run_generation(generation_id)
            break
        except CompetitorBusy:
            if time.monotonic() > deadline:
                battles_expire_stale(older_than_s=0, generation_id=generation_id)
                break
            time.sleep(0.25)
    flush()


def _history(gen: Generation) -> tuple[ChatTurn, ...]:
    if gen.turn.index == 0:
        return ()
    earlier = (
        Generation.objects.filter(slot_id=gen.slot_id, turn__index__lt=gen.turn.index)
        .select_related("turn__prompt")
        .order_by("turn__index")
    )
    out: list[ChatTurn] = []
    for g in earlier:
        out += [ChatTurn("user", g.turn.prompt.text), ChatTurn("assistant", g.text)]
    return tuple(out)


def save_media(data: bytes, mime: str) -> str:
    from models_adapter.media import strip_metadata

    clean = strip_metadata(data, mime)  # no EXIF / PNG text / ID3 / generator field may name the model
    name = secrets.token_hex(16) + EXTENSIONS.get(mime, ".bin")
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (name + ".part")
    tmp.write_bytes(clean)
    tmp.rename(root / name)  # readers never see a half-written file
    return name


def _pregenerated_params(comp: Competitor, gen: Generation) -> dict:
    """For a `pregenerated` competitor, the stored output for this prompt (see that adapter)."""
    if comp.adapter != PREGENERATED:
        return {}
    out = PregeneratedOutput.objects.filter(competitor=comp, prompt=gen.turn.prompt).first()
    if out is None:
        return {}
    path = str(Path(settings.MEDIA_ROOT) / out.media_name) if out.media_name else None
    return {"pregenerated": {"text": out.text, "path": path, "mime": out.media_mime}}


def run_generation(generation_id: int) -> None:
    rows = Generation.objects.select_related("slot__competitor", "slot__battle", "turn__prompt").filter(pk=generation_id)
    gen = next(iter(rows), None)  # by primary key: no ORDER BY / LIMIT for the database to plan
    if gen is None or gen.status in (Generation.DONE, Generation.FAILED):
        return  # already finished: a retried task changes nothing
    battle = gen.slot.battle
    if battle.status == Battle.VOID:
        _finish_failed(gen, "battle already void", count_failure=False)
        return
    if gen.status == Generation.RUNNING:
        # Started before and never finished: the worker died mid-generation (the task came back
        # through acks_late). Text already streamed cannot be taken back, so the battle is void.
        _finish_failed(gen, "worker lost during generation", count_failure=False)
        return
    comp: Competitor = gen.slot.competitor
    if not _claim(gen, comp):
        return  # another delivery of this task took it
    group = battle_group(battle.public_id)
    letter = gen.slot.letter
    turn_index = gen.turn.index
    parts: list[str] = []
    state = {"offset": 0, "first": None}
    key = partial_key(battle.public_id, gen.pk)

    def on_text(chunk: str) -> None:
        if not chunk:
            return
        if state["first"] is None:
            state["first"] = timezone.now()
        offset = state["offset"]
        parts.append(chunk)
        state["offset"] = offset + len(chunk)
        publish_chunk(
            key, "".join(parts), group,
            {"type": "chunk", "slot": letter, "turn": turn_index, "offset": offset, "text": chunk},
        )

    request = GenerationRequest(
        modality=battle.modality,
        prompt=gen.turn.prompt.text,
        history=_history(gen),
        params=_pregenerated_params(comp, gen),
        seed=secrets.randbelow(2**31),
    )
    started = time.monotonic()
    try:
        adapter = build_adapter(comp.adapter, comp.adapter_config)
        result = adapter.generate(request, on_text)
        media_name = save_media(result.media.data, result.media.mime) if result.media else ""
    except Exception as exc:  # AdapterError, a bug, a bad file: the slot fails, the battle is void
        if not isinstance(exc, AdapterError):
            log.exception("generation %s (%s) crashed", gen.pk, comp.slug)
        _finish_failed(gen, f"{type(exc).__name__}: {exc}"[:2000], count_failure=True)
        return
    text = result.text or "".join(parts)
    now = timezone.now()
    meta = dict(result.meta or {}, seconds=round(time.monotonic() - started, 3))
    if result.media and result.media.mime.split("/")[0] in ("audio", "video"):
        # Read from the file itself (an adapter's own figure may be off): the vote's listening rule.
        duration = media_duration_s(result.media.data, result.media.mime)
        if duration is not None:
            meta["duration_s"] = round(duration, 3)
    if text:
        meta["style"] = style_counts(text)
    # Two statements, each committed on its own (no lock held across them): this output is
    # done; then the battle is ready if no output of the turn is left undone. Every slot checks
    # only after its own update is committed, so the last one to finish sees all of them done,
    # and the status condition lets exactly one slot move the battle and announce it.
    updated = Generation.objects.filter(pk=gen.pk, status=Generation.RUNNING).update(
        status=Generation.DONE,
        text=text,
        media_name=media_name,
        media_mime=result.media.mime if result.media else "",
        meta=meta,
        first_token_at=state["first"] or now,
        finished_at=now,
    )
    if not updated:
        return  # failed meanwhile (timeout sweep)
    from config.metrics import GENERATION_SECONDS, safely

    safely(lambda: GENERATION_SECONDS.labels(comp.slug).observe(meta["seconds"]))
    log.info("generation %s (%s) done in %.2f s", gen.pk, comp.slug, meta["seconds"])
    if comp.consecutive_failures:  # as read when this generation started
        Competitor.objects.filter(pk=comp.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
    from arena.selectors import generation_public

    # What was just written, without reading it back.
    gen.status, gen.text, gen.media_name = Generation.DONE, text, media_name
    gen.media_mime = result.media.mime if result.media else ""
    publish_on_commit(group, {"type": "slot_done", **generation_public(gen, letter=letter, turn_index=turn_index)})
    undone = Generation.objects.filter(turn_id=gen.turn_id).exclude(status=Generation.DONE)
    if Battle.objects.filter(pk=battle.pk, status=Battle.GENERATING).filter(~Exists(undone)).update(
        status=Battle.READY, ready_at=now
    ):
        publish_on_commit(group, {"type": "battle_ready"})


def _claim(gen: Generation, comp: Competitor) -> bool:
    """Move the generation from queued to running, within the competitor's concurrency limit.
    Raises CompetitorBusy when the limit is reached."""

    def start() -> bool:
        # Conditional update: of two deliveries of the same task only one starts it.
        return bool(
            Generation.objects.filter(pk=gen.pk, status=Generation.QUEUED).update(
                status=Generation.RUNNING, started_at=timezone.now()
            )
        )

    if not comp.max_concurrency:
        return start()  # no limit: one statement, no transaction around it
    with transaction.atomic():
        # Lock the competitor: two workers claiming its last free place must not both win.
        Competitor.objects.select_for_update().filter(pk=comp.pk).first()
        running = Generation.objects.filter(slot__competitor_id=comp.pk, status=Generation.RUNNING).count()
        if running >= comp.max_concurrency:
            raise CompetitorBusy(comp.slug)
        return start()


def _finish_failed(gen: Generation, error: str, *, count_failure: bool) -> None:
    comp = gen.slot.competitor
    with transaction.atomic():
        battle = Battle.objects.select_for_update().get(pk=gen.slot.battle_id)
        Generation.objects.filter(pk=gen.pk).exclude(status=Generation.DONE).update(
            status=Generation.FAILED, error=error, finished_at=timezone.now()
        )
        if count_failure:
            Competitor.objects.filter(pk=comp.pk).update(
                consecutive_failures=F("consecutive_failures") + 1, last_failure=error[:500]
            )
            Competitor.objects.filter(pk=comp.pk, consecutive_failures__gte=UNHEALTHY_AFTER).update(healthy=False)
        group = battle_group(battle.public_id)
        # Never the error itself before the vote: it could name the model or its server.
        publish_on_commit(group, {"type": "slot_failed", "slot": gen.slot.letter, "turn": gen.turn.index})
        if battle.status in (Battle.GENERATING, Battle.READY):
            battle.status = Battle.VOID
            battle.void_reason = "generation_failed"
            battle.save(update_fields=["status", "void_reason"])
            publish_on_commit(group, {"type": "battle_void", "message": VOID_MESSAGE})
    log.warning("generation %s of %s failed: %s", gen.pk, comp.slug, error)
    if count_failure:
        from config.metrics import GENERATION_FAILURES, safely

        safely(lambda: GENERATION_FAILURES.labels(comp.slug).inc())


def battles_expire_stale(
    *, older_than_s: int | None = None, battle_id: int | None = None, generation_id: int | None = None
) -> int:
    """Void battles whose generation has run past the timeout (a lost task, a hung model)."""
    age = settings.ARENA_GENERATION_TIMEOUT_S if older_than_s is None else older_than_s
    limit = timezone.now() - timezone.timedelta(seconds=age)
    stale = Generation.objects.filter(
        status__in=[Generation.QUEUED, Generation.RUNNING], queued_at__lt=limit, turn__battle__status=Battle.GENERATING
    ).select_related("slot__competitor", "slot__battle", "turn")
    if battle_id is not None:
        stale = stale.filter(turn__battle_id=battle_id)
    if generation_id is not None:
        stale = stale.filter(pk=generation_id)
    n = 0
    for gen in stale:
        _finish_failed(gen, "timed out", count_failure=gen.status == Generation.RUNNING)
        n += 1
    return n



