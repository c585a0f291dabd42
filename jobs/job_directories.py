"""A training worker's own disk: where local jobs run, how full it may get, how long files stay.

Each worker has its own TUNEBOARD_JOBS_DIR (no shared disk is assumed), so these
rules run on the worker, for its disk: before it takes a job, and now and then
between jobs.
"""

import errno
import logging
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from jobs.backends.local import LOG_NAME
from jobs.models import TrainingJob

logger = logging.getLogger(__name__)

MB = 2**20
# How often, at most, a worker looks for expired job directories: a scan lists
# every job directory on its disk.
EXPIRY_INTERVAL_SECONDS = 600.0
_next_expiry = 0.0


def job_directory(training_job: TrainingJob) -> Path:
    return settings.TUNEBOARD_JOBS_DIR / training_job.tuning_job.name / training_job.name


class WorkerDiskFull(Exception):
    """This worker has too little free disk to take a training job: another worker should."""


def check_free_space() -> None:
    """Raise WorkerDiskFull when TUNEBOARD_JOBS_DIR's disk has less than TUNEBOARD_MIN_FREE_DISK_MB free.

    Checked before a job is claimed, so a nearly full disk costs no job a failure:
    the job waits for a worker with room instead of failing in milliseconds.
    """
    jobs_dir = settings.TUNEBOARD_JOBS_DIR
    minimum = settings.TUNEBOARD_MIN_FREE_DISK_MB
    try:
        jobs_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(jobs_dir).free
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        free = 0
    if free < minimum * MB:
        raise WorkerDiskFull(
            f"only {free // MB} MB free under {jobs_dir}, less than TUNEBOARD_MIN_FREE_DISK_MB ({minimum} MB)"
        )


def expire_job_directories(*, now: datetime | None = None) -> list[Path]:
    """Remove all but the log from the directories of jobs that ended TUNEBOARD_JOB_DIR_RETENTION_HOURS ago.

    The log stays because the job's page serves it from this disk. Model, input
    and output files go: the model was uploaded if the job had an S3 output path,
    and nobody else reads them. Returns the directories that were cleaned.
    """
    hours = settings.TUNEBOARD_JOB_DIR_RETENTION_HOURS
    root = settings.TUNEBOARD_JOBS_DIR
    if not hours or not root.is_dir():
        return []
    # Only directories holding more than their log are worth a query.
    candidates = {
        (job_dir.parent.name, job_dir.name): job_dir
        for job_dir in root.glob("*/*")
        if job_dir.is_dir() and any(entry.name != LOG_NAME for entry in job_dir.iterdir())
    }
    if not candidates:
        return []
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    expired = TrainingJob.objects.filter(name__in=[name for _, name in candidates], ended_at__lt=cutoff).values_list(
        "tuning_job__name", "name"
    )
    cleaned = []
    for key in expired:
        job_dir = candidates.get(key)
        if job_dir is None:
            continue
        for entry in job_dir.iterdir():
            if entry.name == LOG_NAME:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        cleaned.append(job_dir)
    return cleaned


def expire_job_directories_now_and_then() -> None:
    """expire_job_directories at most every EXPIRY_INTERVAL_SECONDS in this process; never raises."""
    global _next_expiry
    if time.monotonic() < _next_expiry:
        return
    _next_expiry = time.monotonic() + EXPIRY_INTERVAL_SECONDS
    try:
        cleaned = expire_job_directories()
    except OSError:
        logger.exception("could not clean expired job directories under %s", settings.TUNEBOARD_JOBS_DIR)
        return
    if cleaned:
        logger.info("removed the files of %d ended job(s) past their retention", len(cleaned))
