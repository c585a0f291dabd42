"""Per-team quotas on concurrent tuning and training jobs, counted in tuning_job_create and at each launch."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from jobs import services
from jobs.models import TrainingJob, TuningJob
from tests.jobs.factories import tuning_job_config
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


@pytest.fixture
def vision():
    return Group.objects.create(name="vision")


def test_a_tuning_job_over_the_teams_limit_is_refused_with_the_real_utilization(
    algorithm, vision, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 2
    create(django_capture_on_commit_callbacks, name="one", team_name="vision")
    create(django_capture_on_commit_callbacks, name="two", team_name="vision")
    with pytest.raises(services.TeamLimitExceeded) as refused:
        create(django_capture_on_commit_callbacks, name="three", team_name="vision")
    assert (refused.value.limit, refused.value.utilization, refused.value.delta) == (2, 2, 1)
    assert refused.value.message_dict == {
        "team_name": [
            "Team vision's limit 'Number of concurrent hyperparameter tuning jobs' is 2 Jobs, with current "
            "utilization of 2 Jobs and a request delta of 1 Jobs. Wait until some end, or ask an administrator "
            "to raise the limit."
        ]
    }
    assert not TuningJob.objects.filter(name="three").exists()


def test_ended_tuning_jobs_other_teams_and_jobs_without_a_team_do_not_count(
    algorithm, vision, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 1
    Group.objects.create(name="audio")
    ended = create(django_capture_on_commit_callbacks, name="ended", team_name="vision")
    services.tuning_job_stop(tuning_job_id=ended.id)
    advance(ended, django_capture_on_commit_callbacks)
    create(django_capture_on_commit_callbacks, name="running", team_name="vision")
    create(django_capture_on_commit_callbacks, name="elsewhere", team_name="audio")
    create(django_capture_on_commit_callbacks, name="staff-1")
    create(django_capture_on_commit_callbacks, name="staff-2")
    with pytest.raises(services.TeamLimitExceeded):
        create(django_capture_on_commit_callbacks, name="again", team_name="vision")


def test_the_training_job_quota_counts_running_training_jobs_and_the_requested_parallelism(
    algorithm, vision, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 3
    first = create(django_capture_on_commit_callbacks, name="first", team_name="vision")
    advance(first, django_capture_on_commit_callbacks)
    with pytest.raises(services.TeamLimitExceeded) as refused:
        create(django_capture_on_commit_callbacks, name="second", team_name="vision", max_parallel_training_jobs=2)
    assert refused.value.quota == "Number of concurrent training jobs"
    assert (refused.value.limit, refused.value.utilization, refused.value.delta) == (3, 2, 2)
    create(django_capture_on_commit_callbacks, name="third", team_name="vision", max_parallel_training_jobs=1)


def test_a_launch_never_takes_the_team_past_its_training_job_limit(
    algorithm, vision, settings, django_capture_on_commit_callbacks
):
    """Both pass the check at creation before either launched; the launches share what is left."""
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 3
    first = create(django_capture_on_commit_callbacks, name="first", team_name="vision")
    second = create(django_capture_on_commit_callbacks, name="second", team_name="vision")
    assert len(advance(first, django_capture_on_commit_callbacks)) == 2
    assert len(advance(second, django_capture_on_commit_callbacks)) == 1
    assert advance(second, django_capture_on_commit_callbacks) == []
    assert TrainingJob.objects.filter(tuning_job__team=vision).count() == 3


def test_a_tuning_job_without_a_team_is_not_capped(algorithm, settings, django_capture_on_commit_callbacks):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 1
    tuning_job = create(django_capture_on_commit_callbacks, max_parallel_training_jobs=2)
    assert len(advance(tuning_job, django_capture_on_commit_callbacks)) == 2


def test_the_limit_error_is_a_validation_error_on_the_team(algorithm, vision, settings):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 1
    with pytest.raises(ValidationError) as refused:
        services.tuning_job_create(config=tuning_job_config(team_name="vision"))
    assert list(refused.value.message_dict) == ["team_name"]


@pytest.mark.database_vendor
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_never_exceed_the_limit(algorithm, settings, celery_broker):
    """Four requests for the last two slots at once, each on its own connection: the team's lock serialises them."""
    Group.objects.create(name="vision")
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 2
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def request(index: int):
        try:
            barrier.wait()
            services.tuning_job_create(config=tuning_job_config(name=f"tj-{index}", team_name="vision"))
            outcomes.append("created")
        except services.TeamLimitExceeded as exc:
            outcomes.append(exc.utilization)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=request, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes, key=str) == [2, 2, "created", "created"]
    assert TuningJob.objects.filter(team__name="vision").count() == 2
