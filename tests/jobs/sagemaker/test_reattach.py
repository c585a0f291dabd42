"""A SageMaker training job outlives the worker watching it: another worker re-attaches to it.

The remote side is the moto server behind `TrainingLifecycle` (see
tests/jobs/sagemaker/lifecycle.py), which adds the StopTrainingJob and the
jobs that train for a while that moto lacks.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs import runner, services
from jobs.aws import client as aws_client
from jobs.backends.metrics import MetricRecord
from jobs.backends.sagemaker import METRICS_NAMESPACE
from jobs.models import (
    Algorithm,
    Backend,
    MetricSample,
    StopReason,
    TrainingJob,
    TrainingJobStatus,
    TuningJob,
    TuningJobStatus,
)
from tests.jobs.factories import tuning_job_config
from tests.jobs.sagemaker.lifecycle import TrainingLifecycle
from tests.jobs.waiting import wait_for

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
EPOCHS = 8
METRIC = "validation:accuracy"


def accuracy(hyperparameters, epoch: int) -> float:
    return round(0.1 * epoch, 3)


def register_sagemaker_algorithm():
    Algorithm.objects.create(
        name="quadratic",
        backend=Backend.SAGEMAKER,
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic:1",
        metric_definitions=[{"Name": METRIC, "Regex": r"validation:accuracy=(\S+)"}],
        static_hyperparameters={"epochs": str(EPOCHS)},
        sagemaker_config={"RoleArn": ROLE, "InstanceType": "ml.m5.large", "S3OutputPath": "s3://models/runs"},
    )


def create_remote_job(name: str) -> None:
    """A SageMaker training job some worker created (through whatever endpoint the settings name)."""
    aws_client("sagemaker").create_training_job(
        TrainingJobName=name,
        HyperParameters={"epochs": str(EPOCHS)},
        AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/q:1",
                                "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://models/runs/tj-1"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )  # fmt: skip


def watched_job(
    callbacks,
    *,
    worker="training@gone:42",
    heartbeat_age=61.0,
    remote_name="tj-1-001-0a1b2c3d",
    reattach_count=0,
    awaiting_reattach=False,
):
    """A sagemaker training job a worker started and named, whose heartbeat is `heartbeat_age` s old."""
    register_sagemaker_algorithm()
    with callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1))
        training_job = services.tuning_job_advance(tuning_job_id=tuning_job.id)[0]
        services.training_job_start(training_job_id=training_job.id, worker=worker, log_path="")
    services.training_job_set_remote_name(training_job_id=training_job.id, remote_name=remote_name)
    TrainingJob.objects.filter(pk=training_job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
        reattach_count=reattach_count,
        awaiting_reattach=awaiting_reattach,
        worker="" if awaiting_reattach else worker,
    )
    return TrainingJob.objects.get(pk=training_job.pk)


def reap(callbacks):
    with callbacks(execute=False) as sent:
        reaped = services.training_jobs_reap_stale()
    return reaped, sent


@pytest.mark.django_db
def test_the_reaper_offers_a_lost_sagemaker_job_for_re_attach_instead_of_failing_it(
    django_capture_on_commit_callbacks, settings, reaper_watching
):
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 60
    job = watched_job(django_capture_on_commit_callbacks)

    reaped, sent = reap(django_capture_on_commit_callbacks)

    assert reaped == []
    job.refresh_from_db()
    assert (job.status, job.awaiting_reattach, job.reattach_count) == (TrainingJobStatus.IN_PROGRESS, True, 1)
    assert len(sent) == 1  # its run task, again
    # Not reaped again while it waits for a worker: its heartbeat clock started over.
    assert reap(django_capture_on_commit_callbacks) == ([], [])
    # Still waiting a timeout later (no training worker took it): offered again, no attempt used up.
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    reaped, sent = reap(django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert (reaped, len(sent), job.awaiting_reattach, job.reattach_count) == ([], 1, True, 1)

    taken = services.training_job_reattach(training_job_id=job.id, worker="training@new:7")
    assert (taken.worker, taken.awaiting_reattach, taken.reattach_count) == ("training@new:7", False, 1)
    assert services.training_job_reattach(training_job_id=job.id, worker="training@other:8") is None


@pytest.mark.django_db
def test_a_job_neither_new_nor_offered_for_re_attach_is_not_run_again(django_capture_on_commit_callbacks, jobs_dir):
    job = watched_job(django_capture_on_commit_callbacks, heartbeat_age=0)

    with django_capture_on_commit_callbacks(execute=False):
        assert runner.execute_training_job(job.id, worker_node="training@late") is None
    job.refresh_from_db()
    assert (job.status, job.worker) == (TrainingJobStatus.IN_PROGRESS, "training@gone:42")


@pytest.mark.django_db
def test_a_sagemaker_job_past_its_re_attach_budget_is_failed_here_and_stopped_there(
    aws, django_capture_on_commit_callbacks, settings, reaper_watching
):
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 60
    with TrainingLifecycle(aws, epochs=EPOCHS, value=accuracy) as lifecycle:
        settings.TUNEBOARD_AWS_ENDPOINT_URL = lifecycle.url
        create_remote_job("tj-1-001-0a1b2c3d")
        job = watched_job(
            django_capture_on_commit_callbacks, worker="training@c:3", reattach_count=services.SAGEMAKER_REATTACH_LIMIT
        )

        reaped, _ = reap(django_capture_on_commit_callbacks)

    assert reaped == [job.id]
    assert lifecycle.stop_requests == ["tj-1-001-0a1b2c3d"]
    job.refresh_from_db()
    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason.startswith(
        "The worker watching SageMaker training job tj-1-001-0a1b2c3d (training@c:3) stopped responding"
    )
    assert job.failure_reason.endswith("after 3 re-attaches; it was asked to stop on SageMaker.")


@pytest.mark.django_db
def test_a_failed_stop_on_giving_up_is_in_the_failure_reason(
    aws, django_capture_on_commit_callbacks, settings, reaper_watching
):
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 60
    with TrainingLifecycle(aws, epochs=EPOCHS, value=accuracy) as lifecycle:
        settings.TUNEBOARD_AWS_ENDPOINT_URL = lifecycle.url
        job = watched_job(django_capture_on_commit_callbacks, worker="training@c:3", reattach_count=3)

        reaped, _ = reap(django_capture_on_commit_callbacks)

    assert reaped == [job.id]
    job.refresh_from_db()
    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason.endswith(
        "stopping it there failed (ValidationException: tj-1-001-0a1b2c3d is not in progress.): "
        "check it in the SageMaker console."
    )


@pytest.mark.django_db
def test_re_attach_to_a_job_sagemaker_does_not_know_fails_clearly_and_creates_nothing(
    aws, django_capture_on_commit_callbacks, jobs_dir
):
    job = watched_job(django_capture_on_commit_callbacks, reattach_count=1, awaiting_reattach=True)

    with django_capture_on_commit_callbacks(execute=False):
        ended = runner.execute_training_job(job.id, worker_node="training@new")

    assert ended.status == TrainingJobStatus.FAILED
    assert ended.failure_reason.startswith(
        "Could not re-attach to SageMaker training job tj-1-001-0a1b2c3d: "
        "SageMaker does not know it (ValidationException"
    )
    assert ended.failure_reason.endswith("another AWS account or region than the one that created it.")
    assert aws_training_job_names() == []


def aws_training_job_names():
    return [s["TrainingJobName"] for s in aws_client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]


@pytest.mark.django_db
def test_re_attach_describes_the_existing_job_and_reads_only_the_epochs_not_yet_stored(
    aws, django_capture_on_commit_callbacks, jobs_dir
):
    """moto's job is Completed at once. The lost watcher stored epochs 1 and 2; CloudWatch holds 2 to 4
    (epoch 1 as if aged out of its high-resolution retention), so counting afresh, or on without skipping
    what is stored, would number them wrongly."""
    create_remote_job("tj-1-001-0a1b2c3d")
    job = watched_job(django_capture_on_commit_callbacks, reattach_count=1, awaiting_reattach=True)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    aws_client("cloudwatch").put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "TrainingJobName", "Value": "tj-1-001-0a1b2c3d"}],
                "Timestamp": start + timedelta(seconds=epoch),
                "Value": accuracy({}, epoch),
            }
            for epoch in range(2, 5)
        ],
    )
    with django_capture_on_commit_callbacks(execute=False):
        services.training_job_record_metrics(
            training_job_id=job.id,
            records=[MetricRecord(METRIC, e, accuracy({}, e), start + timedelta(seconds=e)) for e in (1, 2)],
        )

    with django_capture_on_commit_callbacks(execute=False):
        ended = runner.execute_training_job(job.id, worker_node="training@new")

    assert ended.status == TrainingJobStatus.COMPLETED
    assert ended.worker.startswith("training@new:") and ended.reattach_count == 1
    assert aws_training_job_names() == ["tj-1-001-0a1b2c3d"]
    samples = MetricSample.objects.filter(training_job=job).order_by("epoch")
    assert [(s.epoch, s.value) for s in samples] == [(e, accuracy({}, e)) for e in range(1, 5)]
    assert ended.epochs_run == 4


@pytest.mark.django_db
def test_a_stop_asked_for_while_the_watcher_was_lost_reaches_sagemaker_on_re_attach(
    aws, django_capture_on_commit_callbacks, jobs_dir, settings
):
    settings.TUNEBOARD_STOP_POLL_INTERVAL = 0.05
    with TrainingLifecycle(aws, epochs=EPOCHS, value=accuracy, hold_at=2) as lifecycle:
        settings.TUNEBOARD_AWS_ENDPOINT_URL = lifecycle.url
        create_remote_job("tj-1-001-0a1b2c3d")
        job = watched_job(django_capture_on_commit_callbacks, reattach_count=1, awaiting_reattach=True)
        with django_capture_on_commit_callbacks(execute=False):
            services.training_job_stop(training_job_id=job.id)

            ended = runner.execute_training_job(job.id, worker_node="training@new")

    assert lifecycle.stop_requests == ["tj-1-001-0a1b2c3d"]
    assert (ended.status, ended.stop_reason, ended.secondary_status) == (
        TrainingJobStatus.STOPPED,
        StopReason.USER_REQUEST,
        "Stopped",
    )
    assert lifecycle.creates == ["tj-1-001-0a1b2c3d"]  # the lost watcher's, none since


@pytest.mark.integration
def test_a_sagemaker_job_whose_worker_was_killed_is_re_attached_and_runs_to_its_end(
    workers, aws, aws_worker_env, tmp_path
):
    register_sagemaker_algorithm()
    with TrainingLifecycle(aws, epochs=EPOCHS, value=accuracy, hold_at=3) as lifecycle:
        workers.env.update(aws_worker_env)
        workers.env.update(
            TUNEBOARD_AWS_ENDPOINT_URL=lifecycle.url,
            TUNEBOARD_RECONCILE_INTERVAL="1",
            TUNEBOARD_HEARTBEAT_TIMEOUT="3",
        )
        workers.start_worker("control", 1)
        workers.start_worker("training", 1, name="doomed")
        workers.start_beat(tmp_path)
        tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1))

        job = wait_for(
            lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run=3).first(),
            workers,
            what="the training job to report 3 epochs",
        )
        workers.kill("doomed")
        # It trains on, unwatched: two more epochs reach CloudWatch before anyone looks again.
        lifecycle.release()
        lifecycle.advance(job.remote_name)
        lifecycle.advance(job.remote_name)
        wait_for(
            lambda: TrainingJob.objects.get(pk=job.pk).awaiting_reattach,
            workers,
            what="the reaper to offer the job for re-attach",
        )
        workers.start_worker("training", 1, name="replacement")
        wait_for(
            lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
            workers,
            what="the tuning job to complete",
        )

    job.refresh_from_db()
    assert job.status == TrainingJobStatus.COMPLETED
    assert job.worker.startswith("replacement@") and job.reattach_count == 1
    assert lifecycle.creates == [job.remote_name]
    assert lifecycle.stop_requests == []
    samples = MetricSample.objects.filter(training_job=job).order_by("epoch")
    assert [(s.epoch, s.value) for s in samples] == [(e, accuracy({}, e)) for e in range(1, EPOCHS + 1)]
    assert job.epochs_run == EPOCHS
    assert job.final_objective_value == accuracy({}, EPOCHS)
