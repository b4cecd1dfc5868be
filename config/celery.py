"""The Celery app. Queues: default (demo generation, recomputes), api (HTTP models), gpu
(local torch models; run that worker with --pool=solo since CUDA does not survive fork)."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from config.requestid import connect_celery_signals  # noqa: E402

connect_celery_signals()
