"""Many hosts without a shared disk: a training worker whose job directories no one else sees.

Issue 14's row "second training worker on another host": the job Completed but
its log panel was empty and "Whole log" a 404, because the web server read
the log from its own disk. The worker here has a directory of its own, removed
once the job has ended, as a machine that went away would take it; the pages
must still show every line the program printed.
"""

import shutil

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import TrainingJob, TuningJob, TuningJobStatus
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration


def test_the_log_of_a_job_run_on_another_host_is_served_from_the_database(workers, staff_client, tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "6", "epoch_seconds": "0.05"})
    other_host = tmp_path / "other-host"
    workers.env["TUNEBOARD_JOBS_DIR"] = str(other_host)
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1, max_parallel_training_jobs=1))
    wait_for(
        lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED, workers, what="Completed"
    )
    job = TrainingJob.objects.get(tuning_job=tuning_job)
    assert job.log_path.startswith(str(other_host))
    shutil.rmtree(other_host)

    printed = [f"epoch={epoch} validation:accuracy=" for epoch in range(1, 7)]
    log = staff_client.get(reverse("training-job-log", args=[job.name]), {"offset": 0}).json()
    assert all(line in log["text"] for line in printed)
    assert "[tuneboard] training process exited with code 0" in log["text"]
    page = staff_client.get(reverse("training-job-detail", args=[job.name])).content.decode()
    assert "epoch=6 validation:accuracy=" in page
    download = staff_client.get(reverse("training-job-log-download", args=[job.name]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content).decode() == log["text"]
