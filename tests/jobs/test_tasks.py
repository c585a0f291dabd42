"""The Celery tasks' own logic: the periodic reconcile goes on past a tuning job it cannot advance."""

import logging

import pytest

from jobs import services, tasks
from jobs.models import TuningJob
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db


def test_reconcile_all_advances_the_others_when_one_tuning_job_raises(no_tasks, caplog):
    register_algorithm()
    broken = services.tuning_job_create(config=tuning_job_config(name="tj-broken"))
    healthy = services.tuning_job_create(config=tuning_job_config(name="tj-healthy"))
    # A row no strategy can read: advancing it raises, as a bug its data triggers would.
    TuningJob.objects.filter(pk=broken.id).update(parameter_ranges=[{"name": "lr", "type": "Nonsense"}])

    with caplog.at_level(logging.ERROR, logger="jobs.tasks"):
        result = tasks.reconcile_all()

    assert result == {"resent": 0, "advanced": 1}
    assert healthy.training_jobs.count() == 2
    assert broken.training_jobs.count() == 0
    [record] = caplog.records
    assert f"tuning job {broken.id} could not be advanced" in record.getMessage()
    assert "Nonsense" in str(record.exc_info[1])
