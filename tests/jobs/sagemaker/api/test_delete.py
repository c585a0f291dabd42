"""DeleteHyperParameterTuningJob through boto3: ended tuning jobs only, operators only, as a missing one for others."""

import pytest
from django.core.exceptions import ValidationError

from jobs import services
from jobs.models import MetricSample, Tag, TrainingJob, TuningJob, TuningJobSource, TuningJobStatus
from tests.jobs.factories import register_algorithm, tuning_job_config
from tests.jobs.sagemaker.api.conftest import create_request, register_image, sagemaker_client
from tests.jobs.sagemaker.api.test_endpoint import error_of, play


@pytest.fixture
def alice(live_server, people):
    register_algorithm()
    register_image("quadratic")
    return sagemaker_client(live_server.url, people[1]["alice"])


def stopped(name: str, **config) -> TuningJob:
    """A tuning job that ran one training job to the end, then was stopped and has ended."""
    tuning_job = services.tuning_job_create(config=tuning_job_config(name=name, team_name="vision", **config))
    first = services.tuning_job_advance(tuning_job_id=tuning_job.id)[0]
    play(first.id, [0.4, 0.8])
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPED
    return tuning_job


def test_an_ended_tuning_job_is_deleted_and_its_name_is_free_again(alice):
    tuning_job = stopped("to-delete", tags={"project": "seed"})
    training_names = list(tuning_job.training_jobs.values_list("name", flat=True))
    response = alice.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName="to-delete")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    assert error_of(alice.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="to-delete") == (
        "ResourceNotFound",
        "Amazon SageMaker can't find a tuning job called to-delete. Type another name.",
        400,
    )
    for name in training_names:
        assert error_of(alice.describe_training_job, TrainingJobName=name)[:2] == (
            "ValidationException",
            "Requested resource not found.",
        )
    assert not TrainingJob.objects.filter(name__in=training_names).exists()
    assert not MetricSample.objects.exists()
    assert not Tag.objects.exists()
    assert error_of(alice.delete_hyper_parameter_tuning_job, HyperParameterTuningJobName="to-delete")[0] == (
        "ResourceNotFound"
    )
    alice.create_hyper_parameter_tuning_job(**create_request("to-delete"))
    assert TuningJob.objects.get(name="to-delete").status == TuningJobStatus.IN_PROGRESS


def test_a_running_tuning_job_is_refused(alice):
    alice.create_hyper_parameter_tuning_job(**create_request("running"))
    code, message, status = error_of(alice.delete_hyper_parameter_tuning_job, HyperParameterTuningJobName="running")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("The request was rejected because the hyperparameter tuning job is in status InProgress.")
    services.tuning_job_stop(tuning_job_id=TuningJob.objects.get(name="running").id)
    code, message, _ = error_of(alice.delete_hyper_parameter_tuning_job, HyperParameterTuningJobName="running")
    assert message.startswith("The request was rejected because the hyperparameter tuning job is in status Stopping.")
    assert TuningJob.objects.filter(name="running").exists()


def test_others_get_not_found_and_viewers_may_not_delete(live_server, alice, people):
    services.tuning_job_create(config=tuning_job_config(name="audio-job", team_name="audio"))
    TuningJob.objects.filter(name="audio-job").update(status=TuningJobStatus.COMPLETED)
    assert error_of(alice.delete_hyper_parameter_tuning_job, HyperParameterTuningJobName="audio-job") == (
        "ResourceNotFound",
        "Amazon SageMaker can't find a tuning job called audio-job. Type another name.",
        400,
    )
    stopped("watched")
    bob = sagemaker_client(live_server.url, people[1]["bob"])
    assert error_of(bob.delete_hyper_parameter_tuning_job, HyperParameterTuningJobName="watched")[0] == (
        "AccessDeniedException"
    )
    assert set(TuningJob.objects.values_list("name", flat=True)) == {"audio-job", "watched"}


def test_an_imported_copy_may_go_whatever_its_status(alice):
    services.tuning_job_create(config=tuning_job_config(name="imported", team_name="vision"))
    TuningJob.objects.filter(name="imported").update(source=TuningJobSource.SAGEMAKER_IMPORT)
    alice.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName="imported")
    assert not TuningJob.objects.filter(name="imported").exists()


def test_the_service_refuses_a_running_tuning_job_whoever_calls_it(alice):
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="busy", team_name="vision"))
    with pytest.raises(ValidationError) as caught:
        services.tuning_job_delete(tuning_job_id=tuning_job.id)
    assert caught.value.message_dict == {"status": ["busy is InProgress: stop it first."]}
