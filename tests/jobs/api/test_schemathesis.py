"""Schemathesis against a live daphne: generated requests find no 5xx and no response that breaks the schema.

The run is bounded (a fixed number of examples per operation, a fixed seed)
so that it takes well under a minute, and it is aimed at data that exists:
path parameters are drawn from the names of real objects most of the time,
algorithms are written with a staff token, and the trainer endpoints get the
tokens of claimed training jobs (one of them for `finish`, so that the
others keep reporting for a running job).
"""

import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import TeamMember, TeamRole
from tests.jobs.factories import external_tuning_job, register_algorithm, tuning_job_config

pytestmark = pytest.mark.integration

# 23 operations x 40 examples; some operations have fewer distinct inputs.
MIN_CASES = 500
EXAMPLES_PER_OPERATION = 40

CONFIG = """
headers = {{ Authorization = "Token {user}" }}
workers = 2
seed = 20261128
generation.max-examples = {examples}

[dictionaries.tuning_jobs]
values = {tuning_jobs}
[dictionaries.training_jobs]
values = {training_jobs}
[dictionaries.algorithms]
values = {algorithms}

[[operations]]
include-path-regex = "^/api/v1/tuning-jobs/\\\\{{name\\\\}}/"
parameters = {{ "path.name" = {{ dictionary = "tuning_jobs", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/api/v1/training-jobs/\\\\{{name\\\\}}/"
parameters = {{ "path.name" = {{ dictionary = "training_jobs", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/api/v1/algorithms/"
headers = {{ Authorization = "Token {staff}" }}
parameters = {{ "path.name" = {{ dictionary = "algorithms", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/api/v1/trainer/\\\\{{name\\\\}}/((metrics|heartbeat)/)?$"
headers = {{ Authorization = "TrainingJob {reporting}" }}
parameters = {{ "path.name" = "{reporting_name}" }}

[[operations]]
include-path = "/api/v1/trainer/{{name}}/finish/"
headers = {{ Authorization = "TrainingJob {finishing}" }}
parameters = {{ "path.name" = "{finishing_name}" }}
"""


def toml_list(values) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def seed_data(django_user_model) -> dict:
    """A team with an operator, staff, a local tuning job with results, an external one with claimed jobs."""
    team = Group.objects.create(name="vision")
    alice = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=alice, role=TeamRole.OPERATOR)
    staff = django_user_model.objects.create_superuser("root", "", None)
    register_algorithm()
    local = services.tuning_job_create(config=tuning_job_config(team_name="vision", max_parallel_training_jobs=3))
    first, second, third = services.tuning_job_advance(tuning_job_id=local.id)
    for training_job, values in ((first, [0.3, 0.5]), (second, [0.9, float("nan")])):
        services.training_job_start(training_job_id=training_job.id, worker="w@h:1", log_path="")
        services.training_job_record_metrics(
            training_job_id=training_job.id,
            records=[MetricRecord("validation:accuracy", e, v, datetime.now(UTC)) for e, v in enumerate(values, 1)],
        )
        services.training_job_finish(training_job_id=training_job.id, result=RunResult(Outcome.COMPLETED, 0))
    services.training_job_start(training_job_id=third.id, worker="w@h:1", log_path="")
    external = external_tuning_job(name="remote-1", max_training_jobs=8)
    (reporting, reporting_key), (finishing, finishing_key) = [
        services.training_job_claim_external(tuning_job_id=external.id, claimant="alice") for _ in range(2)
    ]
    services.training_job_record_metrics(
        training_job_id=reporting.id,
        records=[MetricRecord("validation:accuracy", e, 0.1 * e, datetime.now(UTC)) for e in range(1, 4)],
    )
    return {
        "user": services.api_token_create(user=alice)[1],
        "staff": services.api_token_create(user=staff)[1],
        "reporting": reporting_key,
        "reporting_name": reporting.name,
        "finishing": finishing_key,
        "finishing_name": finishing.name,
        "tuning_jobs": toml_list(["tj-1", "remote-1"]),
        "training_jobs": toml_list(["tj-1-001", "tj-1-002", "tj-1-003", reporting.name]),
        "algorithms": toml_list(["quadratic", "remote"]),
    }


def test_generated_requests_find_no_server_error_and_no_schema_mismatch(
    workers, static_root, django_user_model, tmp_path
):
    base_url = workers.start_web(static_root)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(examples=EXAMPLES_PER_OPERATION, **seed_data(django_user_model)))
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config), "run",
         f"{base_url}/api/schema/?format=json",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
         "--phases", "examples,fuzzing", "--request-timeout", "30"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    assert result.returncode == 0, output[output.find("FAILURES") :][:8000] + workers.logs()
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= MIN_CASES, output[-3000:]
