"""Fault suite, the control plane killed: the control worker and beat die (kill -9) mid-run.

Training jobs do not depend on them: the programs run on, their endings are
recorded by the training worker, and the follow-up work (the next training
jobs) waits in the broker for a control worker to come back. The end state:
every training job ran exactly once and the tuning job completed.
"""

import time

import pytest

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

EPOCHS = 8


def test_killing_the_control_worker_and_beat_mid_run_loses_nothing(workers, tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": str(EPOCHS), "epoch_seconds": "0.25"})
    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    workers.start_beat(tmp_path)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=4, max_parallel_training_jobs=2))
    wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run__gte=2).count() == 2,
        workers,
        what="two jobs running",
    )
    workers.kill("control")
    workers.kill("beat")
    # The running jobs end meanwhile; nothing launches the next ones.
    wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, status=TrainingJobStatus.COMPLETED).count() == 2,
        workers,
        what="the running jobs to end on their own",
    )
    time.sleep(1)
    assert TrainingJob.objects.filter(tuning_job=tuning_job).count() == 2
    workers.start_worker("control", 1, name="control-again")
    workers.start_beat(tmp_path)

    wait_for(
        lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
        workers,
        what="Completed",
    )
    jobs = list(TrainingJob.objects.filter(tuning_job=tuning_job))
    assert [(job.status, job.retry_count) for job in jobs] == [(TrainingJobStatus.COMPLETED, 0)] * 4
    for job in jobs:
        assert sorted(job.metric_samples.values_list("epoch", flat=True)) == list(range(1, EPOCHS + 1))
