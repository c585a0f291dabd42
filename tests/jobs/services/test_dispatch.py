"""Tasks sent by name after commit still follow CELERY_TASK_ROUTES to their queues; a run records its send."""

import json
import os
import uuid

import pytest
import redis

from jobs.models import TrainingJob
from jobs.services import dispatch
from tests.jobs.services.helpers import advance, create
from tuning_site.celery import app

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
        dispatch.dispatch_run(42)
        assert queued(client, "control") == queued(client, "training") == []
    assert queued(client, "control") == [("jobs.tasks.advance_tuning_job", "[41]")]
    assert queued(client, "training") == [("jobs.tasks.run_training_job", "[42]")]


def test_a_run_is_recorded_as_dispatched_only_once_the_broker_has_it(
    algorithm, celery_broker, django_capture_on_commit_callbacks
):
    client = redis.Redis.from_url(celery_broker)
    client.flushdb()
    tuning_job = create(django_capture_on_commit_callbacks)
    first, second = advance(tuning_job, django_capture_on_commit_callbacks)
    # Committed, never sent: what a process killed between COMMIT and send leaves.
    assert list(TrainingJob.objects.values_list("dispatched_at", flat=True)) == [None, None]
    assert dispatch.training_queue_length() == 0
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch_run(first.id)
    assert queued(client, "training") == [("jobs.tasks.run_training_job", f"[{first.id}]")]
    assert dispatch.training_queue_length() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.dispatched_at is not None and second.dispatched_at is None


def test_the_queue_length_is_unknown_when_the_broker_is_away(monkeypatch, caplog):
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    assert dispatch.training_queue_length() is None
    assert "could not read the length of the training queue" in caplog.text


@pytest.mark.skipif(not os.environ.get("TEST_AMQP_URL"), reason="TEST_AMQP_URL (a RabbitMQ to use) is not set")
def test_the_queue_length_is_read_from_rabbitmq(monkeypatch, settings):
    # A queue of this test's own: the RabbitMQ may be shared.
    queue = f"training-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ROUTES = {dispatch.RUN_TRAINING_JOB: {"queue": queue}}
    monkeypatch.setattr(app.conf, "broker_url", os.environ["TEST_AMQP_URL"])
    assert dispatch.training_queue_length() == 0
    # Its own connection (the app's producer pool may still point at the Redis of other tests),
    # with publisher confirms: each message is in the queue when send_task returns.
    with app.connection_for_write(transport_options={"confirm_publish": True}) as connection:
        try:
            for training_job_id in (1, 2):
                app.send_task(dispatch.RUN_TRAINING_JOB, args=[training_job_id], queue=queue, connection=connection)
            assert dispatch.training_queue_length() == 2
        finally:
            connection.default_channel.queue_delete(queue)
