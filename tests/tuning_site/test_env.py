"""Settings from the environment: typed readers that fail loudly, and a deployment that checks clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tuning_site.env import env_bool, env_float, env_int, env_list, env_rate, env_str

ROOT = Path(__file__).resolve().parents[2]
VAR = "TUNEBOARD_TEST_VALUE"


@pytest.fixture(autouse=True)
def unset(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)


def test_env_str(monkeypatch):
    assert env_str(VAR, "fallback") == "fallback"
    monkeypatch.setenv(VAR, "redis://example.com:6379/0")
    assert env_str(VAR) == "redis://example.com:6379/0"


# --- env_bool ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "True", "YES", "on", " on "])
def test_env_bool_true(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR, False) is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off", ""])
def test_env_bool_false(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR, True) is False


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_default_when_unset(default):
    assert env_bool(VAR, default) is default


@pytest.mark.parametrize("raw", ["2", "maybe", "enabled", "t"])
def test_env_bool_refuses_anything_else_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_bool(VAR, False)
    assert str(error.value).startswith(f"{VAR}={raw!r} is not a boolean")


# --- env_int -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), ("-3", -3), (" 7 ", 7), ("0", 0)])
def test_env_int(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    assert env_int(VAR, 1) == expected


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_env_int_default_when_unset_or_blank(monkeypatch, raw):
    if raw is not None:
        monkeypatch.setenv(VAR, raw)
    assert env_int(VAR, 11) == 11


@pytest.mark.parametrize("raw", ["4.5", "ten", "1e3", "0x10"])
def test_env_int_refuses_non_integers_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_int(VAR, 1)
    assert str(error.value) == f"{VAR}={raw!r} is not an integer"


def test_env_int_minimum(monkeypatch):
    monkeypatch.setenv(VAR, "0")
    with pytest.raises(ImproperlyConfigured) as error:
        env_int(VAR, 5, minimum=1)
    assert str(error.value) == f"{VAR}=0 must be at least 1"
    monkeypatch.setenv(VAR, "1")
    assert env_int(VAR, 5, minimum=1) == 1


# --- env_float -----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("0.5", 0.5), ("10", 10.0), ("1e-3", 1e-3), (" 2.5 ", 2.5)])
def test_env_float(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    assert env_float(VAR, 1.0) == expected


@pytest.mark.parametrize("raw", [None, ""])
def test_env_float_default_when_unset_or_blank(monkeypatch, raw):
    if raw is not None:
        monkeypatch.setenv(VAR, raw)
    assert env_float(VAR, 2.5) == 2.5


@pytest.mark.parametrize("raw", ["fast", "1,5", "0.5s"])
def test_env_float_refuses_non_numbers_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_float(VAR, 1.0)
    assert str(error.value) == f"{VAR}={raw!r} is not a number"


@pytest.mark.parametrize("raw", ["nan", "NaN"])
def test_env_float_refuses_nan(monkeypatch, raw):
    # NaN passes every `value < minimum` test, so a NaN interval would only
    # fail later, inside a worker (time.sleep(nan) raises), not at start-up.
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_float(VAR, 1.0, minimum=0.1)
    assert VAR in str(error.value)


def test_env_float_minimum(monkeypatch):
    monkeypatch.setenv(VAR, "0.01")
    with pytest.raises(ImproperlyConfigured) as error:
        env_float(VAR, 1.0, minimum=0.1)
    assert str(error.value) == f"{VAR}=0.01 must be at least 0.1"


# --- env_list ------------------------------------------------------------------------


def test_env_list(monkeypatch):
    monkeypatch.setenv(VAR, "example.com, www.example.com,,  api.example.com ")
    assert env_list(VAR, ["localhost"]) == ["example.com", "www.example.com", "api.example.com"]


def test_env_list_default_when_unset():
    assert env_list(VAR, ["localhost", "127.0.0.1"]) == ["localhost", "127.0.0.1"]


def test_env_list_empty(monkeypatch):
    monkeypatch.setenv(VAR, "")
    assert env_list(VAR, ["localhost"]) == []


@pytest.mark.parametrize("raw", ["600/min", "5/s", "100/hour", " 1000/day "])
def test_env_rate(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env_rate(VAR, "1/min") == raw.strip()


def test_env_rate_default_when_unset(monkeypatch):
    assert env_rate(VAR, "1200/min") == "1200/min"


@pytest.mark.parametrize("raw", ["600", "600/week", "0/min", "fast", "-5/s", "5/ min"])
def test_env_rate_refuses_what_drf_could_not_read_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_rate(VAR, "1/min")


# --- the deployment check --------------------------------------------------------------


def test_a_production_configuration_passes_check_deploy(tmp_path):
    """With DEBUG=0 and a real secret, `check --deploy` reports nothing."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tuning_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),  # 67 characters
        "ALLOWED_HOSTS": "example.com",
        "TUNEBOARD_VAR_DIR": str(tmp_path / "var"),
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- the connection pool ----------------------------------------------------------------

POOLED_QUERY = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT 1")
    print(type(connection.pool).__name__, connection.pool.max_size, cursor.fetchone()[0])
"""


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the pool is PostgreSQL's (psycopg)"
)
def test_database_pool_size_gives_web_processes_a_connection_pool(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tuning_site.settings",
        # The server's maintenance database: it exists wherever the server does.
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres",
        "DATABASE_POOL_SIZE": "4",
        "TUNEBOARD_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-c", POOLED_QUERY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ConnectionPool", "4", "1"]


def test_a_bad_database_pool_size_names_the_variable(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tuning_site.settings",
        "DATABASE_URL": "postgres://tuneboard@db.invalid/tuneboard",
        "DATABASE_POOL_SIZE": "many",
        "TUNEBOARD_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DATABASE_POOL_SIZE" in result.stderr
