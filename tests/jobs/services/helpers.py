"""Playing the service calls a tuning job's life is made of, with task hand-offs captured."""

from jobs import services
from jobs.models import TuningJob
from tests.jobs.factories import tuning_job_config


def create(django_capture_on_commit_callbacks, **overrides) -> TuningJob:
    with django_capture_on_commit_callbacks(execute=False):
        return services.tuning_job_create(config=tuning_job_config(**overrides))


def advance(tuning_job, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=False):
        return services.tuning_job_advance(tuning_job_id=tuning_job.id, **kwargs)
