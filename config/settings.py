"""Settings, read from the environment.

With no DATABASE_URL and no REDIS_URL the arena runs on its embedded default: SQLite, the
in-memory channel layer, and generation / recompute tasks run inside the web process. With
them it uses Postgres, Redis (channel layer, cache, Celery broker) and Celery workers.
Every setting is listed in the README.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.environ.get(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def _database(url: str) -> dict:
    """A DATABASE_URL such as postgres://user:pass@host:5432/name (or sqlite:///path)."""
    u = urlparse(url)
    if u.scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(u.path.lstrip("/")) or "arena",
            "USER": unquote(u.username or "") or "postgres",
            "PASSWORD": unquote(u.password or ""),
            "HOST": u.hostname or "",
            "PORT": str(u.port or ""),
            "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_arena")},
            **(
                # The web server (config/asgi.py sets DB_POOL=1): a psycopg pool per process,
                # since under ASGI every request runs in a new thread.
                {"CONN_MAX_AGE": 0, "OPTIONS": {"pool": {
                    "min_size": 1, "max_size": envint("DB_POOL_MAX_SIZE", "16"), "timeout": 30}}}
                if envbool("DB_POOL", "False")
                # Celery workers, management commands: one persistent connection per process.
                else {"CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", "60")}
            ),
        }
    if u.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": u.path or BASE_DIR / "db.sqlite3",
            # Generation threads write at once: take the write lock when a transaction starts
            # (no read-to-write upgrade deadlock) and wait for it instead of failing.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {u.scheme!r} (use postgres:// or sqlite://)")


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = envbool("DEBUG", "True")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
# Embedded: no services configured; everything runs inside the web process.
EMBEDDED = not DATABASE_URL and not REDIS_URL

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "arena",
    "ratings",
    "releases",
    "models_adapter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": _database(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub rather than channels_redis' list-based core layer: an event is one PUBLISH
            # and reaches the web process by push, where the core layer needs four round trips
            # to send (group lookup, clean-ups, a script) and two to receive; and the core layer
            # keeps one queue per web process whose capacity, once exceeded by a burst of
            # streams, silently dropped events (chunks, even "battle_ready"). Pub/sub delivers at
            # most once, which the battle page already tolerates: a gap in a stream's offsets,
            # or a quiet stream, makes it ask for the state again (static/arena/battle.js).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # No socket timeout: redis-py 8's default 5 s read timeout would drop the idle
            # subscription connection.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": os.environ.get("CHANNELS_PREFIX", "arena"),
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
# The web process serves /static/ itself (config/asgi.py) unless SERVE_STATIC=false, e.g. when
# a proxy or CDN serves `manage.py collectstatic`'s STATIC_ROOT.
SERVE_STATIC = envbool("SERVE_STATIC", "True")
# Seconds a public leaderboard page / JSON is served from the web process's memory (0: off).
PUBLIC_CACHE_S = envfloat("PUBLIC_CACHE_S", "1")
# Generated media: random file names, served only through arena.views.media (never by URL guess).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

SESSION_COOKIE_AGE = 60 * 60 * 24 * 365
SESSION_SAVE_EVERY_REQUEST = False

# Celery. Broker: CELERY_BROKER_URL, else REDIS_URL. Without either, tasks run in-process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL) or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after EVERY task unless this
# is set: a new Postgres connection per generation (~10 ms of CPU in the worker and a backend
# fork in Postgres). Reused for 100 tasks instead (the fixup counts prerun + postrun).
CELERY_DB_REUSE_MAX = envint("CELERY_DB_REUSE_MAX", "100")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late, a task whose worker died comes back after the visibility timeout (Redis
# broker): soon enough that a lost generation is voided within minutes, not the default hour.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT_S", "300")}
# The safety nets that beat runs (`celery -A config beat`).
CELERY_BEAT_SCHEDULE = {
    "expire-stale-battles": {"task": "arena.tasks.expire_stale_battles", "schedule": 30.0},
    "probe-unhealthy-competitors": {"task": "arena.tasks.probe_unhealthy_competitors", "schedule": 120.0},
    "recompute-all-leaderboards": {"task": "ratings.tasks.recompute_all", "schedule": float(os.environ.get("RATINGS_BEAT_S", "600"))},
}
# Research releases (releases/): monthly by default ("minute hour day-of-month month day-of-week",
# or "off").
ARENA_RELEASE_CRON = os.environ.get("ARENA_RELEASE_CRON", "0 3 1 * *")
if ARENA_RELEASE_CRON.strip().lower() not in ("", "off"):
    from celery.schedules import crontab

    _m, _h, _dom, _mon, _dow = ARENA_RELEASE_CRON.split()
    CELERY_BEAT_SCHEDULE["research-release"] = {
        "task": "releases.tasks.build_release",
        "schedule": crontab(minute=_m, hour=_h, day_of_month=_dom, month_of_year=_mon, day_of_week=_dow),
    }
# A release never holds votes newer than this many days.
ARENA_RELEASE_DELAY_DAYS = envfloat("ARENA_RELEASE_DELAY_DAYS", "30")
ARENA_RELEASE_DIR = Path(os.environ.get("ARENA_RELEASE_DIR", BASE_DIR / "var" / "releases"))
ARENA_RELEASE_LICENSE = os.environ.get("ARENA_RELEASE_LICENSE", "cc-by-4.0")
# Embedded runs tasks in a thread of the web process (arena.services.generation); never eager
# inside a request, which would block the page until every output is done.
ARENA_INPROCESS_TASKS = envbool("ARENA_INPROCESS_TASKS", "True" if CELERY_BROKER_URL == "memory://" else "False")

# Arena behaviour.
ARENA_MAX_PROMPT_CHARS = envint("ARENA_MAX_PROMPT_CHARS", "4000")
ARENA_MAX_TURNS = envint("ARENA_MAX_TURNS", "5")
ARENA_K_MIN = 3
ARENA_K_MAX = 6
ARENA_K_DEFAULT = envint("ARENA_K_DEFAULT", "4")
ARENA_GENERATION_TIMEOUT_S = envint("ARENA_GENERATION_TIMEOUT_S", "120")
# After an output's first chunk (always sent at once), further chunks are sent at most this
# often, consecutive ones merged: 50 ms is 20 updates a second to the reader, and one event
# instead of several when a model streams faster than that (arena.services.events).
ARENA_STREAM_INTERVAL_MS = envint("ARENA_STREAM_INTERVAL_MS", "50")
ARENA_FEEDBACK_MAX_CHARS = envint("ARENA_FEEDBACK_MAX_CHARS", "2000")
# Audio/video battles: each clip must have played this long before the vote (as Music Arena).
ARENA_MIN_LISTEN_MS = envint("ARENA_MIN_LISTEN_MS", "3000")
# Salt for hashing the voter's network address; never store the raw address.
ARENA_IP_SALT = os.environ.get("ARENA_IP_SALT", SECRET_KEY)
# Behind a reverse proxy you trust, take the client address from X-Forwarded-For.
ARENA_TRUST_X_FORWARDED_FOR = envbool("ARENA_TRUST_X_FORWARDED_FOR", "False")
ARENA_CRITERIA = [c for c in os.environ.get("ARENA_CRITERIA", "helpfulness,accuracy,style").split(",") if c]

# Leaderboards.
RATINGS_BOOTSTRAP_ROUNDS = envint("RATINGS_BOOTSTRAP_ROUNDS", "1000")
RATINGS_ELO_ROUNDS = envint("RATINGS_ELO_ROUNDS", "100")
RATINGS_SEED = envint("RATINGS_SEED", "0")
RATINGS_DEBOUNCE_S = envfloat("RATINGS_DEBOUNCE_S", "2")
RATINGS_LOCK_TTL_S = envint("RATINGS_LOCK_TTL_S", "600")
RATINGS_PRELIMINARY_VOTES = envint("RATINGS_PRELIMINARY_VOTES", "30")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # One INFO line per request to a model server is noise (and CPU) in a worker streaming
        # many answers; errors are recorded on the generation.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
