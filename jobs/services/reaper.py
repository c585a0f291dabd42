"""The safety net run by reconcile_all: lost workers, lost task messages.

A SageMaker job outlives the worker watching it, so it is re-attached rather
than failed; everything else a lost worker ran is ended here.
"""

import logging
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs import aws
from jobs.backends.base import Outcome, RunResult, StopCause, infrastructure_failure
from jobs.backends.s3 import describe_error
from jobs.models import ACTIVE_STATUSES, Backend, ReaperWatch, TrainingJob, TrainingJobStatus
from jobs.services import dispatch
from jobs.services.training_jobs import training_job_fail, training_job_finish

logger = logging.getLogger(__name__)


# A SageMaker job outlives the worker watching it: when that worker is lost, another
# one re-attaches to it, at most this many times. A job whose watchers keep dying is
# more likely killing them (memory, a bug) than unlucky.
SAGEMAKER_REATTACH_LIMIT = 3


def training_jobs_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail running training jobs whose worker stopped sending heartbeats.

    The worker died (killed, machine lost) so nothing else will ever end
    these jobs; failing them lets their tuning jobs carry on. A SageMaker job
    did not die with it, though: it is offered to another worker to re-attach
    (see _reap_sagemaker_training_job). Returns the jobs that were ended.

    Nobody is failed for an outage: after a gap in the reaper's own passes (the
    database, the broker or beat was away, and so were the heartbeats) it
    first watches for a whole timeout, time for every live worker to report again.
    """
    now = now or timezone.now()
    watching = reaper_watching_for(now)
    stale = (
        TrainingJob.objects.filter(status__in=ACTIVE_STATUSES, started_at__isnull=False)
        .filter(_heartbeat_lapsed(now, watching))
        .select_related("tuning_job__algorithm")
    )
    reaped = []
    for training_job in stale:
        if training_job.tuning_job.algorithm.backend == Backend.SAGEMAKER and training_job.remote_name:
            if not _reap_sagemaker_training_job(training_job, now):
                continue
        else:
            _end_lost(
                training_job,
                f"The worker running this job ({training_job.worker or 'unknown'}) stopped responding: "
                f"no heartbeat since {training_job.heartbeat_at.isoformat()}.",
            )
        reaped.append(training_job.id)
    if reaped:
        logger.warning("failed %d training job(s) whose worker was lost: %s", len(reaped), reaped)
    return reaped


@transaction.atomic
def training_job_worker_lost(*, training_job_id: int, worker: str, cause: str) -> bool:
    """End the job that the worker process `worker` (node:pid) ran when it died; True if it did.

    Called by the Celery worker's main process the moment a pool process dies
    (WorkerLostError), long before a heartbeat would lapse. Only if `worker`
    still runs the job: a second report, or one about a job already retried
    elsewhere, changes nothing. A SageMaker job outlives its watcher and is
    left to the reaper, which offers it for re-attach.
    """
    training_job = (
        TrainingJob.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tuning_job__algorithm")
        .filter(pk=training_job_id, status__in=ACTIVE_STATUSES, worker=worker)
        .first()
    )
    if training_job is None or training_job.tuning_job.algorithm.backend == Backend.SAGEMAKER:
        return False
    _end_lost(training_job, f"The worker process running this job ({worker}) was lost: {cause}")
    logger.warning("training job %s: its worker process %s was lost (%s)", training_job.name, worker, cause)
    return True


def _end_lost(training_job: TrainingJob, why: str) -> None:
    """End a job whose worker is gone: an InternalServerError, retried as its RetryStrategy says."""
    if training_job.status == TrainingJobStatus.STOPPING:
        # It was being stopped anyway (an outside trainer that quit
        # without acknowledging): the stop has happened.
        training_job_finish(
            training_job_id=training_job.id,
            result=RunResult(outcome=Outcome.STOPPED, exit_code=None, stop_cause=StopCause.REQUESTED),
        )
    else:
        training_job_fail(training_job_id=training_job.id, reason=infrastructure_failure(why))


def _heartbeat_lapsed(now: datetime, watching: timedelta) -> Q:
    """Jobs whose heartbeat is older than their timeout, once the reaper has watched that long.

    A training worker's timeout is short (TUNEBOARD_HEARTBEAT_TIMEOUT: its
    heartbeat comes from a thread of its own); an outside trainer reports
    over the network, as often as its author chose
    (TUNEBOARD_TRAINER_HEARTBEAT_TIMEOUT).
    """
    external = Q(tuning_job__algorithm__backend=Backend.EXTERNAL)
    lapsed = Q(pk__in=[])
    for jobs, seconds in (
        (~external, settings.TUNEBOARD_HEARTBEAT_TIMEOUT),
        (external, settings.TUNEBOARD_TRAINER_HEARTBEAT_TIMEOUT),
    ):
        timeout = timedelta(seconds=seconds)
        if watching >= timeout:
            lapsed |= jobs & Q(heartbeat_at__lt=now - timeout)
    return lapsed


@transaction.atomic
def reaper_watching_for(now: datetime) -> timedelta:
    """Record a pass of the reaper; how long it has been reading heartbeats without a gap.

    A gap is longer than half the heartbeat timeout: a live job's heartbeat is
    then at most that old plus a heartbeat interval when the reaper looks again,
    so within a shorter gap no live job can look lost.
    """
    ReaperWatch.objects.get_or_create(pk=1, defaults={"last_pass_at": now, "watching_since": now})
    watch = ReaperWatch.objects.select_for_update().get(pk=1)
    if now - watch.last_pass_at > timedelta(seconds=settings.TUNEBOARD_HEARTBEAT_TIMEOUT / 2):
        logger.warning(
            "no reaper pass since %s: watching heartbeats again before failing any job", watch.last_pass_at.isoformat()
        )
        watch.watching_since = now
    watch.last_pass_at = max(now, watch.last_pass_at)
    watch.save()
    return now - watch.watching_since


def _reap_sagemaker_training_job(training_job: TrainingJob, now: datetime) -> bool:
    """Offer a SageMaker job whose watcher was lost to another worker; True if it was ended instead.

    Its run task is sent again and the worker that gets it re-attaches
    (training_job_reattach). A job still awaiting its re-attach (no training
    worker took the task) gets the task again without using up an attempt.
    Past SAGEMAKER_REATTACH_LIMIT it is ended here and asked to stop there,
    so that it does not train on, and bill, unwatched.
    """
    awaiting = training_job.awaiting_reattach
    attempt = training_job.reattach_count + (0 if awaiting else 1)
    if attempt <= SAGEMAKER_REATTACH_LIMIT:
        with transaction.atomic():
            # Conditional on the row as read, so that of two reapers only one offers it.
            offered = TrainingJob.objects.filter(
                pk=training_job.id,
                status__in=ACTIVE_STATUSES,
                worker=training_job.worker,
                heartbeat_at=training_job.heartbeat_at,
            ).update(awaiting_reattach=True, reattach_count=attempt, worker="", heartbeat_at=now)
            if offered:
                dispatch.dispatch_run(training_job.id)
        if offered and not awaiting:
            logger.warning(
                "the worker %s watching SageMaker training job %s was lost: re-attach %d of %d",
                training_job.worker,
                training_job.remote_name,
                attempt,
                SAGEMAKER_REATTACH_LIMIT,
            )
        return False
    training_job_id, remote_name = training_job.id, training_job.remote_name
    stopped = _stop_sagemaker_training_job(remote_name)
    if training_job.status == TrainingJobStatus.STOPPING:
        training_job_finish(
            training_job_id=training_job_id,
            result=RunResult(outcome=Outcome.STOPPED, exit_code=None, stop_cause=StopCause.REQUESTED),
        )
    else:
        reason = (
            f"The worker watching SageMaker training job {remote_name} ({training_job.worker or 'none'}) stopped "
            f"responding: no heartbeat since {training_job.heartbeat_at.isoformat()}, "
            f"after {SAGEMAKER_REATTACH_LIMIT} re-attaches; {stopped}"
        )
        training_job_fail(training_job_id=training_job_id, reason=reason)
    return True


def _stop_sagemaker_training_job(remote_name: str) -> str:
    """StopTrainingJob, best effort: says how it went, for the failure reason."""
    try:
        aws.client("sagemaker").stop_training_job(TrainingJobName=remote_name)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("could not stop SageMaker training job %s: %s", remote_name, exc)
        return f"stopping it there failed ({describe_error(exc)}): check it in the SageMaker console."
    return "it was asked to stop on SageMaker."


def training_jobs_redispatch(*, now: datetime | None = None, queued: int | None = None) -> list[int]:
    """Send again the run tasks of training jobs whose message never came or was lost.

    Derived from the rows and the training queue's length (`queued`, read from
    the broker unless given) so that no lost message waits for a timeout
    meant for something else:

    - dispatched_at null: the task was never sent (the broker was down, or
      the process died between COMMIT and send);
    - more jobs sent and not started than messages in the queue: that many
      messages were lost (a broker restart without persistence). A job that
      waits for a free slot keeps its message in the queue, so it is not
      sent again however long it waits.

    A duplicate finds the job claimed and does nothing. Returns the jobs sent.
    """
    now = now or timezone.now()
    if queued is None:
        queued = dispatch.training_queue_length()
    waiting = list(
        TrainingJob.objects.filter(status=TrainingJobStatus.IN_PROGRESS, started_at__isnull=True)
        .exclude(tuning_job__algorithm__backend=Backend.EXTERNAL)
        .values_list("id", "created_at", "dispatched_at")
    )
    resend = runs_to_redispatch(
        waiting,
        queued=queued,
        now=now,
        after=timedelta(seconds=settings.TUNEBOARD_REDISPATCH_AFTER),
        fallback=timedelta(seconds=settings.TUNEBOARD_START_TIMEOUT),
    )
    for training_job_id in resend:
        dispatch.dispatch_run(training_job_id)
    if resend:
        logger.warning("sent again the run task of %d training job(s) not started: %s", len(resend), resend)
    return resend


def runs_to_redispatch(
    waiting: list[tuple[int, datetime, datetime | None]],
    *,
    queued: int | None,
    now: datetime,
    after: timedelta,
    fallback: timedelta,
) -> list[int]:
    """Which of the jobs not started (id, created_at, dispatched_at) to send again.

    Each job sent and not started has its message in the queue, bar the
    moment between a worker taking it and claiming the job (a worker
    prefetches nothing beyond the tasks it runs: acks late, multiplier 1).
    So when the queue holds `missing` fewer messages than there are such
    jobs, `missing` messages are lost; which ones the broker cannot say, so
    the longest waiting are sent first, as the queue would have served them.
    A wrong guess leaves a duplicate in the queue, consumed as a no-op, and
    the job still missing is sent once the counts differ again. Nothing is
    sent within `after` of its dispatch (it may be on its way to a worker);
    where the broker cannot say how many messages it holds (`queued` None),
    only jobs waiting longer than `fallback` are sent.
    """
    never_sent = [job_id for job_id, created_at, sent_at in waiting if sent_at is None and created_at <= now - after]
    sent = sorted((sent_at, job_id) for job_id, _, sent_at in waiting if sent_at is not None)
    if queued is None:
        lost = [job_id for sent_at, job_id in sent if sent_at <= now - fallback]
    else:
        due = [job_id for sent_at, job_id in sent if sent_at <= now - after]
        lost = due[: max(len(sent) - queued, 0)]
    return never_sent + lost
