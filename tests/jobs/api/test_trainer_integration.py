"""A real outside trainer process (examples/external_trainer.py) against a live server."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from jobs import services
from jobs.models import MetricSample, TeamMember, TeamRole, TuningJob, TuningJobStatus
from tests.jobs.factories import external_tuning_job

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_two_outside_trainers_run_a_tuning_job_to_completed(workers, static_root, django_user_model, tmp_path):
    workers.start_worker("control", 2)
    base_url = workers.start_web(static_root)
    team = Group.objects.create(name="vision")
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    token = services.api_token_create(user=user)[1]
    tuning_job = external_tuning_job(
        algorithm_name="remote-mlp",
        # The metrics examples/external_trainer.py reports: the API refuses any other.
        metrics=("validation:accuracy", "train:loss"),
        advance=False,
        max_training_jobs=6,
        max_parallel_training_jobs=2,
        parameter_ranges=[
            {"name": "learning_rate", "type": "Continuous", "min_value": 1e-5, "max_value": 0.5,
             "scaling_type": "Logarithmic"},
            {"name": "mini_batch_size", "type": "Integer", "min_value": 16, "max_value": 64},
        ],
    )  # fmt: skip
    trainers = [
        subprocess.Popen(
            [sys.executable, str(EXAMPLES / "external_trainer.py"), base_url, token, tuning_job.name, "--epochs", "8"],
            stdout=open(tmp_path / f"trainer-{n}.log", "w"),
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    deadline = time.monotonic() + 120
    while any(t.poll() is None for t in trainers):
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.5)
    logs = "".join((tmp_path / f"trainer-{n}.log").read_text() for n in range(2))
    assert [t.returncode for t in trainers] == [0, 0], logs

    tuning_job = TuningJob.objects.get(pk=tuning_job.pk)
    assert tuning_job.status == TuningJobStatus.COMPLETED, logs
    jobs = list(tuning_job.training_jobs.all())
    assert len(jobs) == 6
    assert {job.status for job in jobs} <= {"Completed", "Stopped"}
    for job in jobs:
        assert job.worker == "external:alice"
        assert (
            MetricSample.objects.filter(training_job=job, metric_name="validation:accuracy").count() == job.epochs_run
        )
    assert tuning_job.best_training_job is not None
