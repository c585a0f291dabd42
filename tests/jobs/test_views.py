"""Server-rendered pages and the admin, as a browser uses them."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse

from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import Algorithm, TeamMember, TeamRole, TrainingJob, TuningJob, TuningJobStatus
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = [
    pytest.mark.django_db,
    # WhiteNoise warns that STATIC_ROOT is missing until collectstatic has run; pages do not need it here.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def team(db):
    return Group.objects.create(name="vision")


@pytest.fixture
def alice(django_user_model, team):
    """An operator of the team that owns the tuning jobs here."""
    # No password: force_login does not need one, and hashing one is slow.
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", None))
    return client


@pytest.fixture
def no_tasks(django_capture_on_commit_callbacks):
    """Capture the on-commit task hand-offs so that nothing reaches a broker."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


def run(training_job, values, log_path=""):
    """Play a training run: claim, report `values` one per epoch, finish Completed."""
    assert services.training_job_start(training_job_id=training_job.id, worker="w@host:1", log_path=log_path)
    records = [
        MetricRecord("validation:accuracy", epoch, value, datetime.now(UTC)) for epoch, value in enumerate(values, 1)
    ]
    services.training_job_record_metrics(training_job_id=training_job.id, records=records)
    return services.training_job_finish(
        training_job_id=training_job.id, result=RunResult(outcome=Outcome.COMPLETED, exit_code=0)
    )


@pytest.fixture
def tuning_job(no_tasks, tmp_path):
    """tj-1: tj-1-001 Completed at 0.875 (with a log file), tj-1-002 not started yet."""
    register_algorithm()
    Group.objects.get_or_create(name="vision")
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision"))
    first, _ = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    log = tmp_path / "tj-1-001.log"
    log.write_text("epoch=1 validation:accuracy=0.5\nepoch=2 validation:accuracy=0.875\nall done\n")
    run(first, [0.5, 0.875], log_path=str(log))
    tuning_job.refresh_from_db()
    return tuning_job


# --- login ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        reverse("tuning-job-list"),
        reverse("tuning-job-detail", args=["tj-1"]),
        reverse("training-job-detail", args=["tj-1-001"]),
    ],
)
def test_pages_redirect_anonymous_users_to_login(client, tuning_job, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_stopping_needs_login(client, tuning_job):
    url = reverse("tuning-job-stop", args=["tj-1"])
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


# --- pages ------------------------------------------------------------------------------


def test_the_list_shows_each_tuning_job_with_its_counters(alice_client, tuning_job):
    response = alice_client.get(reverse("tuning-job-list"))
    assert response.status_code == 200
    ((job, counters),) = response.context["rows"]
    assert job == tuning_job
    assert (counters.completed, counters.in_progress) == (1, 1)
    assert reverse("tuning-job-detail", args=["tj-1"]).encode() in response.content
    assert b"0.8750" in response.content  # the best objective


def test_the_list_of_nothing(alice_client):
    response = alice_client.get(reverse("tuning-job-list"))
    assert response.status_code == 200
    assert b"No tuning jobs yet" in response.content


@pytest.fixture
def two_tuning_jobs(no_tasks, team):
    """tj-1 InProgress and tj-2 Stopping."""
    register_algorithm()
    services.tuning_job_create(config=tuning_job_config(name="tj-1", team_name="vision"))
    stopped = services.tuning_job_create(config=tuning_job_config(name="tj-2", team_name="vision"))
    services.tuning_job_stop(tuning_job_id=stopped.id)


@pytest.mark.parametrize(
    ("status", "expected"),
    [("InProgress", ["tj-1"]), ("Stopping", ["tj-2"]), ("Completed", []), ("", ["tj-1", "tj-2"]),
     ("Bogus", ["tj-1", "tj-2"])],
)  # fmt: skip
def test_the_list_filters_by_status(alice_client, two_tuning_jobs, status, expected):
    response = alice_client.get(reverse("tuning-job-list"), {"status": status})
    assert response.status_code == 200
    assert sorted(job.name for job, _ in response.context["rows"]) == expected
    assert response.context["status"] == status


def test_the_detail_page_shows_counters_best_job_and_training_jobs(alice_client, tuning_job):
    response = alice_client.get(reverse("tuning-job-detail", args=["tj-1"]))
    assert response.status_code == 200
    assert response.context["tuning_job"] == tuning_job
    assert [job.name for job in response.context["training_jobs"]] == ["tj-1-001", "tj-1-002"]
    content = response.content.decode()
    assert reverse("training-job-detail", args=["tj-1-001"]) in content
    assert reverse("training-job-detail", args=["tj-1-002"]) in content
    assert "validation:accuracy = 0.875" in content
    # An active tuning job offers the stop button.
    assert f'action="{reverse("tuning-job-stop", args=["tj-1"])}"' in content


def test_an_ended_tuning_job_offers_no_stop_button(alice_client, tuning_job, no_tasks):
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    response = alice_client.get(reverse("tuning-job-detail", args=["tj-1"]))
    assert response.context["tuning_job"].status == TuningJobStatus.STOPPED
    assert reverse("tuning-job-stop", args=["tj-1"]).encode() not in response.content


def test_the_training_job_page_shows_hyperparameters_metrics_and_log(alice_client, tuning_job):
    response = alice_client.get(reverse("training-job-detail", args=["tj-1-001"]))
    assert response.status_code == 200
    training_job = response.context["training_job"]
    assert training_job.name == "tj-1-001"
    assert [(s.epoch, s.value) for s in response.context["samples"]] == [(1, 0.5), (2, 0.875)]
    assert response.context["log_tail"].endswith("all done\n")
    content = response.content.decode()
    for name, value in training_job.hyperparameters.items():
        assert f"<dt>{name}</dt><dd>{value}</dd>" in content
    assert "all done" in content


def test_a_training_job_without_a_log_renders(alice_client, tuning_job):
    response = alice_client.get(reverse("training-job-detail", args=["tj-1-002"]))
    assert response.status_code == 200
    assert response.context["log_tail"] == ""


@pytest.mark.parametrize(
    "url",
    [reverse("tuning-job-detail", args=["nope"]), reverse("training-job-detail", args=["nope-001"])],
)
def test_unknown_jobs_are_404(alice_client, tuning_job, url):
    assert alice_client.get(url).status_code == 404


def test_stopping_an_unknown_tuning_job_is_404(alice_client):
    assert alice_client.post(reverse("tuning-job-stop", args=["nope"])).status_code == 404


# --- stop ---------------------------------------------------------------------------


def test_the_stop_button_asks_the_tuning_job_to_stop(alice_client, tuning_job, no_tasks):
    response = alice_client.post(reverse("tuning-job-stop", args=["tj-1"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("tuning-job-detail", args=["tj-1"])
    tuning_job.refresh_from_db()
    assert tuning_job.status in (TuningJobStatus.STOPPING, TuningJobStatus.STOPPED)
    # The training job that had not started yet ends Stopped at once.
    assert TrainingJob.objects.get(name="tj-1-002").status == "Stopped"


def test_get_on_the_stop_url_is_405_and_stops_nothing(alice_client, tuning_job):
    response = alice_client.get(reverse("tuning-job-stop", args=["tj-1"]))
    assert response.status_code == 405
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


# --- admin ---------------------------------------------------------------------------


def algorithm_form(**overrides) -> dict:
    data = {
        "name": "resnet",
        "description": "",
        "backend": "local",
        "command": json.dumps(["python", "train.py"]),
        "metric_definitions": json.dumps([{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}]),
        "static_hyperparameters": json.dumps({"epochs": "10"}),
    }
    data.update(overrides)
    return data


def test_the_admin_registers_a_valid_algorithm(staff_client):
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), algorithm_form())
    assert response.status_code == 302
    algorithm = Algorithm.objects.get(name="resnet")
    assert algorithm.command == ["python", "train.py"]
    assert algorithm.metric_names == ["validation:accuracy"]


@pytest.mark.parametrize(
    ("regex", "message"),
    [(r"loss=([0-9", "invalid regex"), (r"loss=\S+", "needs a capture group")],
)
def test_the_admin_refuses_a_bad_metric_regex_with_a_field_error(staff_client, regex, message):
    data = algorithm_form(metric_definitions=json.dumps([{"Name": "loss", "Regex": regex}]))
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["metric_definitions"]
    assert message in errors["metric_definitions"][0]
    assert not Algorithm.objects.exists()


def test_the_admin_refuses_a_command_that_is_not_an_argv(staff_client):
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), algorithm_form(command=json.dumps("python x")))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["command"]
    assert not Algorithm.objects.exists()


def test_tuning_jobs_cannot_be_added_or_changed_in_the_admin(staff_client, tuning_job, django_user_model):
    model_admin = admin.site._registry[TuningJob]
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.get(username="root")
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_change_permission(request, tuning_job) is False

    assert staff_client.get(reverse("admin:jobs_tuningjob_add")).status_code == 403
    change_url = reverse("admin:jobs_tuningjob_change", args=[tuning_job.pk])
    assert staff_client.get(change_url).status_code == 200  # read-only view
    response = staff_client.post(change_url, {"name": "renamed", "status": "Completed"})
    assert response.status_code == 403
    tuning_job.refresh_from_db()
    assert (tuning_job.name, tuning_job.status) == ("tj-1", TuningJobStatus.IN_PROGRESS)


def test_the_admin_lists_tuning_jobs(staff_client, tuning_job):
    response = staff_client.get(reverse("admin:jobs_tuningjob_changelist"))
    assert response.status_code == 200
    assert b"tj-1" in response.content


# --- teams ---------------------------------------------------------------------------


@pytest.fixture
def bob_client(client, django_user_model):
    """Bob is in no team: every tuning job here is another team's."""
    client.force_login(django_user_model.objects.create_user("bob"))
    return client


@pytest.fixture
def viewer_client(client, django_user_model, team):
    carol = django_user_model.objects.create_user("carol")
    TeamMember.objects.create(team=team, user=carol, role=TeamRole.VIEWER)
    client.force_login(carol)
    return client


def test_another_teams_tuning_job_is_a_404_everywhere(bob_client, tuning_job):
    training_job = tuning_job.training_jobs.first()
    assert bob_client.get(reverse("tuning-job-detail", args=[tuning_job.name])).status_code == 404
    assert bob_client.get(reverse("training-job-detail", args=[training_job.name])).status_code == 404
    assert bob_client.post(reverse("tuning-job-stop", args=[tuning_job.name])).status_code == 404
    assert bob_client.get(reverse("tuning-job-list")).context["rows"] == []
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_a_viewer_looks_but_cannot_stop(viewer_client, tuning_job, no_tasks):
    assert viewer_client.get(reverse("tuning-job-detail", args=[tuning_job.name])).status_code == 200
    assert viewer_client.post(reverse("tuning-job-stop", args=[tuning_job.name])).status_code == 403
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_staff_see_every_team(staff_client, tuning_job):
    assert staff_client.get(reverse("tuning-job-detail", args=[tuning_job.name])).status_code == 200


def test_only_operators_create_in_a_team(django_user_model, team, no_tasks):
    register_algorithm()
    viewer = django_user_model.objects.create_user("dave")
    TeamMember.objects.create(team=team, user=viewer, role=TeamRole.VIEWER)
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(config=tuning_job_config(team_name="vision"), owner=viewer)
    assert "operator" in error.value.message_dict["team_name"][0]
    operator = django_user_model.objects.create_user("erin")
    TeamMember.objects.create(team=team, user=operator, role=TeamRole.OPERATOR)
    assert services.tuning_job_create(config=tuning_job_config(team_name="vision"), owner=operator).team == team
