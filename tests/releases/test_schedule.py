"""The release schedule: beat writes a release monthly by default, at the time ARENA_RELEASE_CRON
says, or never with `off`; a bad value stops start-up with a message. Each case is a fresh
interpreter with exactly that environment (settings are read once)."""
from __future__ import annotations

import json
import sys

from tests.config.test_settings import clean_env, run

PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "e = s.CELERY_BEAT_SCHEDULE.get('research-release'); "
    "print(json.dumps(None if e is None else {'task': e['task'], 'minute': sorted(e['schedule'].minute), "
    "'hour': sorted(e['schedule'].hour), 'day': sorted(e['schedule'].day_of_month), "
    "'delay': s.ARENA_RELEASE_DELAY_DAYS}))"
)


def _schedule(tmp_path, **env):
    out = run([sys.executable, "-c", PROBE], clean_env(tmp_path, **env))
    return out, (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None)


def test_monthly_by_default_and_configurable(tmp_path):
    _, default = _schedule(tmp_path)
    assert default == {"task": "releases.tasks.build_release", "minute": [0], "hour": [3], "day": [1], "delay": 30.0}
    _, weekly = _schedule(tmp_path, ARENA_RELEASE_CRON="30 4 * * 1", ARENA_RELEASE_DELAY_DAYS="7")
    assert weekly["minute"] == [30] and weekly["hour"] == [4] and weekly["day"] == list(range(1, 32)) and weekly["delay"] == 7
    assert _schedule(tmp_path, ARENA_RELEASE_CRON="off")[1] is None


def test_a_bad_schedule_is_a_clear_message(tmp_path):
    out, _ = _schedule(tmp_path, ARENA_RELEASE_CRON="every month")
    assert out.returncode != 0 and "ARENA_RELEASE_CRON" in out.stderr
