"""Celery tasks: thin, idempotent wrappers around the service layer.

Each takes ids, never model instances, so a task delivered twice, late or to
another machine reads the current state and does the right thing.
"""

import logging
import time

from celery import shared_task
from celery.exceptions import WorkerLostError
from celery.signals import worker_shutting_down
from celery.worker.request import Request
from django.db import connection

from jobs import runner, selectors, services
from jobs.job_directories import WorkerDiskFull
from jobs.models import TrainingJob, TuningJob

logger = logging.getLogger(__name__)

# How long a training job refused for want of disk waits before it is offered again.
DISK_FULL_RETRY_SECONDS = 5


@shared_task
def advance_tuning_job(tuning_job_id: int) -> int:
    """Reconcile one tuning job; returns how many training jobs it launched."""
    try:
        return len(services.tuning_job_advance(tuning_job_id=tuning_job_id))
    except TuningJob.DoesNotExist:
        logger.info("tuning job %s is gone; nothing to advance", tuning_job_id)
        return 0


class TrainingRunRequest(Request):
    """A run task as the Celery worker's main process sees it: it outlives the pool process running the job.

    When that process dies (the kernel's OOM killer, kill -9, a crash in a
    native library), the main process hears of it at once (WorkerLostError),
    long before the job's heartbeat lapses: the job ends there and then with
    SageMaker's InternalServerError, and is retried as its RetryStrategy says.
    """

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        # The pool hands the error over wrapped, with its traceback.
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, WorkerLostError) and self.worker_pid and self.args:
            try:
                services.training_job_worker_lost(
                    training_job_id=int(self.args[0]), worker=f"{self.hostname}:{self.worker_pid}", cause=str(exc)
                )
            except Exception:
                # The reaper is the safety net: the job's heartbeat lapses in seconds.
                logger.exception("could not end training job %s after its worker process was lost", self.args[0])
            finally:
                # The main process runs no tasks: nothing to keep a connection open for.
                connection.close()
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


@shared_task(bind=True, max_retries=None, Request=TrainingRunRequest)
def run_training_job(self, training_job_id: int) -> str | None:
    """Run one training job to its end on this worker (queue `training`)."""
    try:
        training_job = runner.execute_training_job(training_job_id, worker_node=self.request.hostname or "worker")
    except TrainingJob.DoesNotExist:
        logger.info("training job %s is gone; nothing to run", training_job_id)
        return None
    except WorkerDiskFull as exc:
        logger.warning("not taking training job %s: %s", training_job_id, exc)
        # Back to the queue for a worker with room. Holding the slot first keeps this
        # worker from taking the job straight back (an idle worker waiting on the queue
        # gets it) and from taking others meanwhile; once it has room again, it is one
        # of the workers the job may go to.
        time.sleep(DISK_FULL_RETRY_SECONDS)
        raise self.retry(countdown=0) from exc
    return training_job.status if training_job else None


@shared_task
def reap_lost_workers() -> int:
    """End (or retry) the training jobs whose worker stopped sending heartbeats; how many."""
    return len(services.training_jobs_reap_stale())


@shared_task
def reconcile_all() -> dict:
    """The periodic safety net: resend lost tasks, advance every active tuning job.

    Each tuning job is advanced on its own: one that cannot be (a bad row, a
    bug its data triggers) is logged and skipped, so the safety net still
    holds for all the others.
    """
    resent = services.training_jobs_redispatch()
    advanced = 0
    for tuning_job_id in selectors.active_tuning_job_ids():
        try:
            advance_tuning_job(tuning_job_id)
        except Exception:
            logger.exception("reconcile: tuning job %s could not be advanced; the others carry on", tuning_job_id)
        else:
            advanced += 1
    return {"resent": len(resent), "advanced": advanced}


@worker_shutting_down.connect
def stop_training_on_shutdown(sender=None, **kwargs):
    """A training worker going down stops the programs it runs instead of waiting hours for them."""
    count = services.training_jobs_interrupt(worker_node=str(sender))
    if count:
        logger.warning("worker %s is shutting down: stopping %d training job(s)", sender, count)
