"""Handing work to Celery after commit.

Tasks are sent by name, so the service layer does not import the tasks
module (which imports the runner, which imports the services): the routes in
CELERY_TASK_ROUTES apply to a name as they do to a task object.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from jobs.models import TrainingJob
from tuning_site.celery import app

logger = logging.getLogger(__name__)

ADVANCE_TUNING_JOB = "jobs.tasks.advance_tuning_job"
RUN_TRAINING_JOB = "jobs.tasks.run_training_job"


def _send_task(task_name: str, object_id: int, *, sent=None) -> None:
    """Send a task after commit; if the broker is down, leave it to the periodic reconcile.

    The database is the source of truth: a tuning job that was not advanced
    is advanced by the next reconcile_all, and a training job whose task was
    never sent is sent again by training_jobs_redispatch. So a broker outage
    delays work but never fails the request that caused it.
    """

    def send():
        try:
            app.send_task(task_name, args=[object_id])
        except OperationalError as exc:
            logger.warning("could not send %s(%s), the reconcile loop will: %s", task_name, object_id, exc)
            return
        if sent:
            sent()

    transaction.on_commit(send)


def enqueue_advance(tuning_job_id: int) -> None:
    _send_task(ADVANCE_TUNING_JOB, tuning_job_id)


def dispatch_run(training_job_id: int) -> None:
    """Send a training job's run task after commit; its row records the send once the broker has it.

    dispatched_at stays null until then, so a job whose message was never
    sent (the broker was down, or the process died between COMMIT and send)
    is found from its row alone by training_jobs_redispatch.
    """
    _send_task(
        RUN_TRAINING_JOB,
        training_job_id,
        sent=lambda: TrainingJob.objects.filter(pk=training_job_id).update(dispatched_at=timezone.now()),
    )


def training_queue_length() -> int | None:
    """How many messages wait in the training queue, or None where the broker cannot say.

    Redis and RabbitMQ both answer a passive queue declare with the count of
    ready messages (not those a worker holds). A queue that does not exist
    (Redis drops an empty list) holds none.
    """
    queue = settings.CELERY_TASK_ROUTES[RUN_TRAINING_JOB]["queue"]
    with app.connection_for_read(connect_timeout=5) as connection:
        try:
            connection.connect()
            with connection.channel() as channel:
                try:
                    return channel.queue_declare(queue=queue, passive=True).message_count
                except connection.channel_errors:
                    return 0
        except (OperationalError, OSError, *connection.connection_errors) as exc:
            logger.warning("could not read the length of the %s queue: %s", queue, exc)
            return None
