"""Handing work to Celery after commit.

Tasks are sent by name, so the service layer does not import the tasks
module (which imports the runner, which imports the services): the routes in
CELERY_TASK_ROUTES apply to a name as they do to a task object.
"""

import logging
from datetime import datetime

from django.db import transaction
from kombu.exceptions import OperationalError

from jobs.models import TrainingJob
from tuning_site.celery import app

logger = logging.getLogger(__name__)

ADVANCE_TUNING_JOB = "jobs.tasks.advance_tuning_job"
RUN_TRAINING_JOB = "jobs.tasks.run_training_job"


def _send_task(task_name: str, object_id: int) -> None:
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

    transaction.on_commit(send)


def enqueue_advance(tuning_job_id: int) -> None:
    _send_task(ADVANCE_TUNING_JOB, tuning_job_id)


def dispatch_run(training_job_id: int, now: datetime) -> None:
    TrainingJob.objects.filter(pk=training_job_id).update(dispatched_at=now)
    _send_task(RUN_TRAINING_JOB, training_job_id)
