"""The safety net: lost workers and lost task messages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


def test_reaper_fails_jobs_with_a_stale_heartbeat(algorithm, django_capture_on_commit_callbacks, settings):
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 30
    tuning_job = create(django_capture_on_commit_callbacks)
    stale, fresh = advance(tuning_job, django_capture_on_commit_callbacks)
    for job in (stale, fresh):
        services.training_job_start(training_job_id=job.id, worker="training@gone:42", log_path="")
    TrainingJob.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    with django_capture_on_commit_callbacks(execute=False):
        assert services.training_jobs_reap_stale() == [stale.id]
    stale.refresh_from_db()
    assert stale.status == TrainingJobStatus.FAILED
    assert "training@gone:42" in stale.failure_reason and "no heartbeat" in stale.failure_reason
    fresh.refresh_from_db()
    assert fresh.status == TrainingJobStatus.IN_PROGRESS


def test_redispatch_resends_only_long_waiting_jobs(algorithm, django_capture_on_commit_callbacks, settings):
    settings.TUNEBOARD_START_TIMEOUT = 60
    tuning_job = create(django_capture_on_commit_callbacks)
    waiting, started = advance(tuning_job, django_capture_on_commit_callbacks)
    services.training_job_start(training_job_id=started.id, worker="w@h:1", log_path="")
    TrainingJob.objects.update(dispatched_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.training_jobs_redispatch() == [waiting.id]
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=False):
        assert services.training_jobs_redispatch() == []
