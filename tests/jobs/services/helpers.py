"""Playing the service calls a tuning job's life is made of, with task hand-offs captured."""

from datetime import UTC, datetime

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import TuningJob
from tests.jobs.factories import tuning_job_config


def create(django_capture_on_commit_callbacks, **overrides) -> TuningJob:
    with django_capture_on_commit_callbacks(execute=False):
        return services.tuning_job_create(config=tuning_job_config(**overrides))


def advance(tuning_job, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=False):
        return services.tuning_job_advance(tuning_job_id=tuning_job.id, **kwargs)


def run(training_job, values, outcome=Outcome.COMPLETED, **result):
    """Play a training run: claim, report `values` one per epoch, finish."""
    assert services.training_job_start(training_job_id=training_job.id, worker="w@host:1", log_path="")
    records = [
        MetricRecord("validation:accuracy", epoch, value, datetime.now(UTC)) for epoch, value in enumerate(values, 1)
    ]
    services.training_job_record_metrics(training_job_id=training_job.id, records=records)
    return services.training_job_finish(
        training_job_id=training_job.id, result=RunResult(outcome=outcome, exit_code=0, **result)
    )
