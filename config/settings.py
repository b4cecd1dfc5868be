"""Settings, read from the environment.

With no DATABASE_URL and no REDIS_URL the arena runs on its embedded default: SQLite, the
in-memory channel layer, and generation / recompute tasks run inside the web process. With
them it uses Postgres, Redis (channel layer, cache, Celery broker) and Celery workers.
Every setting is listed in the README.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# One BLAS thread per process: the rating fits work on small dense matrices (a few hundred models),
# where OpenBLAS's own threads only fight over the cores with the workers' threads (a 200x200
# Cholesky took a second instead of a millisecond on a busy 2-core host). Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

BASE_DIR = Path(__file__).resolve().parent.parent
# Read every setting from the process environment through django-environ (typed, with the
# standard URL formats for DATABASE_URL). Nothing is read from files except the secrets that the
# single-machine default generates for itself into var/ (below).
env = environ.Env()
# State the arena writes for itself: generated secrets, media, collected static, beat schedule.
VAR_DIR = Path(env.str("ARENA_VAR_DIR", default=str(BASE_DIR / "var")))


def envbool(name: str, default: str = "False") -> bool:
    return env.bool(name, default=default.strip().lower() in ("1", "true", "yes", "on"))


def envint(name: str, default: str) -> int:
    return env.int(name, default=int(default))


def envfloat(name: str, default: str) -> float:
    return env.float(name, default=float(default))


def envlist(name: str, default: str) -> list[str]:
    return [x.strip() for x in env.list(name, default=default.split(",") if default else []) if x.strip()]


def _database(url: str) -> dict:
    """A DATABASE_URL such as postgres://user:pass@host:5432/name?sslmode=require (every query
    option reaches the driver) or sqlite:////absolute/path."""
    try:
        db = env.db_url_config(url)
    except Exception as e:  # django-environ raises a bare exception for an unknown scheme
        raise ImproperlyConfigured(f"DATABASE_URL: {e} (use postgres:// or sqlite://)") from None
    options = dict(db.get("OPTIONS") or {})
    if db["ENGINE"] == "django.db.backends.postgresql":
        db["NAME"] = db.get("NAME") or "arena"
        db["USER"] = db.get("USER") or "postgres"
        db["PORT"] = str(db.get("PORT") or "")
        db["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_arena")}
        if envbool("DB_POOL", "False"):
            # The web server (config/asgi.py sets DB_POOL=1): a psycopg pool per process,
            # since under ASGI every request runs in a new thread.
            options["pool"] = {"min_size": 1, "max_size": envint("DB_POOL_MAX_SIZE", "16"), "timeout": 30}
            db["CONN_MAX_AGE"] = 0
        else:
            # Celery workers, management commands: one persistent connection per process.
            db["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", "60")
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        db["NAME"] = db.get("NAME") or str(BASE_DIR / "db.sqlite3")
        # Generation threads write at once: take the write lock when a transaction starts
        # (no read-to-write upgrade deadlock) and wait for it instead of failing.
        options = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            **options,
        }
    else:
        raise ImproperlyConfigured(f"DATABASE_URL: unsupported database {db['ENGINE']!r} (use postgres:// or sqlite://)")
    if options:
        db["OPTIONS"] = options
    return db


def _local_secret(name: str) -> str:
    """A secret generated once into var/ (mode 0600) and read from there afterwards: the
    single-machine default's SECRET_KEY / ARENA_IP_SALT, so a fresh `make run` needs no setup
    and never runs on a key published in the source."""
    path = VAR_DIR / name
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if value:
        return value
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(64) + "\n")
    try:
        os.link(tmp, path)  # first writer wins; a concurrent start reads the winner's secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


DEBUG = envbool("DEBUG", "False")
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
# Embedded: no services configured; everything runs inside the web process.
EMBEDDED = not DATABASE_URL and not REDIS_URL
DATABASES = {"default": _database(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# One machine (SQLite, no Redis): every process reads the same var/, so missing secrets can be
# generated there. With services, processes run on several machines and must share the secrets.
SINGLE_MACHINE = not REDIS_URL and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def _secret(name: str, file_name: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if SINGLE_MACHINE or DEBUG:
        return _local_secret(file_name)
    raise ImproperlyConfigured(
        f"{name} is not set. With DEBUG off and services configured (DATABASE_URL / REDIS_URL), "
        f"every process needs the same {name}: set it in the environment, for example "
        f"{name}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )


SECRET_KEY = _secret("SECRET_KEY", "secret_key")
# Salt for hashing the voter's network address (never the raw address stored). Its own secret:
# never the SECRET_KEY, so rotating one does not touch the other.
ARENA_IP_SALT = _secret("ARENA_IP_SALT", "ip_salt")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

# One switch for a deployment behind HTTPS (a TLS-terminating proxy that sets
# X-Forwarded-Proto): redirect plain HTTP, HSTS, cookies only over HTTPS.
ARENA_HTTPS = envbool("ARENA_HTTPS", "False")
if ARENA_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP to the process
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("ARENA_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("ARENA_HSTS_INCLUDE_SUBDOMAINS", "True")
    SECURE_HSTS_PRELOAD = envbool("ARENA_HSTS_PRELOAD", "True")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # Optional voter accounts (email; social providers by ARENA_SOCIAL_PROVIDERS).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "arena",
    "ratings",
    "releases",
    "models_adapter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Request id (logs, Celery), request metrics, JSON errors under /api/ (config/middleware.py).
    "config.middleware.ArenaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: the middleware above run in one thread hop, not one per hook (config/middleware.py).
    "config.middleware.SyncChain",
]

# Content-Security-Policy on every response (django-csp): scripts only from this site's static
# files (no inline script, no eval; WebAssembly allowed), connections only back to this site (its WebSockets
# included), no plugins, no framing. Inline styles stay allowed: the vendored plotly and
# model-viewer set styles at run time.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # WebAssembly only (model-viewer's mesh decoders), never JavaScript eval.
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

CSRF_FAILURE_VIEW = "config.middleware.csrf_failure"

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
                "prefix": env.str("CHANNELS_PREFIX", default="arena"),
            },
        }
    }
    # One Redis client per process, not per request (config/cache.py).
    CACHES = {"default": {"BACKEND": "config.cache.SharedRedisCache", "LOCATION": REDIS_URL}}
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
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# The web process serves /static/ itself (config/asgi.py) unless SERVE_STATIC=false, e.g. when
# a proxy or CDN serves `manage.py collectstatic`'s STATIC_ROOT.
SERVE_STATIC = envbool("SERVE_STATIC", "True")
# Seconds a public leaderboard page / JSON is served from the web process's memory (0: off).
PUBLIC_CACHE_S = envfloat("PUBLIC_CACHE_S", "1")
# Generated media: random file names, served only through arena.views.media (never by URL guess).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

SESSION_COOKIE_AGE = 60 * 60 * 24 * 365
# Sessions are read on every request (the voter is bound to one) and rarely written: read from
# the cache (Redis with services), written through to the database, so none is lost with the cache.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_SAVE_EVERY_REQUEST = False

# Celery. Broker: CELERY_BROKER_URL, else REDIS_URL. Without either, tasks run in-process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "memory://"
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
    "recompute-all-leaderboards": {"task": "ratings.tasks.recompute_all", "schedule": envfloat("RATINGS_BEAT_S", "600")},
    "integrity-audit-all": {"task": "ratings.tasks.audit_all", "schedule": envfloat("ARENA_AUDIT_BEAT_S", "3600")},
}
# Research releases (releases/): monthly by default ("minute hour day-of-month month day-of-week",
# or "off").
ARENA_RELEASE_CRON = env.str("ARENA_RELEASE_CRON", default="0 3 1 * *")
if ARENA_RELEASE_CRON.strip().lower() not in ("", "off"):
    from celery.schedules import crontab

    try:
        _m, _h, _dom, _mon, _dow = ARENA_RELEASE_CRON.split()
        _release_schedule = crontab(minute=_m, hour=_h, day_of_month=_dom, month_of_year=_mon, day_of_week=_dow)
    except ValueError as e:
        raise ImproperlyConfigured(
            f"ARENA_RELEASE_CRON={ARENA_RELEASE_CRON!r}: give five crontab fields "
            f"(minute hour day-of-month month day-of-week, e.g. '0 3 1 * *') or 'off' ({e})"
        ) from None
    CELERY_BEAT_SCHEDULE["research-release"] = {"task": "releases.tasks.build_release", "schedule": _release_schedule}
# A release never holds votes newer than this many days.
ARENA_RELEASE_DELAY_DAYS = envfloat("ARENA_RELEASE_DELAY_DAYS", "30")
ARENA_RELEASE_DIR = Path(env.str("ARENA_RELEASE_DIR", default=str(VAR_DIR / "releases")))
# Intervals of the leaderboards a release records: sandwich (cheap at any size) or bootstrap
# (1000 rounds, the CLI's default; slow with many K-wise rankings).
ARENA_RELEASE_CI = env.str("ARENA_RELEASE_CI", default="sandwich")
if ARENA_RELEASE_CI not in ("sandwich", "bootstrap"):
    raise ImproperlyConfigured(f"ARENA_RELEASE_CI={ARENA_RELEASE_CI!r}: use sandwich or bootstrap")
ARENA_RELEASE_LICENSE = env.str("ARENA_RELEASE_LICENSE", default="cc-by-4.0")
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
# Votes run in a thread pool beside each other (arena.views.api_battle_vote) rather than one at a
# time in the thread of the sync views.
ARENA_PARALLEL_VOTES = envbool("ARENA_PARALLEL_VOTES", "True")
# Audio/video battles: each clip must have played this long before the vote (as Music Arena).
ARENA_MIN_LISTEN_MS = envint("ARENA_MIN_LISTEN_MS", "3000")
# Behind a reverse proxy you trust, take the client address from X-Forwarded-For: only when
# the connection comes from one of ARENA_TRUSTED_PROXIES (addresses or networks), and then the
# right-most address in the header that is not itself a trusted proxy. Otherwise (and always
# when ARENA_TRUST_X_FORWARDED_FOR is off) the socket address: uvicorn is started with
# --no-proxy-headers so that it never rewrites it itself (arena.services.voters).
ARENA_TRUST_X_FORWARDED_FOR = envbool("ARENA_TRUST_X_FORWARDED_FOR", "False")
ARENA_TRUSTED_PROXIES = envlist("ARENA_TRUSTED_PROXIES", "127.0.0.1,::1")
# Criteria a pairwise vote may judge separately, per modality (ARENA_CRITERIA_<MODALITY>, comma-separated;
# an empty value turns them off for that modality). ARENA_CRITERIA, the older single list, still sets text's.
ARENA_CRITERIA_BY_MODALITY = {
    "text": envlist("ARENA_CRITERIA_TEXT", ",".join(envlist("ARENA_CRITERIA", "helpfulness,accuracy,style"))),
    "image": envlist("ARENA_CRITERIA_IMAGE", "prompt_alignment,aesthetics"),  # as K-Sort Arena asks
    "audio": envlist("ARENA_CRITERIA_AUDIO", "musicality,prompt_adherence"),
    "video": envlist("ARENA_CRITERIA_VIDEO", "prompt_alignment,visual_quality,motion"),
    "3d": envlist("ARENA_CRITERIA_3D", "geometry,texture"),
}
# Every criterion of any modality (the leaderboards `criterion:<name>` are per modality anyway).
ARENA_CRITERIA = sorted({c for cs in ARENA_CRITERIA_BY_MODALITY.values() for c in cs})
# Prompt language: a label only when the detector is at least this sure and the language is one
# of ARENA_LANGUAGES (ISO 639-1, comma-separated); otherwise "und". Short English prompts were
# read as Icelandic or Scots Gaelic without this.
ARENA_LANGUAGES = envlist("ARENA_LANGUAGES", "en,zh,es,fr,de,ja,ko,ru,pt,it,nl,pl,tr,ar,hi,vi,id,uk,sv,cs,fa,he,th,el")
ARENA_LANGUAGE_MIN_CONFIDENCE = envfloat("ARENA_LANGUAGE_MIN_CONFIDENCE", "0.7")
# Fraud detection (ratings.integrity): a voter's votes are audited after every N of them, and every
# modality every ARENA_AUDIT_BEAT_S by beat, over the last ARENA_AUDIT_DAYS days, at this FDR.
ARENA_AUDIT_EVERY_N_VOTES = envint("ARENA_AUDIT_EVERY_N_VOTES", "25")
ARENA_AUDIT_DAYS = envint("ARENA_AUDIT_DAYS", "30")
ARENA_AUDIT_Q = envfloat("ARENA_AUDIT_Q", "0.01")
# Matchmaking of blind battles (ratings.engine.matchmaking; arena.services.matchmaking): the policy
# (active | ksort-ucb | uniform) and its guard rails. FLOOR: share of battles drawn uniformly, so
# every available model gets at least FLOOR x its uniform share; CAP: no model above CAP x its
# uniform share; BOOST: chance a new model is put in a battle until placed; REBUILD_S: how often a
# process rebuilds its state from all counted votes (exclusions, undo); votes are absorbed as they
# land in between.
ARENA_MATCHMAKING = env.str("ARENA_MATCHMAKING", default="active").strip()
ARENA_MATCHMAKING_FLOOR = envfloat("ARENA_MATCHMAKING_FLOOR", "0.25")
ARENA_MATCHMAKING_CAP = envfloat("ARENA_MATCHMAKING_CAP", "3")
ARENA_MATCHMAKING_BOOST = envfloat("ARENA_MATCHMAKING_BOOST", "0.5")
ARENA_MATCHMAKING_REBUILD_S = envint("ARENA_MATCHMAKING_REBUILD_S", "600")
if ARENA_MATCHMAKING not in ("active", "ksort-ucb", "uniform"):
    raise ImproperlyConfigured(f"ARENA_MATCHMAKING={ARENA_MATCHMAKING!r}: choose active, ksort-ucb or uniform")
if not (0 <= ARENA_MATCHMAKING_FLOOR <= 1 and ARENA_MATCHMAKING_CAP >= 1 and 0 <= ARENA_MATCHMAKING_BOOST <= 1):
    raise ImproperlyConfigured("ARENA_MATCHMAKING_FLOOR and _BOOST must be between 0 and 1, ARENA_MATCHMAKING_CAP at least 1")

# Anti-automation (arena.services.ratelimits, arena.services.pow, arena.services.integrity).
# Rate limits per voter session, account and network on battles, turns and votes: "" keeps the
# defaults, "off" turns every limit and the proof-of-work challenge off (benchmarks, load tests),
# else space-separated ACTION.SCOPE=LIMITS overrides, e.g. "battle.session=10/minute;100/day
# vote.network=off" (syntax in the README). Counters live in Redis (REDIS_URL), else in memory.
ARENA_RATE_LIMITS = env.str("ARENA_RATE_LIMITS", default="")
ARENA_RATE_LIMIT_STORAGE = env.str("ARENA_RATE_LIMIT_STORAGE", default=REDIS_URL or "memory://")
# Anonymous voters (by session or network) past this many votes solve a proof-of-work challenge
# in the browser for each further vote ("off" never asks); difficulty in leading zero bits of
# SHA-256 (each bit doubles the work: 16 is ~65,000 hashes, about a second in a browser).
ARENA_POW_AFTER = env.str("ARENA_POW_AFTER", default="10/day")
ARENA_POW_DIFFICULTY = envint("ARENA_POW_DIFFICULTY", "16")
ARENA_POW_TTL_S = envint("ARENA_POW_TTL_S", "600")
# Minimum dwell: a vote cast sooner than ARENA_MIN_DWELL_MS plus the outputs' length at
# ARENA_READ_CHARS_PER_S after they began to appear is kept with counted=false ("too_fast").
ARENA_MIN_DWELL_MS = envint("ARENA_MIN_DWELL_MS", "1500")
ARENA_READ_CHARS_PER_S = envfloat("ARENA_READ_CHARS_PER_S", "150")
# Votes count only from signed-in voters (anonymous ones are kept, counted=false "login_required").
ARENA_COUNT_REQUIRES_LOGIN = envbool("ARENA_COUNT_REQUIRES_LOGIN", "False")

# Voter accounts (django-allauth): sign-in by email; social providers by name, e.g.
# ARENA_SOCIAL_PROVIDERS=github,google with ARENA_SOCIAL_GITHUB_CLIENT_ID / _SECRET.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {}
for _provider in [p.lower() for p in envlist("ARENA_SOCIAL_PROVIDERS", "")]:
    INSTALLED_APPS.append(f"allauth.socialaccount.providers.{_provider}")
    _prefix = f"ARENA_SOCIAL_{_provider.upper()}_"
    SOCIALACCOUNT_PROVIDERS[_provider] = {"APPS": [{
        "client_id": env.str(_prefix + "CLIENT_ID", default=""), "secret": env.str(_prefix + "SECRET", default=""), "key": "",
    }]}
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = envint("EMAIL_PORT", "25")
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "False")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="arena@localhost")

# Leaderboards.
RATINGS_BOOTSTRAP_ROUNDS = envint("RATINGS_BOOTSTRAP_ROUNDS", "1000")
RATINGS_ELO_ROUNDS = envint("RATINGS_ELO_ROUNDS", "100")
RATINGS_SEED = envint("RATINGS_SEED", "0")
RATINGS_DEBOUNCE_S = envfloat("RATINGS_DEBOUNCE_S", "2")
RATINGS_LOCK_TTL_S = envint("RATINGS_LOCK_TTL_S", "600")
RATINGS_PRELIMINARY_VOTES = envint("RATINGS_PRELIMINARY_VOTES", "30")
RATINGS_BT_CI = env.str("RATINGS_BT_CI", default="sandwich")  # published BT intervals: sandwich | bootstrap (voter-clustered)
RATINGS_TIES = env.str("RATINGS_TIES", default="half")  # half | davidson
# Methods recomputed as votes arrive (each within 5 s at 1M votes); the others only on demand
# (manage.py ratings_recompute), with a word on the page why.
RATINGS_CLUSTER_VOTERS = envint("RATINGS_CLUSTER_VOTERS", "2000")  # the heaviest voters whose votes are clustered
RATINGS_CLUSTER_REFRESH = envfloat("RATINGS_CLUSTER_REFRESH", "0.1")  # refresh the voter-clustering factors when the board grew this much
RATINGS_CLUSTER_REFRESH_S = envint("RATINGS_CLUSTER_REFRESH_S", "600")  # ... or this long after the last refresh
RATINGS_GAP_TTL_S = envint("RATINGS_GAP_TTL_S", "3600")  # a vote id missing this long was rolled back
RATINGS_EMBEDDED_DEBOUNCE_S = envfloat("RATINGS_EMBEDDED_DEBOUNCE_S", "0.3")  # embedded: a burst gathers this long
RATINGS_LIVE_METHODS = envlist("RATINGS_LIVE_METHODS", "bt")

# Prometheus metrics of every process on this machine (config/metrics.py): prometheus-client's
# multiprocess mode must be chosen before it is imported, hence here. `/metrics` answers only a
# staff user or `Authorization: Bearer $ARENA_METRICS_TOKEN` (off when empty).
ARENA_METRICS_TOKEN = env.str("ARENA_METRICS_TOKEN", default="")
ARENA_METRICS_DIR = Path(env.str("ARENA_METRICS_DIR", default=str(VAR_DIR / "metrics")))
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(ARENA_METRICS_DIR)
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# Every line: time, level, the request id (carried into the Celery tasks a request causes:
# config/requestid.py), the logger. Celery workers log through the same configuration.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.requestid.RequestIdFilter"}},
    "formatters": {"arena": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": "arena"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # One INFO line per request to a model server is noise (and CPU) in a worker streaming
        # many answers; errors are recorded on the generation.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
