"""The management commands, called as a user would call them (through call_command)."""

import copy
import json
import math
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricDefinition, MetricRecord, compile_metric_definitions
from jobs.management.commands.register_examples import EXAMPLES
from jobs.models import Algorithm, TrainingJob, TuningJob, TuningJobStatus
from tests.jobs.factories import SUPPORTED_HYPERPARAMETERS, register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

LIMITS = "hyperParameterTuningJobConfig.resourceLimits"
ARN = "arn:aws:sagemaker:local:000000000000"

BODY = {
    "HyperParameterTuningJobName": "image-classification",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.00001", "MaxValue": "1.0", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "64"}],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop", "nag"]}],
        },
        "TrainingJobEarlyStoppingType": "Auto",
    },
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"epochs": "30"},
        "AlgorithmSpecification": {"AlgorithmName": "quadratic", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    },
}


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(constant):
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def command(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def algorithm():
    return register_algorithm()


@pytest.fixture
def write_spec(tmp_path):
    def write(body, name="spec.json") -> Path:
        path = tmp_path / name
        path.write_text(body if isinstance(body, str) else json.dumps(body))
        return path

    return write


def run(training_job, values, outcome=Outcome.COMPLETED):
    """Play a training run: claim, report `values` one per epoch, finish."""
    assert services.training_job_start(training_job_id=training_job.id, worker="w@host:1", log_path="")
    records = [
        MetricRecord("validation:accuracy", epoch, value, datetime.now(UTC)) for epoch, value in enumerate(values, 1)
    ]
    services.training_job_record_metrics(training_job_id=training_job.id, records=records)
    return services.training_job_finish(training_job_id=training_job.id, result=RunResult(outcome=outcome, exit_code=0))


@pytest.fixture
def tuning_job(algorithm, no_tasks):
    """tj-1 with two training jobs: tj-1-001 Completed at 0.75, tj-1-002 InProgress."""
    tuning_job = services.tuning_job_create(config=tuning_job_config())
    first, _ = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    run(first, [0.5, 0.75])
    return tuning_job


# --- create_tuning_job ------------------------------------------------------------


def test_create_prints_the_arn_and_stores_the_tuning_job(algorithm, write_spec, no_tasks, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    out = command("create_tuning_job", str(write_spec(BODY)), owner="alice")
    assert strict_json(out) == {"HyperParameterTuningJobArn": f"{ARN}:hyper-parameter-tuning-job/image-classification"}
    tuning_job = TuningJob.objects.get(name="image-classification")
    assert tuning_job.owner == alice
    assert tuning_job.algorithm == algorithm
    assert tuning_job.early_stopping_type == "Auto"
    assert tuning_job.static_hyperparameters == {"epochs": "30"}
    assert [r["name"] for r in tuning_job.parameter_ranges] == ["learning_rate", "mini_batch_size", "optimizer"]
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_create_stores_the_bodys_tags(algorithm, write_spec, no_tasks):
    command("create_tuning_job", str(write_spec({**BODY, "Tags": [{"Key": "project", "Value": "seed"}]})))
    assert list(TuningJob.objects.get().tags.values_list("key", "value")) == [("project", "seed")]


def test_create_without_an_owner(algorithm, write_spec, no_tasks):
    command("create_tuning_job", str(write_spec(BODY)))
    assert TuningJob.objects.get().owner is None


def test_create_beyond_the_teams_limit_names_the_limit(algorithm, write_spec, no_tasks, settings):
    Group.objects.create(name="vision")
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 1
    command("create_tuning_job", str(write_spec(BODY)), team="vision")
    second = {**BODY, "HyperParameterTuningJobName": "second"}
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(write_spec(second)), team="vision")
    assert "'Number of concurrent hyperparameter tuning jobs' is 1 Jobs, with current utilization of 1 Jobs" in str(
        error.value
    )
    assert not TuningJob.objects.filter(name="second").exists()


def test_a_range_the_algorithm_does_not_declare_is_named_in_the_error(write_spec):
    register_algorithm(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(write_spec(BODY)))
    assert "mini_batch_size is not a hyperparameter of this algorithm" in str(error.value)
    assert not TuningJob.objects.exists()


def test_invalid_json_is_reported_with_line_and_column(algorithm, write_spec):
    path = write_spec('{\n  "HyperParameterTuningJobName": "x",\n  oops\n}')
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(path))
    message = str(error.value)
    assert message.startswith(f"{path} is not valid JSON")
    assert "line 3, column 3" in message
    assert not TuningJob.objects.exists()


def test_an_unreadable_file_is_reported(algorithm, tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(missing))
    assert str(error.value) == f"Cannot read {missing}: No such file or directory."
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(tmp_path))
    assert str(error.value).startswith(f"Cannot read {tmp_path}: ")


def test_a_shape_error_lists_each_member_path(algorithm, write_spec):
    body = copy.deepcopy(BODY)
    body["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = "2"
    body["TrainingJobDefinition"]["AlgorithmSpecification"]["Image"] = "x"
    body["WarmStartConfig"] = {"WarmStartType": "TransferLearning"}
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(write_spec(body)))
    lines = str(error.value).splitlines()
    assert lines[0] == "The tuning job was not created:"
    assert sorted(lines[1:]) == sorted(
        [
            f"  {LIMITS}.maxParallelTrainingJobs: Member must be an integer",
            "  trainingJobDefinition.algorithmSpecification.image: Member is not part of the SageMaker API",
            "  warmStartConfig.parentHyperParameterTuningJobs: Member must not be null",
        ]
    )
    assert not TuningJob.objects.exists()


def test_a_validation_error_lists_each_member_path(algorithm, write_spec):
    body = copy.deepcopy(BODY)
    body["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 20_000
    body["TrainingJobDefinition"]["AlgorithmSpecification"]["AlgorithmName"] = "resnet"
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(write_spec(body)))
    lines = str(error.value).splitlines()
    assert lines[0] == "The tuning job was not created:"
    paths = {line.strip().split(": ", 1)[0] for line in lines[1:]}
    assert paths == {f"{LIMITS}.maxNumberOfTrainingJobs", "trainingJobDefinition.algorithmSpecification.algorithmName"}
    assert (
        "  trainingJobDefinition.algorithmSpecification.algorithmName: No algorithm named 'resnet' is registered."
        in lines
    )
    assert not TuningJob.objects.exists()


def test_an_unknown_owner_is_refused(algorithm, write_spec):
    with pytest.raises(CommandError) as error:
        command("create_tuning_job", str(write_spec(BODY)), owner="mallory")
    assert str(error.value) == "--owner: no user named 'mallory'."
    assert not TuningJob.objects.exists()


# --- describe_tuning_job ------------------------------------------------------------


def test_describe_prints_valid_json(tuning_job):
    described = strict_json(command("describe_tuning_job", "tj-1"))
    assert described["HyperParameterTuningJobName"] == "tj-1"
    assert described["TrainingJobStatusCounters"]["Completed"] == 1
    assert described["TrainingJobStatusCounters"]["InProgress"] == 1
    assert described["BestTrainingJob"]["TrainingJobName"] == "tj-1-001"
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.75
    # Times are written as ISO 8601 text.
    assert datetime.fromisoformat(described["CreationTime"].replace("Z", "+00:00")).tzinfo is not None


def test_describe_writes_nan_as_a_string(tuning_job):
    # The service never makes a NaN job the best, so the row is set directly
    # to exercise how the command writes a non-finite objective.
    nan_job = TrainingJob.objects.get(name="tj-1-002")
    TrainingJob.objects.filter(pk=nan_job.pk).update(final_objective_value=float("nan"))
    TuningJob.objects.filter(pk=tuning_job.pk).update(best_training_job=nan_job)
    out = command("describe_tuning_job", "tj-1")
    described = strict_json(out)
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == "NaN"


def test_describe_an_unknown_tuning_job():
    with pytest.raises(CommandError, match="No tuning job named 'nope'."):
        command("describe_tuning_job", "nope")


# --- list_training_jobs -------------------------------------------------------------


def test_list_prints_every_training_job(tuning_job):
    summaries = strict_json(command("list_training_jobs", "tj-1"))["TrainingJobSummaries"]
    assert [(s["TrainingJobName"], s["TrainingJobStatus"]) for s in summaries] == [
        ("tj-1-001", "Completed"),
        ("tj-1-002", "InProgress"),
    ]


def test_list_filters_by_status(tuning_job):
    completed = strict_json(command("list_training_jobs", "tj-1", status="Completed"))["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in completed] == ["tj-1-001"]
    stopped = strict_json(command("list_training_jobs", "tj-1", "--status", "Stopped"))["TrainingJobSummaries"]
    assert stopped == []


def test_list_refuses_an_unknown_status(tuning_job):
    with pytest.raises(CommandError, match="invalid choice: 'Running'"):
        command("list_training_jobs", "tj-1", "--status", "Running")


def test_list_writes_nan_objectives_as_a_string(tuning_job):
    run(TrainingJob.objects.get(name="tj-1-002"), [0.6, float("nan")])
    summaries = strict_json(command("list_training_jobs", "tj-1"))["TrainingJobSummaries"]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == [0.75, "NaN"]
    assert math.isnan(TrainingJob.objects.get(name="tj-1-002").final_objective_value)


def test_list_an_unknown_tuning_job():
    with pytest.raises(CommandError, match="No tuning job named 'nope'."):
        command("list_training_jobs", "nope")


# --- stop_tuning_job ---------------------------------------------------------------------


def test_stop_asks_the_tuning_job_and_its_running_jobs_to_stop(tuning_job, no_tasks):
    out = command("stop_tuning_job", "tj-1")
    assert out.strip() == "tj-1: Stopping"
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPING
    # tj-1-002 never started, so it ends Stopped at once.
    assert TrainingJob.objects.get(name="tj-1-002").status == "Stopped"
    assert TrainingJob.objects.get(name="tj-1-001").status == "Completed"


def test_stopping_twice_is_harmless(tuning_job, no_tasks):
    command("stop_tuning_job", "tj-1")
    assert command("stop_tuning_job", "tj-1").strip() == "tj-1: Stopping"


def test_stop_an_unknown_tuning_job():
    with pytest.raises(CommandError, match="No tuning job named 'nope'."):
        command("stop_tuning_job", "nope")


# --- register_examples ---------------------------------------------------------------------


def test_register_examples_is_idempotent():
    first = command("register_examples")
    second = command("register_examples")
    assert first == second == "registered algorithm image-classifier\nregistered algorithm gradient-boosting\n"
    algorithms = {a.name: a for a in Algorithm.objects.all()}
    assert set(algorithms) == {"image-classifier", "gradient-boosting"}
    examples = Path(django_settings.BASE_DIR) / "examples"
    for example in EXAMPLES:
        algorithm = algorithms[example["name"]]
        assert algorithm.command == [sys.executable, str(examples / example["script"])]
        assert algorithm.metric_names == example["metrics"]
        assert algorithm.static_hyperparameters == example["static"]
        compile_metric_definitions([MetricDefinition(d["Name"], d["Regex"]) for d in algorithm.metric_definitions])


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_each_example_command_runs_an_existing_script(example):
    command("register_examples")
    script = Path(Algorithm.objects.get(name=example["name"]).command[1])
    assert script.is_file(), f"{script} does not exist"


EXAMPLE_SPECS = sorted((Path(__file__).resolve().parents[2] / "examples" / "specs").glob("*.json"))


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=[p.stem for p in EXAMPLE_SPECS])
def test_each_example_spec_creates_a_tuning_job_for_a_registered_example(spec, no_tasks):
    command("register_examples")
    out = command("create_tuning_job", str(spec))
    name = json.loads(spec.read_text())["HyperParameterTuningJobName"]
    assert strict_json(out)["HyperParameterTuningJobArn"].endswith(f":hyper-parameter-tuning-job/{name.lower()}")
    assert TuningJob.objects.get(name=name).algorithm.name in {e["name"] for e in EXAMPLES}


def test_register_examples_updates_an_edited_algorithm():
    command("register_examples")
    Algorithm.objects.filter(name="image-classifier").update(static_hyperparameters={"epochs": "1"})
    command("register_examples")
    assert Algorithm.objects.get(name="image-classifier").static_hyperparameters == {"epochs": "30"}


# --- ensure_admin ---------------------------------------------------------------------


@pytest.fixture
def var_dir(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("TUNEBOARD_ADMIN_USER", raising=False)
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, for tests only
    return tmp_path


def test_ensure_admin_creates_one_superuser_and_prints_its_password_only_once(var_dir):
    users = get_user_model().objects
    (var_dir / "admin-password").write_text("an-old-password-in-clear")
    first = command("ensure_admin")
    assert first.startswith("login: admin / ") and first.strip().endswith("(shown only this once)")
    password = first.split(" / ", 1)[1].split()[0]
    assert len(password) >= 12
    admin = users.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    assert list(var_dir.iterdir()) == []  # nothing in clear on disk, the old copy removed

    second = command("ensure_admin")
    assert password not in second
    assert second.strip() == "login: admin (forgot it? .venv/bin/python manage.py changepassword admin)"
    assert users.filter(is_superuser=True).count() == 1
    assert users.get(username="admin").check_password(password)


def test_ensure_admin_leaves_an_existing_superuser_alone(var_dir, django_user_model):
    django_user_model.objects.create_superuser("root", "", "a-strong-password-1")
    out = command("ensure_admin")
    assert out.strip() == "login: root (forgot it? .venv/bin/python manage.py changepassword root)"
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["root"]


def test_ensure_admin_takes_the_username_from_the_option(var_dir, django_user_model):
    out = command("ensure_admin", username="chief")
    assert out.startswith("login: chief / ")
    assert django_user_model.objects.get(is_superuser=True).username == "chief"


# --- launch_demo --------------------------------------------------------------------


def test_launch_demo_starts_the_seed_experiment_off_and_auto(no_tasks):
    command("register_examples")
    output = command("launch_demo")
    off, auto = TuningJob.objects.order_by("early_stopping_type")[:2][::-1]
    assert (off.early_stopping_type, auto.early_stopping_type) == ("Off", "Auto")
    assert off.name in output and auto.name in output
    for tuning_job in (off, auto):
        assert (tuning_job.max_training_jobs, tuning_job.max_parallel_training_jobs) == (20, 2)
        assert tuning_job.algorithm.name == "image-classifier"
        assert tuning_job.objective_metric_name == "validation:accuracy"
    # The same seed, so both try the same hyperparameters and only early stopping differs.
    assert off.random_seed == auto.random_seed


def test_create_with_a_team_and_an_owner_outside_it(algorithm, write_spec, no_tasks, django_user_model):
    """The shell is trusted like staff: --owner need not be an operator of --team."""
    from django.contrib.auth.models import Group

    Group.objects.create(name="vision")
    django_user_model.objects.create_user("outsider")
    command("create_tuning_job", str(write_spec(BODY)), "--owner", "outsider", "--team", "vision")
    tuning_job = TuningJob.objects.get()
    assert (tuning_job.owner.username, tuning_job.team.name) == ("outsider", "vision")
    with pytest.raises(CommandError, match="team_name: No team named 'nobody'"):
        command("create_tuning_job", str(write_spec({**BODY, "HyperParameterTuningJobName": "x2"})), "--team", "nobody")
