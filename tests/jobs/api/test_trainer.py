"""Training that runs elsewhere: claims, per-job tokens, idempotent ingest, stop answers."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from jobs import services
from jobs.models import MetricSample, StopReason, TeamMember, TeamRole, TrainingJob, TrainingJobStatus
from tests.jobs.factories import external_tuning_job, tuning_job_config

pytestmark = pytest.mark.django_db

BASE = "/api/v1"


@pytest.fixture
def operator(django_user_model):
    team = Group.objects.create(name="vision")
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    return user


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def external(operator, no_tasks):
    return external_tuning_job(max_training_jobs=6)


def claim(api):
    response = api.post(f"{BASE}/tuning-jobs/tj-1/claim/")
    assert response.status_code == 200, response.content
    data = response.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"TrainingJob {data['token']}")
    client.url = f"{BASE}/trainer/{data['training_job']['name']}/"
    return data["training_job"], client


def report(trainer, epoch, value):
    return trainer.post(
        f"{trainer.url}metrics/", {"samples": [{"metric": "validation:accuracy", "epoch": epoch, "value": value}]},
        format="json",
    )  # fmt: skip


def test_claims_hand_out_each_waiting_job_once(api, external):
    names = [claim(api)[0]["name"] for _ in range(4)]
    assert names == ["tj-1-001", "tj-1-002", "tj-1-003", "tj-1-004"]
    assert api.post(f"{BASE}/tuning-jobs/tj-1/claim/").status_code == 204


def test_the_token_reports_only_for_its_own_job(api, external):
    job, trainer = claim(api)
    info = trainer.get(trainer.url).json()
    assert info["name"] == job["name"] and set(info["hyperparameters"]) >= {"learning_rate", "optimizer"}
    # Another job's URL: a trainer started with the wrong token must not report into the other job.
    other, _ = claim(api)
    other_url = f"{BASE}/trainer/{other['name']}/"
    samples = {"samples": [{"metric": "validation:accuracy", "epoch": 1, "value": 0.5}]}
    for refused in [
        trainer.get(other_url),
        trainer.post(f"{other_url}metrics/", samples, format="json"),
        trainer.post(f"{other_url}heartbeat/"),
        trainer.post(f"{other_url}finish/", {"status": "Completed"}, format="json"),
    ]:
        assert refused.status_code == 403, refused.request["PATH_INFO"]
        assert job["name"] in refused.json()["error"]["message"]
    assert not MetricSample.objects.filter(training_job__name=other["name"]).exists()
    # A job token is not a user: the rest of the API refuses it.
    assert trainer.get(f"{BASE}/tuning-jobs/").status_code == 401
    assert trainer.get(f"{BASE}/training-jobs/{job['name']}/").status_code == 401
    # And user credentials cannot report.
    assert api.post(f"{trainer.url}heartbeat/").status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="TrainingJob not-a-token")
    assert bad.post(f"{trainer.url}heartbeat/").status_code == 401


def test_ingest_is_idempotent_and_answers_stop(api, external):
    job, trainer = claim(api)
    first = report(trainer, 1, 0.5)
    assert first.status_code == 200 and first.json() == {"stop": False, "reason": None}
    report(trainer, 1, 0.5)  # a retried batch
    assert MetricSample.objects.filter(training_job__name=job["name"]).count() == 1
    assert report(trainer, 2, None).status_code == 200  # NaN as null
    bad = trainer.post(f"{trainer.url}metrics/", {"samples": [{"metric": "m", "epoch": -1, "value": 1}]}, format="json")
    assert bad.status_code == 400 and "samples[0].epoch" in bad.json()["error"]["fields"]


def test_early_stopping_reaches_an_outside_trainer(api, operator, no_tasks):
    # Auto decides once five jobs have ended (its leaders): six claimable at once.
    external_tuning_job(max_training_jobs=6, max_parallel_training_jobs=6)
    trainers = [claim(api) for _ in range(6)]
    for _job, trainer in trainers[:5]:
        for epoch, value in enumerate([0.5, 0.6, 0.7], 1):
            report(trainer, epoch, value)
        assert trainer.post(f"{trainer.url}finish/", {"status": "Completed"}, format="json").status_code == 200
    job, trainer = trainers[5]
    assert report(trainer, 1, 0.1).json()["stop"] is False  # grace epoch
    answer = report(trainer, 2, 0.1).json()
    assert answer == {"stop": True, "reason": "early stopping"}
    assert trainer.post(f"{trainer.url}heartbeat/").json()["stop"] is True
    finished = trainer.post(f"{trainer.url}finish/", {"status": "Stopped"}, format="json").json()
    assert finished["status"] == "Stopped"
    stopped = TrainingJob.objects.get(name=job["name"])
    assert (stopped.status, stopped.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.EARLY_STOPPING)
    late = report(trainer, 3, 0.2)
    assert late.status_code == 409 and late.json()["error"]["code"] == "conflict"


def test_a_failure_is_recorded_with_its_reason(api, external):
    job, trainer = claim(api)
    trainer.post(f"{trainer.url}finish/", {"status": "Failed", "failure_reason": "OOM on node 7"}, format="json")
    failed = TrainingJob.objects.get(name=job["name"])
    assert (failed.status, failed.failure_reason) == (TrainingJobStatus.FAILED, "OOM on node 7")


def test_a_stopping_job_whose_trainer_vanished_ends_stopped(api, external, settings, reaper_watching):
    job, trainer = claim(api)
    services.training_job_stop(training_job_id=TrainingJob.objects.get(name=job["name"]).id)
    TrainingJob.objects.filter(name=job["name"]).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    services.training_jobs_reap_stale()
    vanished = TrainingJob.objects.get(name=job["name"])
    assert (vanished.status, vanished.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.USER_REQUEST)


def test_claims_are_for_external_algorithms_and_operators(api, django_user_model, external, no_tasks):
    services.algorithm_register(
        name="local-one", command=["/bin/true"], metric_definitions=[{"Name": "validation:accuracy", "Regex": "a=(.)"}]
    )
    services.tuning_job_create(
        config=tuning_job_config(name="local-tj", algorithm_name="local-one", team_name="vision")
    )
    response = api.post(f"{BASE}/tuning-jobs/local-tj/claim/")
    assert response.status_code == 400 and "algorithm" in response.json()["error"]["fields"]
    viewer = django_user_model.objects.create_user("carol")
    TeamMember.objects.create(team=Group.objects.get(name="vision"), user=viewer, role=TeamRole.VIEWER)
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.post(f"{BASE}/tuning-jobs/tj-1/claim/").status_code == 403


def test_a_body_that_is_not_json_is_a_json_error(api, external):
    job, trainer = claim(api)
    boundary = "c637e12e2b1a998d80d1b087531af51c"
    for suffix in ("metrics/", "finish/"):
        response = trainer.post(
            f"{trainer.url}{suffix}",
            data=f"--{boundary}--\r\n",
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        assert response.status_code == 415, (suffix, response.status_code, response.content)
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["message"].startswith('Unsupported media type "multipart/form-data')
