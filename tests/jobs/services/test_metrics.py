"""Storing metric batches: the final objective, NaN and infinities, retried batches."""

import math
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import services
from jobs.backends.metrics import MetricRecord
from jobs.models import MetricSample, ObjectiveStatus, TuningJobStatus
from tests.jobs.factories import run
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


def test_final_objective_is_the_last_value_emitted(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = run(advance(tuning_job, django_capture_on_commit_callbacks)[0], [0.8, 0.9, 0.4])
    assert job.final_objective_value == 0.4
    assert job.epochs_run == 3


@pytest.mark.database_vendor
def test_nan_and_inf_are_stored_and_never_best(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks, max_training_jobs=2)
    nan_job, inf_job = advance(tuning_job, django_capture_on_commit_callbacks)
    run(nan_job, [0.5, float("nan")])
    run(inf_job, [float("inf")])
    nan_job.refresh_from_db()
    assert math.isnan(nan_job.final_objective_value)
    assert nan_job.objective_status == ObjectiveStatus.FAILED
    assert math.isnan(MetricSample.objects.get(training_job=nan_job, epoch=2).value)
    assert MetricSample.objects.get(training_job=inf_job).value == float("inf")
    advance(tuning_job, django_capture_on_commit_callbacks)
    tuning_job.refresh_from_db()
    assert tuning_job.best_training_job is None
    assert tuning_job.status == TuningJobStatus.FAILED
    assert "No training job reported a finite value" in tuning_job.failure_reason


@pytest.mark.database_vendor
def test_repeated_metric_batch_does_not_duplicate(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = advance(tuning_job, django_capture_on_commit_callbacks)[0]
    services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
    batch = [MetricRecord("validation:accuracy", 1, 0.5, datetime.now(UTC))]
    services.training_job_record_metrics(training_job_id=job.id, records=batch)
    services.training_job_record_metrics(training_job_id=job.id, records=batch)
    assert MetricSample.objects.filter(training_job=job).count() == 1


@pytest.mark.database_vendor
def test_a_reported_epoch_replaces_the_stored_sample(algorithm, django_capture_on_commit_callbacks):
    """PostgreSQL upserts from one JSON array, SQLite through bulk_create: the last report of an epoch wins on both.

    The captured SQL shows which of the two paths this database took; the
    values check that the JSON path loses no bit of a float.
    """
    tuning_job = create(django_capture_on_commit_callbacks)
    job = advance(tuning_job, django_capture_on_commit_callbacks)[0]
    services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
    first, later = datetime(2025, 3, 1, 9, 0, tzinfo=UTC), datetime(2025, 3, 1, 9, 1, 30, 250000, tzinfo=UTC)
    batch = [MetricRecord("validation:accuracy", 1, 0.5, first), MetricRecord("validation:accuracy", 2, 0.6, first)]
    services.training_job_record_metrics(training_job_id=job.id, records=batch)

    with CaptureQueriesContext(connection) as queries:
        services.training_job_record_metrics(
            training_job_id=job.id,
            records=[
                MetricRecord("validation:accuracy", 2, 0.1 + 0.2, later),
                MetricRecord("validation:accuracy", 3, 0.7, later),
                MetricRecord("validation:accuracy", 3, 1 / 3, later),
            ],
        )

    in_one_json_array = any("json_array_elements" in query["sql"] for query in queries)
    assert in_one_json_array == (connection.vendor == "postgresql")
    assert list(
        MetricSample.objects.filter(training_job=job).order_by("epoch").values_list("epoch", "value", "timestamp")
    ) == [
        (1, 0.5, first),
        (2, 0.1 + 0.2, later),
        (3, 1 / 3, later),
    ]
