"""The per-team quotas through /sagemaker: ResourceLimitExceeded, worded as AWS words it, with the real utilization."""

import pytest

from jobs.models import TuningJob
from tests.jobs.factories import register_algorithm
from tests.jobs.sagemaker.api.conftest import create_request, register_image, sagemaker_client
from tests.jobs.sagemaker.api.test_endpoint import error_of


@pytest.fixture
def alice(live_server, people):
    register_algorithm()
    register_image("quadratic")
    return sagemaker_client(live_server.url, people[1]["alice"])


def test_a_tuning_job_beyond_the_teams_limit_is_resource_limit_exceeded(alice, settings):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 2
    alice.create_hyper_parameter_tuning_job(**create_request("one"))
    alice.create_hyper_parameter_tuning_job(**create_request("two"))
    code, message, status = error_of(alice.create_hyper_parameter_tuning_job, **create_request("three"))
    assert (code, status) == ("ResourceLimitExceeded", 400)
    assert message == (
        "The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is 2 Jobs, with current "
        "utilization of 2 Jobs and a request delta of 1 Jobs. Please contact AWS support to request an increase "
        "for this limit. Tuneboard applies this limit to team vision."
    )
    assert not TuningJob.objects.filter(name="three").exists()

    alice.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="one")
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **create_request("three"))
    assert "current utilization of 2 Jobs" in message  # Stopping still counts, as on SageMaker


def test_training_jobs_beyond_the_teams_limit_name_the_requested_parallelism(alice, settings):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 3
    wide = create_request("wide", ResourceLimits={"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 4})
    code, message, _ = error_of(alice.create_hyper_parameter_tuning_job, **wide)
    assert code == "ResourceLimitExceeded"
    assert "'Number of concurrent training jobs' is 3 Jobs, with current utilization of 0 Jobs" in message
    assert "request delta of 4 Jobs" in message
