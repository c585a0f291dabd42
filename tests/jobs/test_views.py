"""Server-rendered pages, their JSON endpoints and the admin, as a browser uses them.

Who may see what: every page needs a login, another team's jobs are a 404
everywhere, a viewer looks but never acts. The create form has its own file
(test_forms.py).
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import selectors, services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import (
    Algorithm,
    MetricSample,
    TeamMember,
    TeamRole,
    TrainingJob,
    TrainingJobLogChunk,
    TuningJob,
    TuningJobStatus,
)
from jobs.runner import DatabaseOutageBackoff, LogShipper
from jobs.views import training_jobs, tuning_job_detail, tuning_jobs
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
def bob_client(client, django_user_model):
    """Bob is in no team: every tuning job here is another team's."""
    client.force_login(django_user_model.objects.create_user("bob"))
    return client


@pytest.fixture
def viewer_client(client, django_user_model, team):
    """Carol views the team's tuning jobs and operates nothing."""
    carol = django_user_model.objects.create_user("carol")
    TeamMember.objects.create(team=team, user=carol, role=TeamRole.VIEWER)
    client.force_login(carol)
    return client


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


LOG_TEXT = "epoch=1 validation:accuracy=0.5\nepoch=2 validation:accuracy=0.875\nall done\n"


@pytest.fixture
def tuning_job(no_tasks, team, tmp_path):
    """tj-1: tj-1-001 Completed at 0.875 (with a log file), tj-1-002 not started yet."""
    register_algorithm()
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision"))
    first, _ = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    log = tmp_path / "tj-1-001.log"
    log.write_text(LOG_TEXT)
    run(first, [0.5, 0.875], log_path=str(log))
    tuning_job.refresh_from_db()
    return tuning_job


def ship_log(training_job, text):
    """What a worker does as its program prints: the lines go to the log file and from there to the database."""
    path = Path(training_job.log_path)
    path.unlink(missing_ok=True)
    shipper = LogShipper(training_job.id, path)
    path.write_text(text)
    assert shipper.ship(DatabaseOutageBackoff(), final=True)


@pytest.fixture(params=["database", "file"])
def write_log(request, tuning_job):
    """tj-1-001's log as the pages read it: shipped to the database (the worker's disk is elsewhere:
    the file is gone), or only a file (a job that ran before logs were shipped)."""
    job = TrainingJob.objects.get(name="tj-1-001")

    def write(text):
        if request.param == "database":
            TrainingJobLogChunk.objects.filter(training_job=job).delete()
            ship_log(job, text)
            Path(job.log_path).unlink()
        else:
            Path(job.log_path).write_text(text)

    write(LOG_TEXT)
    return write


PAGES = [
    ("tuning-job-list", []),
    ("tuning-job-create", []),
    ("tuning-job-detail", ["tj-1"]),
    ("training-job-detail", ["tj-1-001"]),
    ("training-job-log-download", ["tj-1-001"]),
]
ENDPOINTS = [
    ("tuning-job-summary", ["tj-1"]),
    ("tuning-job-curves", ["tj-1"]),
    ("tuning-job-training-jobs", ["tj-1"]),
    ("training-job-metrics", ["tj-1-001"]),
    ("training-job-log", ["tj-1-001"]),
]


# --- login -------------------------------------------------------------------------------


def test_pages_redirect_anonymous_users_to_login(client, tuning_job):
    for name, args in PAGES:
        url = reverse(name, args=args)
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_endpoints_answer_anonymous_users_401_in_json(client, tuning_job):
    for name, args in ENDPOINTS:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 401, name
        assert response.json() == {"detail": "Log in first."}


def test_stopping_needs_login(client, tuning_job):
    response = client.post(reverse("tuning-job-stop", args=["tj-1"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


# --- teams and roles -------------------------------------------------------------------------


def test_another_teams_jobs_are_a_404_on_every_page_and_endpoint(bob_client, tuning_job):
    for name, args in [page for page in PAGES if page[1]] + ENDPOINTS:
        assert bob_client.get(reverse(name, args=args)).status_code == 404, name


def test_another_teams_tuning_job_cannot_be_stopped_and_is_not_listed(bob_client, tuning_job):
    assert bob_client.post(reverse("tuning-job-stop", args=["tj-1"])).status_code == 404
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS
    response = bob_client.get(reverse("tuning-job-list"))
    assert response.context["rows"] == []
    # Not even the names of active tuning jobs the list's script keeps.
    assert response.context["page_config"]["active"] == []
    assert b"tj-1" not in response.content


@pytest.mark.parametrize(
    "url", [reverse("tuning-job-detail", args=["nope"]), reverse("training-job-detail", args=["nope-001"])]
)
def test_unknown_jobs_are_404(alice_client, tuning_job, url):
    assert alice_client.get(url).status_code == 404


def test_stopping_an_unknown_tuning_job_is_404(alice_client):
    assert alice_client.post(reverse("tuning-job-stop", args=["nope"])).status_code == 404


def test_a_viewer_looks_but_cannot_stop(viewer_client, tuning_job):
    response = viewer_client.get(reverse("tuning-job-detail", args=["tj-1"]))
    assert response.status_code == 200
    assert response.context["can_operate"] is False
    assert b'data-testid="stop-button"' not in response.content
    assert viewer_client.post(reverse("tuning-job-stop", args=["tj-1"])).status_code == 403
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_a_viewer_gets_403_on_the_create_page_and_no_link_to_it(viewer_client, tuning_job):
    assert viewer_client.get(reverse("tuning-job-create")).status_code == 403
    assert viewer_client.post(reverse("tuning-job-create"), {"name": "sneaky"}).status_code == 403
    assert not TuningJob.objects.filter(name="sneaky").exists()
    assert reverse("tuning-job-create").encode() not in viewer_client.get(reverse("tuning-job-list")).content


def test_staff_see_every_team(staff_client, tuning_job):
    assert staff_client.get(reverse("tuning-job-detail", args=[tuning_job.name])).status_code == 200
    assert staff_client.get(reverse("tuning-job-create")).status_code == 200


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


# --- the tuning jobs list ---------------------------------------------------------------------


def test_the_list_shows_each_tuning_job_with_counters_best_and_times(alice_client, tuning_job):
    now = timezone.now()
    first, second = tuning_job.training_jobs.order_by("sequence")
    TrainingJob.objects.filter(pk=first.pk).update(
        started_at=now - timedelta(seconds=100), ended_at=now - timedelta(seconds=40)
    )
    TrainingJob.objects.filter(pk=second.pk).update(started_at=now - timedelta(seconds=30))  # still running
    TuningJob.objects.filter(pk=tuning_job.pk).update(created_at=now - timedelta(seconds=200))

    response = alice_client.get(reverse("tuning-job-list"))
    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert row.tuning_job == tuning_job
    assert (row.counters.completed, row.counters.in_progress) == (1, 1)
    assert row.best_value == 0.875
    assert 90 <= row.training_seconds < 95  # 60 s ended + 30 s so far
    assert 200 <= row.wall_seconds < 205
    content = response.content.decode()
    assert reverse("tuning-job-detail", args=["tj-1"]) in content
    assert '<td class="num" data-field="best">0.875</td>' in content
    assert '<td class="num" data-counter="Completed">1</td>' in content
    assert '<td class="num" data-counter="InProgress">1</td>' in content
    assert "1 min 30 s" in content  # the training time
    assert response.context["page_config"]["active"] == ["tj-1"]


def test_the_list_of_nothing(alice_client):
    response = alice_client.get(reverse("tuning-job-list"))
    assert response.status_code == 200
    assert b"No tuning jobs yet" in response.content
    assert reverse("tuning-job-create").encode() in response.content


@pytest.fixture
def two_tuning_jobs(no_tasks, team):
    """vision-tj-1 InProgress and audio-tj-2 Stopping."""
    register_algorithm()
    services.tuning_job_create(config=tuning_job_config(name="vision-tj-1", team_name="vision"))
    stopped = services.tuning_job_create(config=tuning_job_config(name="audio-tj-2", team_name="vision"))
    services.tuning_job_stop(tuning_job_id=stopped.id)


def listed(response) -> list[str]:
    return sorted(row.tuning_job.name for row in response.context["rows"])


@pytest.mark.parametrize(
    ("status", "expected"),
    [("InProgress", ["vision-tj-1"]), ("Stopping", ["audio-tj-2"]), ("Completed", []),
     ("", ["audio-tj-2", "vision-tj-1"]), ("Bogus", ["audio-tj-2", "vision-tj-1"])],
)  # fmt: skip
def test_the_list_filters_by_status(alice_client, two_tuning_jobs, status, expected):
    response = alice_client.get(reverse("tuning-job-list"), {"status": status})
    assert response.status_code == 200
    assert listed(response) == expected
    assert response.context["status"] == status


@pytest.mark.parametrize(
    ("query", "expected"),
    [("vision", ["vision-tj-1"]), ("TJ-2", ["audio-tj-2"]), ("tj", ["audio-tj-2", "vision-tj-1"]), ("zzz", [])],
)
def test_the_list_searches_by_name(alice_client, two_tuning_jobs, query, expected):
    response = alice_client.get(reverse("tuning-job-list"), {"q": query})
    assert listed(response) == expected
    if not expected:
        assert b"No tuning jobs match" in response.content


def test_search_and_status_filter_combine(alice_client, two_tuning_jobs):
    response = alice_client.get(reverse("tuning-job-list"), {"q": "tj", "status": "Stopping"})
    assert listed(response) == ["audio-tj-2"]


def test_the_list_is_paginated_newest_first(alice_client, no_tasks, team, monkeypatch):
    monkeypatch.setattr(tuning_jobs, "LIST_PAGE_SIZE", 4)
    register_algorithm()
    for i in range(6):
        services.tuning_job_create(config=tuning_job_config(name=f"tj-{i:02d}", team_name="vision"))
    first = alice_client.get(reverse("tuning-job-list"))
    assert [row.tuning_job.name for row in first.context["rows"]] == ["tj-05", "tj-04", "tj-03", "tj-02"]
    assert b'rel="next"' in first.content
    second = alice_client.get(reverse("tuning-job-list"), {"page": 2, "q": "tj"})
    assert [row.tuning_job.name for row in second.context["rows"]] == ["tj-01", "tj-00"]
    assert b'href="?page=1&amp;q=tj"' in second.content  # the search stays on the other pages
    assert b'rel="prev">' in second.content
    # A page out of range shows the last one rather than an error.
    assert alice_client.get(reverse("tuning-job-list"), {"page": 99}).context["page"].number == 2


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("name", ["audio-tj-2", "vision-tj-1"]), ("-name", ["vision-tj-1", "audio-tj-2"]),
     ("status", ["vision-tj-1", "audio-tj-2"]), ("-created", ["audio-tj-2", "vision-tj-1"]),
     ("created", ["vision-tj-1", "audio-tj-2"]), ("nonsense", ["audio-tj-2", "vision-tj-1"])],
)  # fmt: skip
def test_the_list_sorts_by_the_column_the_address_names(alice_client, two_tuning_jobs, sort, expected):
    response = alice_client.get(reverse("tuning-job-list"), {"sort": sort, "q": "tj"})
    assert [row.tuning_job.name for row in response.context["rows"]] == expected


def test_the_list_sorts_by_best_objective_with_the_jobs_without_one_last(alice_client, tuning_job, no_tasks):
    services.tuning_job_create(config=tuning_job_config(name="no-best", team_name="vision"))
    for sort in ("best", "-best"):
        response = alice_client.get(reverse("tuning-job-list"), {"sort": sort})
        assert [row.tuning_job.name for row in response.context["rows"]] == ["tj-1", "no-best"]


def test_the_list_headers_link_to_their_sort_keeping_the_filters(alice_client, two_tuning_jobs):
    response = alice_client.get(reverse("tuning-job-list"), {"status": "Stopping", "sort": "name", "page": "1"})
    content = response.content.decode()
    # The current sort reverses; another column starts from its natural order; the page resets.
    assert 'aria-sort="ascending"' in content
    assert 'href="?status=Stopping&amp;sort=-name"' in content
    assert 'href="?status=Stopping&amp;sort=-best"' in content
    assert 'href="?status=Stopping&amp;sort=algorithm"' in content
    assert '<td data-field="algorithm">quadratic</td>' in content
    assert "Maximize <code>validation:accuracy</code>" in content


def test_the_list_filters_by_tag_and_links_each_tag(alice_client, no_tasks, team):
    register_algorithm()
    services.tuning_job_create(
        config=tuning_job_config(name="seeded", team_name="vision", tags={"project": "seed", "owner": "ml"})
    )
    services.tuning_job_create(config=tuning_job_config(name="other", team_name="vision", tags={"project": "x"}))
    services.tuning_job_create(config=tuning_job_config(name="untagged", team_name="vision"))
    url = reverse("tuning-job-list")
    assert listed(alice_client.get(url, {"tag": "project"})) == ["other", "seeded"]
    assert listed(alice_client.get(url, {"tag": "project", "tag_value": "seed"})) == ["seeded"]
    assert listed(alice_client.get(url, {"tag": "nope"})) == []
    content = alice_client.get(url).content.decode()
    assert 'href="?tag=project&amp;tag_value=seed"' in content


def test_the_list_ticks_tuning_jobs_into_the_compare_form(alice_client, two_tuning_jobs):
    content = alice_client.get(reverse("tuning-job-list")).content.decode()
    assert f'<form method="get" action="{reverse("tuning-jobs-compare")}" id="compare-form"' in content
    assert '<input type="checkbox" name="jobs" value="vision-tj-1" form="compare-form"' in content


# --- the tuning job page ------------------------------------------------------------------------


def test_the_detail_page_shows_counters_best_job_table_and_chart_containers(alice_client, tuning_job):
    response = alice_client.get(reverse("tuning-job-detail", args=["tj-1"]))
    assert response.status_code == 200
    assert response.context["tuning_job"] == tuning_job
    assert [row["name"] for row in response.context["table"]["rows"]] == ["tj-1-001", "tj-1-002"]
    content = response.content.decode()
    assert '<span class="counter-value" data-testid="counter-Completed">1</span>' in content
    assert '<span class="counter-value" data-testid="counter-InProgress">1</span>' in content
    for testid in ("learning-curves", "objective-by-job", "parallel-coordinates", "objective-vs-hyperparameter",
                   "training-jobs-table", "stop-button"):  # fmt: skip
        assert f'data-testid="{testid}"' in content
    assert reverse("training-job-detail", args=["tj-1-001"]) in content
    assert reverse("training-job-detail", args=["tj-1-002"]) in content
    assert "0.875" in content  # the best objective
    assert f'action="{reverse("tuning-job-stop", args=["tj-1"])}"' in content
    assert "vendor/plotly.min.js" in content
    # Each range as the form gave it (a dict's .values() once printed every member of it).
    assert "<code>learning_rate</code> Continuous [0.0001, 1.0] Logarithmic</li>" in content
    assert "<code>optimizer</code> Categorical: sgd, adam</li>" in content


def test_the_detail_page_config_tells_the_script_what_to_draw(alice_client, tuning_job):
    config = alice_client.get(reverse("tuning-job-detail", args=["tj-1"])).context["page_config"]
    assert config["objective"] == {"metric": "validation:accuracy", "type": "Maximize"}
    assert config["parameters"] == [
        {"name": "learning_rate", "type": "Continuous", "min": 1e-4, "max": 1.0, "log": True},
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam"]},
    ]
    assert config["urls"]["socket"] == "/ws/tuning-jobs/tj-1/"
    assert config["urls"]["summary"] == reverse("tuning-job-summary", args=["tj-1"])
    assert config["urls"]["training_job"].replace(config["placeholder"], "x") == reverse(
        "training-job-detail", args=["x"]
    )
    assert config["best"]["name"] == "tj-1-001"
    assert config["counters"] == {"Completed": 1, "InProgress": 1, "Stopped": 0, "Failed": 0}


def test_user_data_on_the_detail_page_is_escaped(alice_client, no_tasks, team):
    register_algorithm(static_hyperparameters={})
    services.tuning_job_create(
        config=tuning_job_config(
            name="esc", team_name="vision", static_hyperparameters={"note": "<script>alert(1)</script>"}
        )
    )
    content = alice_client.get(reverse("tuning-job-detail", args=["esc"])).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_detail_page_lists_the_tuning_jobs_tags(alice_client, no_tasks, team):
    register_algorithm()
    services.tuning_job_create(
        config=tuning_job_config(name="tagged", team_name="vision", tags={"project": "seed", "reviewed": ""})
    )
    content = alice_client.get(reverse("tuning-job-detail", args=["tagged"])).content.decode()
    tags = content.split('data-testid="tags">', 1)[1].split("</dd>", 1)[0]
    assert tags == '<span class="badge">project: seed</span> <span class="badge">reviewed</span> '
    services.tuning_job_create(config=tuning_job_config(name="untagged", team_name="vision"))
    assert (
        'data-testid="tags">–</dd>'
        in alice_client.get(reverse("tuning-job-detail", args=["untagged"])).content.decode()
    )


def test_an_ended_tuning_job_offers_no_stop_button(alice_client, tuning_job, no_tasks):
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    response = alice_client.get(reverse("tuning-job-detail", args=["tj-1"]))
    assert response.context["tuning_job"].status == TuningJobStatus.STOPPED
    assert reverse("tuning-job-stop", args=["tj-1"]).encode() not in response.content


def test_the_table_shows_fifty_training_jobs_a_page():
    assert tuning_job_detail.TABLE_PAGE_SIZE == 50


@pytest.fixture
def big_tuning_job(no_tasks, team, monkeypatch):
    """tj-big: 12 training jobs, 5 a page; objective = sequence / 100, except job 7 (NaN) and job 8 (none yet).

    Every third job Stopped, the others Completed; job N ran N seconds.
    """
    monkeypatch.setattr(tuning_job_detail, "TABLE_PAGE_SIZE", 5)
    register_algorithm()
    config = tuning_job_config(name="tj-big", team_name="vision", max_training_jobs=12, max_parallel_training_jobs=12)
    tuning_job = services.tuning_job_create(config=config)
    jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    assert len(jobs) == 12
    now = timezone.now()
    for job in jobs:
        value = {7: float("nan"), 8: None}.get(job.sequence, job.sequence / 100)
        status = "Completed" if job.sequence % 3 else "Stopped"
        TrainingJob.objects.filter(pk=job.pk).update(
            final_objective_value=value,
            status=status,
            started_at=now - timedelta(seconds=1000),
            ended_at=now - timedelta(seconds=1000 - job.sequence),
        )
    return tuning_job


def table_page(client, **params):
    """The table the partial renders: its rows as the template got them, each row drawn once."""
    response = client.get(reverse("tuning-job-training-jobs", args=["tj-big"]), params)
    assert response.status_code == 200
    table = response.context["table"]
    assert response.content.decode().count("<tr data-name=") == len(table["rows"])
    return table


def test_the_table_endpoint_pages(alice_client, big_tuning_job):
    first = table_page(alice_client)
    assert (first["count"], first["page"], first["num_pages"], first["sort"], first["status"]) == (
        12, 1, 3, "sequence", ""
    )  # fmt: skip
    assert [row["sequence"] for row in first["rows"]] == [1, 2, 3, 4, 5]
    assert [row["sequence"] for row in table_page(alice_client, page=3)["rows"]] == [11, 12]
    # A page out of range is the last one.
    assert table_page(alice_client, page=99)["page"] == 3
    row = first["rows"][0]
    assert set(row) == {
        "name", "url", "sequence", "status", "stop_reason", "stop_reason_text", "objective", "objective_text",
        "epochs", "duration", "duration_text", "hyperparameters",
    }  # fmt: skip
    assert row["url"] == reverse("training-job-detail", args=[row["name"]])
    assert row["duration"] == 1.0 and row["duration_text"] == "1 s"
    assert set(row["hyperparameters"]) == {"learning_rate", "optimizer"}


@pytest.mark.database_vendor
def test_the_address_bar_shows_only_what_differs_from_the_first_view(alice_client, big_tuning_job):
    """A live refresh of the first view must leave the page's URL as it was (no query, no fragment)."""
    page = reverse("tuning-job-detail", args=["tj-big"])
    assert table_page(alice_client)["page_url"] == page
    assert table_page(alice_client, page=1, sort="sequence", status="")["page_url"] == page
    chosen = table_page(alice_client, page=2, sort="-objective", status="Completed")["page_url"]
    assert chosen == f"{page}?page=2&sort=-objective&status=Completed#training-jobs"
    assert table_page(alice_client, sort="-objective")["page_url"] == f"{page}?sort=-objective#training-jobs"


def test_the_table_sorts_by_objective_with_missing_values_last(alice_client, big_tuning_job):
    best_first = table_page(alice_client, sort="-objective")
    assert [row["sequence"] for row in best_first["rows"][:3]] == [12, 11, 10]
    worst_first = table_page(alice_client, sort="objective")
    assert [row["sequence"] for row in worst_first["rows"][:3]] == [1, 2, 3]
    assert [row["sequence"] for row in table_page(alice_client, sort="-objective", page=3)["rows"]] in ([7, 8], [8, 7])
    last_page = table_page(alice_client, sort="objective", page=3)["rows"]
    # NaN (job 7) and no value yet (job 8) come last in either direction, shown as null / NaN / –.
    assert {row["sequence"] for row in last_page[-2:]} == {7, 8}
    by_sequence = {row["sequence"]: row for row in last_page}
    assert by_sequence[7]["objective"] is None and by_sequence[7]["objective_text"] == "NaN"
    assert by_sequence[8]["objective_text"] == "–"


def test_the_table_sorts_by_duration_and_status(alice_client, big_tuning_job):
    assert [row["sequence"] for row in table_page(alice_client, sort="-duration")["rows"][:2]] == [12, 11]
    assert [row["sequence"] for row in table_page(alice_client, sort="duration")["rows"][:2]] == [1, 2]
    by_status = table_page(alice_client, sort="status")["rows"]
    assert [row["status"] for row in by_status[:2]] == ["Completed", "Completed"]
    assert table_page(alice_client, sort="-status")["rows"][0]["status"] == "Stopped"


def test_the_table_filters_by_status_and_ignores_nonsense(alice_client, big_tuning_job):
    stopped = table_page(alice_client, status="Stopped")
    assert stopped["count"] == 4
    assert {row["status"] for row in stopped["rows"]} == {"Stopped"}
    nonsense = table_page(alice_client, status="Bogus", sort="drop table", page="x")
    assert (nonsense["count"], nonsense["status"], nonsense["sort"], nonsense["page"]) == (12, "", "sequence", 1)


def test_the_page_renders_the_table_the_query_string_asks_for(alice_client, big_tuning_job):
    response = alice_client.get(
        reverse("tuning-job-detail", args=["tj-big"]), {"sort": "-objective", "status": "Completed", "page": 1}
    )
    table = response.context["table"]
    assert (table["count"], table["sort"], table["status"]) == (8, "-objective", "Completed")
    assert table["rows"][0]["sequence"] == 11
    content = response.content.decode()
    assert 'aria-sort="descending"' in content
    # The objective header now offers the other direction, keeping the filter.
    assert 'href="?sort=objective&amp;status=Completed#training-jobs"' in content
    # The same query on the partial that htmx swaps in, and the refresh keeps the page's own.
    partial = reverse("tuning-job-training-jobs", args=["tj-big"])
    assert f'hx-get="{partial}?sort=objective&amp;status=Completed"' in content
    assert f'data-refresh-url="{partial}?page=1&amp;sort=-objective&amp;status=Completed"' in content


def test_the_summary_endpoint_gives_every_training_job_for_the_charts(alice_client, tuning_job):
    data = alice_client.get(reverse("tuning-job-summary", args=["tj-1"])).json()
    assert set(data) == {"as_of", "counters_read_at", "status", "failure_reason", "counters", "best", "training_jobs"}
    assert data["counters"] == {"Completed": 1, "InProgress": 1, "Stopped": 0, "Failed": 0}
    assert data["best"]["name"] == "tj-1-001" and data["best"]["value"] == 0.875
    first, second = data["training_jobs"]
    assert first == {
        "name": "tj-1-001",
        "sequence": 1,
        "status": "Completed",
        "stop_reason": "",
        "objective": 0.875,
        "objective_status": "Succeeded",
        "hyperparameters": TrainingJob.objects.get(name="tj-1-001").tuned_hyperparameters,
        "epochs": 2,
    }
    assert second["objective"] is None and second["status"] == "InProgress"


def test_the_summary_answers_only_what_changed_since_as_of(alice_client, tuning_job):
    url = reverse("tuning-job-summary", args=["tj-1"])
    as_of = alice_client.get(url).json()["as_of"]
    # Nothing changed, but the overlap repeats what changed just before.
    assert len(alice_client.get(url, {"updated_since": as_of}).json()["training_jobs"]) == 2
    later = (timezone.now() + timedelta(seconds=1)).isoformat()
    assert alice_client.get(url, {"updated_since": later}).json()["training_jobs"] == []
    TrainingJob.objects.filter(name="tj-1-002").update(updated_at=timezone.now() + timedelta(seconds=5))
    changed = alice_client.get(url, {"updated_since": later}).json()["training_jobs"]
    assert [job["name"] for job in changed] == ["tj-1-002"]


def test_the_curves_endpoint_gives_a_small_tuning_jobs_curves_whole_with_their_cursor(alice_client, tuning_job):
    data = alice_client.get(reverse("tuning-job-curves", args=["tj-1"])).json()
    assert data["jobs"] == {"tj-1-001": {"validation:accuracy": [[1, 0.5], [2, 0.875]]}}
    assert data["more"] is False and "thinned" not in data
    # The cursor is the last sample sent: the page's socket catches up from it.
    last = TrainingJob.objects.get(name="tj-1-001").metric_samples.order_by("id").last()
    assert data["cursor"] == {"tj-1-001": last.id}
    # Every training job's status, with or without samples: the page draws the curves, grouped by status,
    # without waiting for summary.json.
    assert data["statuses"] == {"tj-1-001": "Completed", "tj-1-002": "InProgress"}


@pytest.mark.database_vendor
def test_the_curves_endpoint_thins_a_big_tuning_job(alice_client, tuning_job, monkeypatch):
    monkeypatch.setattr(selectors, "CURVE_FULL_SAMPLES", 1)
    monkeypatch.setattr(selectors, "CURVE_POINT_BUDGET", 4)  # two jobs: 2 points each, so one epoch in 3
    monkeypatch.setattr(selectors, "CURVE_MIN_POINTS", 1)
    monkeypatch.setattr(selectors, "CURVE_KEEP_BEST", 0)
    second = TrainingJob.objects.get(name="tj-1-002")
    run(second, [0.1, 0.2, 0.3, 0.4, 0.5])
    data = alice_client.get(reverse("tuning-job-curves", args=["tj-1"])).json()
    assert data["thinned"] == {"stride": 3, "jobs": 2, "whole": 0}
    assert data["statuses"] == dict(TrainingJob.objects.values_list("name", "status"))
    assert [epoch for epoch, _ in data["jobs"]["tj-1-002"]["validation:accuracy"]] == [1, 3, 5]
    assert data["cursor"]["tj-1-002"] == second.metric_samples.order_by("id").last().id


@pytest.mark.database_vendor
def test_the_samples_are_grouped_per_training_job_on_every_database(tuning_job):
    """PostgreSQL groups in the database (array_agg, the overview's fast path), SQLite in Python: same curves.

    The expected curves are what the pure-Python grouping gives; the captured
    SQL shows which of the two paths this database took.
    """
    second = TrainingJob.objects.get(name="tj-1-002")
    run(second, [0.1, float("nan"), 0.123456789, float("inf"), 0.5])
    samples = MetricSample.objects.filter(tuning_job=tuning_job, metric_name="validation:accuracy", epoch__gte=2)

    with CaptureQueriesContext(connection) as queries:
        grouped = {
            job_id: (
                newest,
                sorted((epoch, selectors.six_digits(value)) for epoch, value in zip(epochs, values, strict=True)),
            )
            for job_id, newest, epochs, values in selectors.samples_by_training_job(samples)
        }

    in_database = any("ARRAY_AGG" in query["sql"].upper() for query in queries)
    assert in_database == (connection.vendor == "postgresql")
    assert grouped == {
        tuning_job.training_jobs.get(name="tj-1-001").id: (
            samples.filter(training_job__name="tj-1-001").latest("id").id,
            [(2, 0.875)],
        ),
        second.id: (
            samples.filter(training_job=second).latest("id").id,
            [(2, None), (3, 0.123457), (4, None), (5, 0.5)],
        ),
    }


@pytest.mark.parametrize("value", ["yesterday", "2024-01-01T00:00:00"])
def test_the_summary_refuses_a_bad_updated_since(alice_client, tuning_job, value):
    response = alice_client.get(reverse("tuning-job-summary", args=["tj-1"]), {"updated_since": value})
    assert response.status_code == 400


def test_nan_objectives_are_null_in_json(alice_client, big_tuning_job):
    data = alice_client.get(reverse("tuning-job-summary", args=["tj-big"]))
    assert b"NaN" not in data.content
    assert data.json()["training_jobs"][6]["objective"] is None


# --- stop ----------------------------------------------------------------------------------------


def test_the_stop_button_asks_the_tuning_job_to_stop(alice_client, tuning_job, no_tasks):
    response = alice_client.post(reverse("tuning-job-stop", args=["tj-1"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("tuning-job-detail", args=["tj-1"])
    tuning_job.refresh_from_db()
    assert tuning_job.status in (TuningJobStatus.STOPPING, TuningJobStatus.STOPPED)
    # The training job that had not started yet ends Stopped at once.
    assert TrainingJob.objects.get(name="tj-1-002").status == "Stopped"
    assert b"Stopping tj-1" in alice_client.get(response["Location"]).content


def test_get_on_the_stop_url_is_405_and_stops_nothing(alice_client, tuning_job):
    response = alice_client.get(reverse("tuning-job-stop", args=["tj-1"]))
    assert response.status_code == 405
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


# --- the training job page ---------------------------------------------------------------------------


def test_the_training_job_page_shows_hyperparameters_history_and_log(alice_client, tuning_job, write_log):
    response = alice_client.get(reverse("training-job-detail", args=["tj-1-001"]))
    assert response.status_code == 200
    training_job = response.context["training_job"]
    assert training_job.name == "tj-1-001"
    hyperparameters = {hp["name"]: (hp["value"], hp["tuned"]) for hp in response.context["hyperparameters"]}
    assert hyperparameters.keys() == training_job.hyperparameters.keys()
    assert hyperparameters["optimizer"] == (training_job.hyperparameters["optimizer"], True)
    assert [step["label"] for step in response.context["history"]] == ["Created", "Started", "Completed"]
    assert response.context["log"]["text"] == LOG_TEXT
    content = response.content.decode()
    assert "all done" in content
    assert 'data-testid="metric-charts"' in content
    config = response.context["page_config"]
    assert config["log_offset"] == len(LOG_TEXT)
    assert config["state"]["status"] == "Completed" and config["state"]["active"] is False
    assert config["urls"]["log"] == reverse("training-job-log", args=["tj-1-001"])


def test_a_training_job_without_a_log_renders(alice_client, tuning_job):
    response = alice_client.get(reverse("training-job-detail", args=["tj-1-002"]))
    assert response.status_code == 200
    assert response.context["log"] == {"start": 0, "offset": 0, "size": 0, "text": ""}
    assert response.context["page_config"]["state"]["active"] is True


def test_the_metrics_endpoint_answers_samples_after_a_cursor(alice_client, tuning_job):
    url = reverse("training-job-metrics", args=["tj-1-001"])
    data = alice_client.get(url).json()
    assert data["metrics"] == {"validation:accuracy": [[1, 0.5], [2, 0.875]]}
    assert data["more"] is False
    assert data["job"]["status"] == "Completed" and data["job"]["objective"] == 0.875
    again = alice_client.get(url, {"after": data["cursor"]}).json()
    assert again["metrics"] == {} and again["cursor"] == data["cursor"]
    assert alice_client.get(url, {"after": "-1"}).status_code == 400
    assert alice_client.get(url, {"after": "x"}).status_code == 400


def log_at(client, **params):
    response = client.get(reverse("training-job-log", args=["tj-1-001"]), params)
    assert response.status_code == 200
    return response.json()


def test_the_log_endpoint_reads_from_an_offset(alice_client, tuning_job, write_log):
    whole = log_at(alice_client, offset=0)
    assert whole == {"start": 0, "offset": len(LOG_TEXT), "size": len(LOG_TEXT), "text": LOG_TEXT, "active": False}
    rest = log_at(alice_client, offset=len("epoch=1 validation:accuracy=0.5\n"))
    assert rest["text"] == "epoch=2 validation:accuracy=0.875\nall done\n"
    assert rest["offset"] == len(LOG_TEXT)
    assert log_at(alice_client, offset=len(LOG_TEXT))["text"] == ""
    # Past the end (a log that was replaced): nothing, and the offset to carry on from.
    beyond = log_at(alice_client, offset=10_000)
    assert (beyond["text"], beyond["offset"]) == ("", len(LOG_TEXT))
    # Without an offset: the tail, which here is the whole log.
    assert log_at(alice_client)["text"] == LOG_TEXT


@pytest.mark.parametrize("offset", ["-1", "abc", "1.5"])
def test_the_log_endpoint_refuses_a_bad_offset(alice_client, tuning_job, offset):
    response = alice_client.get(reverse("training-job-log", args=["tj-1-001"]), {"offset": offset})
    assert response.status_code == 400


def test_a_long_log_comes_in_chunks_of_whole_lines(alice_client, tuning_job, write_log):
    line = "x" * 99 + "\n"
    lines = (3 * training_jobs.LOG_CHUNK_BYTES) // len(line) + 7
    write_log(line * lines)
    total = len(line) * lines

    tail = log_at(alice_client)
    assert tail["start"] > 0 and tail["text"].startswith("x") and tail["offset"] == total
    assert len(tail["text"]) <= training_jobs.LOG_TAIL_BYTES
    assert tail["text"].count("\n") == len(tail["text"]) // len(line)

    text, offset, reads = "", 0, 0
    while offset < total:
        chunk = log_at(alice_client, offset=offset)
        assert chunk["start"] == offset and chunk["text"].endswith("\n")
        assert len(chunk["text"]) <= training_jobs.LOG_CHUNK_BYTES
        text, offset, reads = text + chunk["text"], chunk["offset"], reads + 1
    assert text == line * lines
    assert reads == 4


def test_a_training_job_without_a_log_has_an_empty_one(alice_client, tuning_job):
    response = alice_client.get(reverse("training-job-log", args=["tj-1-002"]), {"offset": 0})
    assert response.json() == {"start": 0, "offset": 0, "size": 0, "text": "", "active": True}
    assert alice_client.get(reverse("training-job-log-download", args=["tj-1-002"])).status_code == 404


def test_the_whole_log_downloads_as_text(alice_client, tuning_job, write_log):
    response = alice_client.get(reverse("training-job-log-download", args=["tj-1-001"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == LOG_TEXT


# --- admin -----------------------------------------------------------------------------------------


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


def test_the_admin_sets_image_uri_aliases_and_refuses_a_malformed_one(staff_client):
    alias = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    response = staff_client.post(
        reverse("admin:jobs_algorithm_add"), algorithm_form(image_uri_aliases=json.dumps([alias]))
    )
    assert response.status_code == 302
    assert Algorithm.objects.get(name="resnet").image_uri_aliases == [alias]
    data = algorithm_form(name="other", image_uri_aliases=json.dumps(["not an image uri"]))
    response = staff_client.post(reverse("admin:jobs_algorithm_add"), data)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["image_uri_aliases"]


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
    # Times as every page writes them, zone named, rather than the admin's own format.
    created = f"{tuning_job.created_at:%Y-%m-%d %H:%M:%S} UTC"
    assert f'<td class="field-created_at">{created}</td>'.encode() in response.content


def test_the_admin_lists_training_jobs_with_the_pages_formats(staff_client, tuning_job):
    job = tuning_job.training_jobs.get(name="tj-1-001")
    TrainingJob.objects.filter(pk=job.pk).update(final_objective_value=0.0057895240435489916)
    content = staff_client.get(reverse("admin:jobs_trainingjob_changelist")).content.decode()
    assert "0.00578952" in content and "0.0057895240435489916" not in content
    assert f"{job.started_at:%Y-%m-%d %H:%M:%S} UTC" in content


def test_the_favicon_is_served_from_our_static_files(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/favicon.svg")


def test_the_name_field_stops_at_sagemakers_limit(alice_client):
    content = alice_client.get(reverse("tuning-job-create")).content.decode()
    assert 'name="name"' in content and 'maxlength="32"' in content
