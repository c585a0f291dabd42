"""The ingest path: batches with repeats, limits and bad samples, and the SQL side of early stopping "Auto"."""

import math
import random
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import MetricSample, TeamMember, TeamRole, TrainingJob
from jobs.services import metrics
from jobs.tuning.early_stopping import running_averages
from tests.jobs.factories import external_tuning_job, register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

BASE = "/api/v1"
OBJECTIVE = "validation:accuracy"


@pytest.fixture
def trainer(django_user_model, no_tasks):
    """A claimed training job of an external algorithm, and a client holding its token."""
    team = Group.objects.create(name="vision")
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    # Six training jobs: the Auto test needs five others to have ended.
    tuning_job = external_tuning_job(
        metrics=(OBJECTIVE, "train:loss"), max_training_jobs=6, max_parallel_training_jobs=6
    )
    training_job, key = services.training_job_claim_external(tuning_job_id=tuning_job.id, claimant="alice")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"TrainingJob {key}")
    client.training_job = training_job
    return client


def post(trainer, samples):
    return trainer.post(f"{BASE}/trainer/{trainer.training_job.name}/metrics/", {"samples": samples}, format="json")


def fields(response) -> dict:
    return response.json()["error"]["fields"]


def test_a_repeated_metric_and_epoch_in_one_batch_keeps_the_last(trainer):
    response = post(trainer, [{"metric": OBJECTIVE, "epoch": 1, "value": v} for v in (0.1, 0.2, 0.3)])
    assert response.status_code == 200, response.content
    stored = MetricSample.objects.filter(training_job=trainer.training_job)
    assert list(stored.values_list("epoch", "value")) == [(1, 0.3)]


def test_an_oversized_batch_is_413_naming_the_limit(trainer):
    samples = [{"metric": OBJECTIVE, "epoch": e, "value": 0.5} for e in range(10_001)]
    response = post(trainer, samples)
    assert response.status_code == 413
    assert "At most 10000 samples" in response.json()["error"]["message"]
    assert not MetricSample.objects.exists()


@pytest.mark.parametrize(
    ("sample", "field", "fragment"),
    [
        ({"metric": "validation:acuracy", "epoch": 1, "value": 0.5}, "metric", "Unknown metric 'validation:acuracy'"),
        ({"metric": "a\x00b", "epoch": 1, "value": 0.5}, "metric", "NUL"),
        ({"metric": OBJECTIVE, "epoch": 2**31, "value": 0.5}, "epoch", "from 0 to 2147483647"),
        ({"metric": OBJECTIVE, "epoch": 1.5, "value": 0.5}, "epoch", "whole number"),
        ({"metric": OBJECTIVE, "epoch": 1, "value": 10**400}, "value", "range of a double"),
        ({"metric": OBJECTIVE, "epoch": 1, "value": "0.5"}, "value", "A number"),
        ({"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "timestamp": "2026-02-30T00:00:00Z"}, "timestamp", "ISO"),
        ({"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp", "ISO"),
        (
            {"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "timestamp": "9999-12-31T23:59:59Z"},
            "timestamp",
            "from 2000-01-01 to a day from now",
        ),
        (
            {"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "timestamp": "1970-01-01T00:00:00Z"},
            "timestamp",
            "from 2000-01-01",
        ),
        ({"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "step": 3}, "step", "Unknown field"),
    ],
)
def test_a_bad_sample_is_400_naming_it(trainer, sample, field, fragment):
    response = post(trainer, [{"metric": OBJECTIVE, "epoch": 1, "value": 0.5}, sample])
    assert response.status_code == 400
    assert fragment in " ".join(fields(response)[f"samples[1].{field}"])
    assert not MetricSample.objects.exists()


def test_a_batch_nested_too_deeply_is_a_400_not_a_recursion_error(trainer):
    for depth in (100, 100_000):
        body = '{"samples": [' + "[" * depth + "]" * depth + "]}"
        response = trainer.post(
            f"{BASE}/trainer/{trainer.training_job.name}/metrics/", body, content_type="application/json"
        )
        assert response.status_code == 400, depth
        assert response.json()["error"]["message"] == "The JSON body nests more than 64 levels deep."


def test_a_timestamp_offset_beyond_postgresqls_range_is_stored_in_utc(trainer):
    sample = {"metric": OBJECTIVE, "epoch": 1, "value": 0.5, "timestamp": "2026-11-28T20:00:00+19:36"}
    assert post(trainer, [sample]).status_code == 200
    stored = MetricSample.objects.get(training_job=trainer.training_job)
    assert stored.timestamp == datetime(2026, 11, 28, 0, 24, tzinfo=UTC)


def test_malformed_json_is_400(trainer):
    response = trainer.post(
        f"{BASE}/trainer/{trainer.training_job.name}/metrics/", "{samples: [", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["message"]


def curve(rng: random.Random, length: int) -> list[float]:
    values = [rng.uniform(0.0, 1.0) for _ in range(length)]
    if rng.random() < 0.4:
        values[rng.randrange(length)] = rng.choice([math.nan, math.inf, -math.inf])
    return values


@pytest.mark.parametrize("seed", range(4))
def test_the_databases_running_averages_are_the_rules(seed, no_tasks):
    """What _apply_stopping_rules computes in SQL equals running_averages over the curves read whole.

    Earlier jobs of every kind: shorter, as long and longer than the current
    job, with gaps, starting at epoch 0, and with NaN or infinities.
    """
    rng = random.Random(seed)
    register_algorithm()
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(max_training_jobs=9, max_parallel_training_jobs=9, early_stopping_type="Auto")
    )
    jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    now = datetime.now(UTC)
    curves_by_epoch = {}
    for job in jobs:
        first = rng.choice([0, 1, 1, 3])
        epochs = sorted(rng.sample(range(first, first + 12), rng.randint(1, 12)))
        samples = dict(zip(epochs, curve(rng, len(epochs)), strict=True))
        curves_by_epoch[job.id] = samples
        services.training_job_record_metrics(
            training_job_id=job.id, records=[MetricRecord(OBJECTIVE, e, v, now) for e, v in samples.items()]
        )
    current = jobs[-1]
    for latest_epoch in sorted(curves_by_epoch[current.id]):
        own = [v for e, v in sorted(curves_by_epoch[current.id].items()) if e <= latest_epoch]
        previous = [
            [v for e, v in sorted(curves_by_epoch[job.id].items()) if e <= latest_epoch]
            for job in jobs
            if job.sequence < current.sequence
        ]
        expected = running_averages(previous, len(own))
        computed = metrics._previous_running_averages(
            TrainingJob.objects.get(pk=current.pk), tuning_job, len(own), latest_epoch
        )
        assert sorted(computed) == pytest.approx(sorted(expected), rel=1e-12), latest_epoch


def test_auto_early_stopping_decides_over_the_api_as_in_the_service(trainer):
    """Five earlier jobs completed at 0.6, 0.8; the reporting job's 0.1 at epoch 2 is behind all of them at epoch 1."""
    tuning_job = trainer.training_job.tuning_job
    now = datetime.now(UTC)
    earlier = TrainingJob.objects.filter(tuning_job=tuning_job).exclude(pk=trainer.training_job.pk)
    # The reporting job is the first claimed (sequence 1); give it later peers by making it the last instead.
    TrainingJob.objects.filter(pk=trainer.training_job.pk).update(sequence=99)
    for job in earlier[:5]:
        services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
        services.training_job_record_metrics(
            training_job_id=job.id, records=[MetricRecord(OBJECTIVE, e, v, now) for e, v in ((1, 0.6), (2, 0.8))]
        )
        services.training_job_finish(training_job_id=job.id, result=RunResult(outcome=Outcome.COMPLETED, exit_code=0))
    assert post(trainer, [{"metric": OBJECTIVE, "epoch": 1, "value": 0.1}]).json() == {"stop": False, "reason": None}
    answer = post(trainer, [{"metric": OBJECTIVE, "epoch": 2, "value": 0.1}]).json()
    assert answer == {"stop": True, "reason": "early stopping"}


def test_nan_and_infinities_are_stored_as_reported(trainer):
    values = [math.nan, math.inf, -math.inf, 5e-324, -0.0, 1.7976931348623157e308]
    now = datetime.now(UTC)
    services.training_job_record_metrics(
        training_job_id=trainer.training_job.id,
        records=[MetricRecord("train:loss", epoch, value, now) for epoch, value in enumerate(values, 1)],
    )
    stored = list(MetricSample.objects.filter(training_job=trainer.training_job).order_by("epoch"))
    assert [sample.timestamp for sample in stored] == [now] * len(values)
    assert math.isnan(stored[0].value)
    assert [sample.value for sample in stored[1:]] == values[1:]
