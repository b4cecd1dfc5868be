"""Safe defaults: settings come from the environment, DEBUG is off unless set, secrets are never
the published default, HTTPS is one switch, database URL options reach the driver. Each case
starts a fresh interpreter with exactly the environment under test (settings are read once)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'SECRET_KEY': s.SECRET_KEY, 'SALT': s.ARENA_IP_SALT, "
    "'DB': {k: v for k, v in s.DATABASES['default'].items() if k in ('NAME', 'OPTIONS', 'ENGINE')}}, default=str))"
)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", ARENA_VAR_DIR=str(tmp_path / "var"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def probe(env: dict[str, str]) -> dict:
    out = run([sys.executable, "-c", PROBE], env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_debug_is_off_unless_set(tmp_path):
    assert probe(clean_env(tmp_path))["DEBUG"] is False
    assert probe(clean_env(tmp_path, DEBUG="true"))["DEBUG"] is True


def test_single_machine_default_generates_its_secrets_once_into_var(tmp_path):
    env = clean_env(tmp_path)
    first = probe(env)
    key_file, salt_file = tmp_path / "var" / "secret_key", tmp_path / "var" / "ip_salt"
    assert first["SECRET_KEY"] == key_file.read_text().strip() and len(first["SECRET_KEY"]) >= 50
    assert first["SALT"] == salt_file.read_text().strip()
    assert first["SALT"] != first["SECRET_KEY"]  # its own secret
    for f in (key_file, salt_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600  # readable by the owner only
    again = probe(env)
    assert (again["SECRET_KEY"], again["SALT"]) == (first["SECRET_KEY"], first["SALT"])
    # Another installation gets other secrets: nothing is published in the source.
    other = probe(clean_env(tmp_path / "other"))
    assert other["SECRET_KEY"] != first["SECRET_KEY"]


def test_ip_salt_is_never_the_secret_key(tmp_path):
    got = probe(clean_env(tmp_path, SECRET_KEY="k" * 60))
    assert got["SECRET_KEY"] == "k" * 60 and got["SALT"] != got["SECRET_KEY"]
    assert probe(clean_env(tmp_path, SECRET_KEY="k" * 60, ARENA_IP_SALT="pepper"))["SALT"] == "pepper"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ARENA_IP_SALT"])
def test_services_without_a_secret_refuse_to_start_with_a_clear_message(tmp_path, missing):
    env = clean_env(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/arena",
                    REDIS_URL="redis://127.0.0.1:6379/0", SECRET_KEY="s" * 60, ARENA_IP_SALT="pepper")
    del env[missing]
    out = run([sys.executable, "manage.py", "check"], env)
    assert out.returncode != 0
    assert f"{missing} is not set" in out.stderr
    assert not (tmp_path / "var").exists()  # nothing generated behind the operator's back


def test_database_url_options_reach_the_driver(tmp_path):
    from django.conf import settings

    db = settings.DATABASES["default"]
    base = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    env = clean_env(tmp_path, DATABASE_URL=base + "?sslmode=disable&application_name=arena-options-test",
                    SECRET_KEY="s" * 60, ARENA_IP_SALT="pepper")
    assert probe(env)["DB"]["OPTIONS"]["sslmode"] == "disable"
    code = ("import django; django.setup(); from django.db import connection; c = connection.cursor(); "
            "c.execute(\"select current_setting('application_name')\"); print(c.fetchone()[0])")
    out = run([sys.executable, "-c", code], env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "arena-options-test"  # the option was honoured by the server


def test_unsupported_database_url_is_a_clear_error(tmp_path):
    out = run([sys.executable, "manage.py", "check"], clean_env(tmp_path, DATABASE_URL="mongodb://h/db"))
    assert out.returncode != 0 and "DATABASE_URL" in out.stderr


def test_https_switch_passes_the_deploy_check(tmp_path):
    deploy = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    common = dict(DEBUG="false", SECRET_KEY="x7!Qm" * 12, ALLOWED_HOSTS="arena.example.org")
    out = run(deploy, clean_env(tmp_path, ARENA_HTTPS="true", **common))
    assert out.returncode == 0, out.stdout + out.stderr
    # Without the switch the same check names what is missing.
    out = run(deploy, clean_env(tmp_path, **common))
    assert out.returncode != 0 and "SECURE_SSL_REDIRECT" in out.stdout + out.stderr


def test_https_switch_redirects_plain_http_and_marks_cookies_secure(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; from django.test import Client; "
            "r = Client().get('/'); r2 = Client().get('/', headers={'x-forwarded-proto': 'https'}); "
            "print(r.status_code, r.headers.get('Location'), r2.status_code, "
            "'max-age' in r2.headers.get('Strict-Transport-Security', ''), s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)")
    env = clean_env(tmp_path, ARENA_HTTPS="true", ALLOWED_HOSTS="testserver")
    assert run([sys.executable, "manage.py", "migrate", "--noinput"], env).returncode == 0
    out = run([sys.executable, "-c", code], env)
    assert out.returncode == 0, out.stderr
    status, location, status2, hsts, sess, csrf = out.stdout.split()
    assert status == "301" and location.startswith("https://testserver/")
    assert status2 == "200" and hsts == "True" and sess == csrf == "True"
