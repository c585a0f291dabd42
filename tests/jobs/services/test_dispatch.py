"""Tasks sent by name after commit still follow CELERY_TASK_ROUTES to their queues."""

import json

import pytest
import redis
from django.utils import timezone

from jobs.services import dispatch

pytestmark = pytest.mark.django_db


def queued(client, queue: str) -> list[tuple[str, str]]:
    """(task name, its arguments) of every message waiting in `queue` (a Redis list)."""
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    return [(message["headers"]["task"], message["headers"]["argsrepr"]) for message in messages]


def test_advance_goes_to_control_and_run_to_training_after_commit(celery_broker, django_capture_on_commit_callbacks):
    client = redis.Redis.from_url(celery_broker)
    client.flushdb()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.enqueue_advance(41)
        dispatch.dispatch_run(42, timezone.now())
        assert queued(client, "control") == queued(client, "training") == []
    assert queued(client, "control") == [("jobs.tasks.advance_tuning_job", "[41]")]
    assert queued(client, "training") == [("jobs.tasks.run_training_job", "[42]")]
