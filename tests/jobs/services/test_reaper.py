"""The safety net: lost workers and lost task messages."""

from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.utils import timezone

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus
from jobs.services.reaper import reaper_watching_for, runs_to_redispatch
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


def test_reaper_fails_jobs_with_a_stale_heartbeat(
    algorithm, django_capture_on_commit_callbacks, settings, reaper_watching
):
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


def test_after_an_outage_the_reaper_watches_a_whole_timeout_before_failing_anyone(
    algorithm, django_capture_on_commit_callbacks, settings
):
    """The database was away for 100 s: no heartbeat could be written, and the reaper could not look.

    Its first passes after the gap fail nobody; a job whose worker is alive has
    written a heartbeat by the time the reaper has watched for a timeout, and
    one whose worker is really gone is failed then.
    """
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 30
    tuning_job = create(django_capture_on_commit_callbacks)
    alive, lost = advance(tuning_job, django_capture_on_commit_callbacks)
    for job in (alive, lost):
        services.training_job_start(training_job_id=job.id, worker="training@host:42", log_path="")
    before = timezone.now()
    assert services.training_jobs_reap_stale(now=before) == []  # the first pass ever only starts watching
    back = before + timedelta(seconds=100)
    TrainingJob.objects.filter(pk__in=[alive.pk, lost.pk]).update(heartbeat_at=before)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.training_jobs_reap_stale(now=back) == []
        assert services.training_jobs_reap_stale(now=back + timedelta(seconds=10)) == []
        TrainingJob.objects.filter(pk=alive.pk).update(heartbeat_at=back + timedelta(seconds=12))
        assert services.training_jobs_reap_stale(now=back + timedelta(seconds=20)) == []
        assert services.training_jobs_reap_stale(now=back + timedelta(seconds=30)) == [lost.id]
    assert TrainingJob.objects.get(pk=alive.pk).status == TrainingJobStatus.IN_PROGRESS


def test_a_pass_within_half_a_timeout_is_no_gap(db, settings):
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 30
    reaper_watching_for(T0)
    assert reaper_watching_for(T0 + timedelta(seconds=15)) == timedelta(seconds=15)
    assert reaper_watching_for(T0 + timedelta(seconds=30)) == timedelta(seconds=30)
    assert reaper_watching_for(T0 + timedelta(seconds=46)) == timedelta(0)


AFTER, FALLBACK = timedelta(seconds=20), timedelta(seconds=600)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def select(waiting, queued, now):
    return runs_to_redispatch(waiting, queued=queued, now=now, after=AFTER, fallback=FALLBACK)


def test_a_run_never_sent_is_sent_once_it_is_older_than_the_delay():
    waiting = [(1, T0, None), (2, T0 + timedelta(seconds=10), None)]
    assert select(waiting, queued=0, now=T0 + timedelta(seconds=19)) == []
    assert select(waiting, queued=0, now=T0 + timedelta(seconds=20)) == [1]
    assert select(waiting, queued=None, now=T0 + timedelta(seconds=30)) == [1, 2]


def test_runs_whose_messages_the_queue_holds_are_never_sent_again():
    waiting = [(job_id, T0, T0 + timedelta(seconds=job_id)) for job_id in (1, 2, 3)]
    assert select(waiting, queued=3, now=T0 + timedelta(hours=5)) == []


def test_lost_messages_are_sent_again_longest_waiting_first():
    waiting = [(job_id, T0, T0 + timedelta(seconds=job_id)) for job_id in (3, 1, 2)]
    assert select(waiting, queued=0, now=T0 + timedelta(seconds=22)) == [1, 2]
    assert select(waiting, queued=0, now=T0 + timedelta(seconds=23)) == [1, 2, 3]
    assert select(waiting, queued=1, now=T0 + timedelta(seconds=23)) == [1, 2]
    assert select(waiting, queued=0, now=T0 + timedelta(seconds=20)) == []


def test_without_a_queue_length_only_the_fallback_timeout_sends_again():
    waiting = [(1, T0, T0), (2, T0, T0 + timedelta(seconds=100))]
    assert select(waiting, queued=None, now=T0 + timedelta(seconds=599)) == []
    assert select(waiting, queued=None, now=T0 + timedelta(seconds=600)) == [1]


def test_redispatch_sends_runs_never_sent_and_skips_started_ones(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    waiting, started = advance(tuning_job, django_capture_on_commit_callbacks)
    services.training_job_start(training_job_id=started.id, worker="w@h:1", log_path="")
    created_at = TrainingJob.objects.get(pk=waiting.pk).created_at
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.training_jobs_redispatch(now=created_at + timedelta(seconds=5), queued=0) == []
        assert services.training_jobs_redispatch(now=created_at + timedelta(seconds=21), queued=0) == [waiting.id]
    assert len(callbacks) == 1


def test_redispatch_reads_the_real_queue(algorithm, celery_broker, django_capture_on_commit_callbacks):
    """Runs waiting in the broker's queue are left alone however long they wait; emptied, it is refilled."""
    client = redis.Redis.from_url(celery_broker)
    client.flushdb()
    tuning_job = create(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    later = timezone.now() + timedelta(hours=1)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.training_jobs_redispatch(now=later) == []
    assert client.llen("training") == len(jobs) == 2
    client.delete("training")
    with django_capture_on_commit_callbacks(execute=True):
        assert sorted(services.training_jobs_redispatch(now=later)) == sorted(job.id for job in jobs)
    assert client.llen("training") == 2
