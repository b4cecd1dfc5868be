"""A request id on every log line, carried into the Celery tasks a request causes.

The web server takes the id from an `X-Request-ID` header (a proxy's, if it is a sane token) or
makes one, answers with it, and keeps it in a context variable that every log record reads
(the `request_id` field of the LOGGING format). A task published while handling the request
carries it in a message header; the worker sets it for the task's run, so the worker's lines
about a battle's generation name the request that created the battle. Tasks started by beat
log their own task id instead.
"""
from __future__ import annotations

import contextvars
import logging
import random
import re

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
HEADER = "request_id"  # the Celery message header
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# Request ids need to be unique, not secret: a PRNG seeded once from the OS (a getrandom call per
# request showed up in the vote profile).
_rng = random.Random()


def new_id(offered: str | None = None) -> str:
    return offered if offered and _SANE.match(offered) else f"{_rng.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def _request_finished(**kwargs) -> None:
    request_id.set("-")  # a sync server's thread serves the next request with its own id


def connect_request_signals() -> None:
    from django.core.signals import request_finished

    request_finished.connect(_request_finished, dispatch_uid="arena-request-id")


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    @before_task_publish.connect(weak=False)
    def _carry(headers=None, **kwargs):
        rid = request_id.get()
        if headers is not None and rid != "-":
            headers.setdefault(HEADER, rid)

    @task_prerun.connect(weak=False)
    def _adopt(task=None, task_id=None, **kwargs):
        rid = getattr(getattr(task, "request", None), HEADER, None)
        if getattr(getattr(task, "request", None), "is_eager", False):
            return  # runs inside the caller: keep the caller's id
        token = request_id.set(rid if isinstance(rid, str) and _SANE.match(rid) else f"task-{task_id}")
        if task is not None:
            task.request.request_id_token = token

    @task_postrun.connect(weak=False)
    def _drop(task=None, **kwargs):
        token = getattr(getattr(task, "request", None), "request_id_token", None)
        if token is not None:
            try:
                request_id.reset(token)
            except ValueError:
                request_id.set("-")
