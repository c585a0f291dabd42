"""Named users and tuning jobs played through the services, on a clock the tests set.

Alice operates the "vision" team's tuning jobs, Carol only views them, and Bob
is in another team: every "vision" job is invisible to him.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import TeamMember, TeamRole, TuningJob
from tests.analytics.helpers import Play, client_for, completed, failed, stopped_early
from tests.jobs.factories import LEARNING_RATE, OPTIMIZER, register_algorithm, tuning_job_config

MINI_BATCH_SIZE = {"name": "mini_batch_size", "type": "Integer", "min_value": 16, "max_value": 64}
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """timezone.now() for services and auto_now fields: T0 plus what `at` says."""

    def __init__(self):
        self.now = T0

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def team(db):
    return Group.objects.create(name="vision")


def _member(django_user_model, name, team, role):
    # No password: force_login does not need one, and hashing one is slow.
    user = django_user_model.objects.create_user(name)
    if team is not None:
        TeamMember.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def alice(django_user_model, team):
    return _member(django_user_model, "alice", team, TeamRole.OPERATOR)


@pytest.fixture
def carol(django_user_model, team):
    return _member(django_user_model, "carol", team, TeamRole.VIEWER)


@pytest.fixture
def bob(django_user_model, db):
    return _member(django_user_model, "bob", Group.objects.create(name="speech"), TeamRole.OPERATOR)


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


@pytest.fixture
def carol_client(carol):
    return client_for(carol)


@pytest.fixture
def bob_client(bob):
    return client_for(bob)


@pytest.fixture
def build(clock, no_tasks, team):
    """build(name, plays, **config): a tuning job created at T0 whose training jobs run as `plays` say.

    Everything goes through the services, in time order; the tuning job is
    advanced once more after the last training job ends, so it ends too.
    """
    register_algorithm()

    def build(name: str, plays: list[Play], **overrides) -> TuningJob:
        clock.at(0)
        overrides.setdefault("team_name", "vision")
        config = tuning_job_config(
            name=name,
            parameter_ranges=[LEARNING_RATE, MINI_BATCH_SIZE, OPTIMIZER],
            max_training_jobs=len(plays),
            max_parallel_training_jobs=len(plays),
            **overrides,
        )
        tuning_job = services.tuning_job_create(config=config)
        training_jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
        assert len(training_jobs) == len(plays)
        events = sorted(
            [(play.start, 0, index) for index, play in enumerate(plays)]
            + [(play.end, 1, index) for index, play in enumerate(plays)]
        )
        for seconds, is_end, index in events:
            clock.at(seconds)
            job, play = training_jobs[index], plays[index]
            if not is_end:
                _start(job, play, tuning_job.objective_metric_name)
            else:
                _finish(job, play)
        clock.at(max(play.end for play in plays) + 1)
        services.tuning_job_advance(tuning_job_id=tuning_job.id)
        tuning_job.refresh_from_db()
        return tuning_job

    return build


def _start(job, play: Play, metric: str) -> None:
    assert services.training_job_start(training_job_id=job.id, worker="w@host:1", log_path="")
    records = [MetricRecord(metric, epoch, value, timezone.now()) for epoch, value in enumerate(play.values, 1)]
    services.training_job_record_metrics(training_job_id=job.id, records=records)


def _finish(job, play: Play) -> None:
    if play.stop_reason:
        services.training_job_stop(training_job_id=job.id, reason=play.stop_reason)
    failure = "exit code 1" if play.outcome == Outcome.FAILED else ""
    result = RunResult(outcome=play.outcome, exit_code=0 if play.outcome == Outcome.COMPLETED else 1,
                       failure_reason=failure)  # fmt: skip
    services.training_job_finish(training_job_id=job.id, result=result)


@pytest.fixture
def four_kinds(build):
    """tj-mixed (Maximize): one Completed, one Stopped early, one Failed, one Completed with a NaN objective."""
    return build(
        "tj-mixed",
        [
            completed(0, 100, [0.5, 0.75]),
            stopped_early(0, 40, [0.1]),
            failed(40, 70, [0.2]),
            completed(100, 160, [0.3, float("nan")]),
        ],
    )


@pytest.fixture
def tj_1(build):
    """tj-1: a single training job, Completed at 0.5 after 10 s; for tests about access and notes."""
    return build("tj-1", [completed(0, 10, [0.5])])
