"""Imported tuning jobs are read-only and reviewed like native ones; the staff import page.

Most tests here store an imported tuning job straight from SageMaker-shaped
dicts (what boto3 returns) through the shapes and the service, so they need
no AWS endpoint; the import page's own tests use moto (see
test_imports for why the training-job listing is stubbed).
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from jobs import selectors, services, tasks
from jobs.backends.metrics import MetricRecord
from jobs.models import TeamMember, TeamRole, TrainingJob, TuningJob
from jobs.sagemaker import imports as sagemaker_imports
from jobs.sagemaker.shapes import parse_imported_training_job, parse_imported_tuning_job
from tests.jobs.factories import register_algorithm, tuning_job_config
from tests.jobs.sagemaker.test_imports import ListingStub, aws_client, create_training_job, create_tuning_job, summary

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OBJECTIVE = "validation:accuracy"
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:hyper-parameter-tuning-job/sm-live"

DESCRIPTION = {
    "HyperParameterTuningJobName": "sm-live",
    "HyperParameterTuningJobArn": ARN,
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 3},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
        },
        "TrainingJobEarlyStoppingType": "Auto",
    },
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"epochs": "3"},
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/resnet:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": OBJECTIVE, "Regex": r"acc=(\S+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "OutputDataConfig": {"S3OutputPath": "s3://out"},
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
    },
    "HyperParameterTuningJobStatus": "InProgress",
    "CreationTime": T0,
    "LastModifiedTime": T0,
}

JOBS = [
    # name suffix, status, tuned learning rate, optimizer, final objective, curve
    ("001", "Completed", "0.01", "adam", 0.9, [0.5, 0.8, 0.9]),
    ("002", "Stopped", "0.0002", "sgd", None, [0.1]),
    ("003", "Completed", "0.05", "sgd", 0.7, [0.4, 0.6, 0.7]),
    ("004", "InProgress", "0.003", "adam", None, [0.6]),
]


@pytest.fixture
def team(db):
    return Group.objects.create(name="vision")


@pytest.fixture
def imported(team, django_capture_on_commit_callbacks):
    """sm-live: an InProgress SageMaker tuning job with 4 training jobs, one of them still running."""
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.tuning_job_import(**import_arguments(), team=team)
    return outcome.tuning_job


def import_arguments(jobs=JOBS) -> dict:
    """What jobs.sagemaker.imports hands the service, read from SageMaker-shaped dicts."""
    tuning = parse_imported_tuning_job(DESCRIPTION, len(JOBS))
    training_jobs, metrics = [], {}
    for index, (suffix, status, rate, optimizer, final, curve) in enumerate(jobs):
        name = f"sm-live-{suffix}-a1b2c3d4"
        item = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}",
            "CreationTime": T0 + timedelta(minutes=index),
            "TrainingStartTime": T0 + timedelta(minutes=index),
            "TrainingJobStatus": status,
            "TunedHyperParameters": {"learning_rate": rate, "optimizer": optimizer},
            "ObjectiveStatus": "Succeeded" if final is not None else "Pending",
        }
        if status != "InProgress":
            item["TrainingEndTime"] = T0 + timedelta(minutes=index + len(curve))
        if final is not None:
            item["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Maximize",
                "MetricName": OBJECTIVE,
                "Value": final,
            }
        training_jobs.append(
            parse_imported_training_job(item, None, tuning_job=tuning, last_created_at=T0 + timedelta(minutes=3))
        )
        metrics[name] = [
            MetricRecord(OBJECTIVE, epoch, value, T0 + timedelta(minutes=index + epoch))
            for epoch, value in enumerate(curve, start=1)
        ]
    return {"imported": tuning, "training_jobs": training_jobs, "metrics": metrics}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(django_user_model, team):
    user = django_user_model.objects.create_user("olga")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    return user


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", is_staff=True)


def test_the_import_publishes_what_changed_after_commit(team, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        tuning_job = services.tuning_job_import(**import_arguments(), team=team).tuning_job
    assert events == []  # nothing before the commit
    for callback in callbacks:
        callback()
    types = [event.type for event in events]
    assert types == ["training_job.created"] * 4 + ["metrics.appended"] * 4 + ["tuning_job.created"]
    assert tuning_job.is_imported and tuning_job.status == "InProgress"
    assert tuning_job.best_training_job.name == "sm-live-001-a1b2c3d4"
    assert tuning_job.training_jobs.get(sequence=2).stop_reason == "EarlyStopping"

    events.clear()
    finished = [*JOBS[:3], ("004", "Completed", "0.003", "adam", 0.95, [0.6, 0.96])]
    with django_capture_on_commit_callbacks(execute=True):
        tuning_job = services.tuning_job_import(**import_arguments(finished)).tuning_job
    assert [event.payload.get("name") for event in events if event.type == "training_job.status"] == [
        "sm-live-004-a1b2c3d4"
    ]
    assert tuning_job.best_training_job.name == "sm-live-004-a1b2c3d4"
    assert tuning_job.team == team  # kept: no team given


# --- read-only ------------------------------------------------------------------------


def test_the_services_refuse_to_stop_an_imported_tuning_job_or_its_training_jobs(imported):
    with pytest.raises(services.ImportedTuningJobReadOnly) as caught:
        services.tuning_job_stop(tuning_job_id=imported.id)
    assert caught.value.message_dict == {
        "tuning_job": ["sm-live was imported from SageMaker and is read-only here: stop it on SageMaker, then import "
                       "it again."]
    }  # fmt: skip
    running = imported.training_jobs.get(status="InProgress")
    with pytest.raises(services.ImportedTuningJobReadOnly):
        services.training_job_stop(training_job_id=running.id)
    running.refresh_from_db()
    imported.refresh_from_db()
    assert (imported.status, running.status) == ("InProgress", "InProgress")


def test_the_stop_command_refuses_with_a_message(imported):
    with pytest.raises(CommandError, match="sm-live was imported from SageMaker and is read-only here"):
        call_command("stop_tuning_job", "sm-live", stdout=io.StringIO())


def test_the_admin_stop_actions_say_it_is_read_only(imported, django_user_model):
    client = client_for(django_user_model.objects.create_superuser("root"))
    for model, action, selected in [
        ("tuningjob", "stop_tuning_jobs", imported.pk),
        ("trainingjob", "stop_training_jobs", imported.training_jobs.get(sequence=4).pk),
    ]:
        response = client.post(
            reverse(f"admin:jobs_{model}_changelist"),
            {"action": action, "_selected_action": [selected], "index": 0},
            follow=True,
        )
        assert response.status_code == 200
        notes = [str(message) for message in response.context["messages"]]
        assert any("sm-live was imported from SageMaker and is read-only here" in note for note in notes)
    assert TrainingJob.objects.get(tuning_job=imported, sequence=4).status == "InProgress"


def test_the_reconcile_loop_never_touches_an_imported_tuning_job(imported, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.tuning_job_advance(tuning_job_id=imported.id, now=T0 + timedelta(days=30)) == []
        result = tasks.reconcile_all()
    assert result == {"resent": 0, "advanced": 0}
    assert callbacks == []
    assert imported.id not in selectors.active_tuning_job_ids()
    assert TrainingJob.objects.filter(tuning_job=imported).count() == 4
    assert TrainingJob.objects.get(tuning_job=imported, sequence=4).status == "InProgress"
    imported.refresh_from_db()
    assert imported.status == "InProgress"


def test_the_api_refuses_to_stop_it_with_a_400(imported, operator):
    client = client_for(operator)
    response = client.post("/api/v1/tuning-jobs/sm-live/stop/")
    assert response.status_code == 400
    assert "read-only here: stop it on SageMaker" in response.json()["error"]["message"]
    response = client.post("/api/v1/training-jobs/sm-live-004-a1b2c3d4/stop/")
    assert response.status_code == 400
    assert TrainingJob.objects.get(name="sm-live-004-a1b2c3d4").status == "InProgress"


def test_the_page_shows_no_stop_button_and_a_stop_post_is_refused(imported, operator):
    client = client_for(operator)
    page = client.get(reverse("tuning-job-detail", args=["sm-live"]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-testid="stop-button"' not in content
    assert "Imported from SageMaker, read-only" in content and ARN in content

    response = client.post(reverse("tuning-job-stop", args=["sm-live"]), follow=True)
    assert response.status_code == 200
    assert "read-only here: stop it on SageMaker" in response.content.decode()
    imported.refresh_from_db()
    assert imported.status == "InProgress"


# --- reviewed like native ones ----------------------------------------------------------------


def test_the_tuning_job_and_training_job_pages_render(imported, operator):
    client = client_for(operator)
    page = client.get(reverse("tuning-job-detail", args=["sm-live"]))
    assert [row["name"] for row in page.context["table"]["rows"]] == [f"sm-live-00{i}-a1b2c3d4" for i in range(1, 5)]
    assert page.context["page_config"]["best"]["name"] == "sm-live-001-a1b2c3d4"
    summary_json = client.get(reverse("tuning-job-summary", args=["sm-live"])).json()
    assert len(summary_json["training_jobs"]) == 4
    training = client.get(reverse("training-job-detail", args=["sm-live-001-a1b2c3d4"]))
    assert training.status_code == 200
    metrics = client.get(reverse("training-job-metrics", args=["sm-live-001-a1b2c3d4"])).json()
    assert metrics["job"]["status"] == "Completed"


def test_the_report_lists_the_top_training_jobs(imported, operator):
    response = client_for(operator).get(reverse("tuning-job-report", args=["sm-live"]))
    assert response.status_code == 200
    top = [dict(row)["TrainingJobName"] for row in response.context["top"]]
    assert top[:2] == ["sm-live-001-a1b2c3d4", "sm-live-003-a1b2c3d4"]


def test_the_analytics_csv_has_a_row_per_training_job(imported, operator):
    response = client_for(operator).get(reverse("tuning-job-analytics-csv", args=["sm-live"]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["TrainingJobName"], row["TrainingJobStatus"], row["FinalObjectiveValue"]) for row in rows] == [
        ("sm-live-001-a1b2c3d4", "Completed", "0.9"),
        ("sm-live-002-a1b2c3d4", "Stopped", ""),
        ("sm-live-003-a1b2c3d4", "Completed", "0.7"),
        ("sm-live-004-a1b2c3d4", "InProgress", ""),
    ]
    assert rows[1]["TrainingJobStopReason"] == "EarlyStopping" and rows[0]["EpochsRun"] == "3"


def test_the_compare_page_puts_it_beside_a_native_one(imported, operator, django_capture_on_commit_callbacks):
    register_algorithm(metrics=(OBJECTIVE,))
    services.tuning_job_create(config=tuning_job_config(name="native", team_name="vision"), check_team_role=False)
    response = client_for(operator).get(reverse("tuning-jobs-compare") + "?jobs=native&jobs=sm-live")
    assert response.status_code == 200
    assert "sm-live" in response.content.decode()


# --- the import page ------------------------------------------------------------------------


def test_only_staff_see_the_import_link_and_page(operator, staff):
    url = reverse("tuning-job-import-sagemaker")
    assert client_for(operator).get(url).status_code == 403
    assert "import-sagemaker-link" not in client_for(operator).get(reverse("tuning-job-list")).content.decode()
    assert client_for(staff).get(url).status_code == 200
    assert url in client_for(staff).get(reverse("tuning-job-list")).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "__all__", "Give either a tuning job name or a date, not both."),
        ({"name": "a", "since": "2026-01-01"}, "__all__", "Give either a tuning job name or a date, not both."),
        ({"name": "bad_name"}, "name", "Use 1 to 32 letters, digits and hyphens"),
        ({"since": "yesterday"}, "since", "'yesterday' is not a date (2026-11-01)"),
        ({"name": "a", "team": "nobody"}, "team", "Select a valid choice."),
    ],
)
def test_the_import_form_says_what_is_wrong(staff, data, field, message):
    response = client_for(staff).post(reverse("tuning-job-import-sagemaker"), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert response.context["report"] is None


def test_the_import_page_shows_what_aws_said(staff, aws):
    response = client_for(staff).post(reverse("tuning-job-import-sagemaker"), {"name": "sm-nowhere"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "sm-nowhere: SageMaker has no tuning job sm-nowhere in region us-east-1" in content


def test_the_import_page_imports_into_a_team(staff, team, aws, monkeypatch):
    sagemaker = ListingStub()
    create_tuning_job(sagemaker, "sm-page")
    ended = summary("sm-page", 1, "Failed", started_minute=0, ended_minute=1, failure="ClientError: no data")
    create_training_job(sagemaker.real, ended["TrainingJobName"], {})
    sagemaker.add_listing("sm-page", [ended])
    clients = sagemaker_imports.Clients(sagemaker=sagemaker, cloudwatch=aws_client("cloudwatch"))
    # The page builds its clients from settings; this hands it the ones with the stubbed listing.
    monkeypatch.setattr(sagemaker_imports, "default_clients", lambda: clients)

    response = client_for(staff).post(reverse("tuning-job-import-sagemaker"), {"name": "sm-page", "team": "vision"})

    assert response.status_code == 200
    assert "imported: Completed, 1 new and 0 updated training jobs, 0 metric samples" in " ".join(
        response.content.decode().split()
    )
    tuning_job = TuningJob.objects.get(name="sm-page")
    assert (tuning_job.team, tuning_job.owner) == (team, staff)
