"""REST API v1 through DRF's test client: auth, validation errors, visibility, filters, sorting."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from rest_framework.serializers import ModelSerializer
from rest_framework.test import APIClient

from jobs import services
from jobs.api import serializers
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.models import Algorithm, ApiToken, TeamMember, TeamRole, TrainingJob, TuningJob
from tests.jobs.factories import (
    LEARNING_RATE,
    OPTIMIZER,
    SUPPORTED_HYPERPARAMETERS,
    register_algorithm,
    tuning_job_config,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1"


@pytest.fixture
def team():
    return Group.objects.create(name="vision")


def member(django_user_model, name, team, role=TeamRole.OPERATOR):
    user = django_user_model.objects.create_user(name)
    TeamMember.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def alice(django_user_model, team):
    return member(django_user_model, "alice", team)


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def algorithm():
    return register_algorithm()


def body(**overrides):
    values = {
        "name": "api-job",
        "algorithm": "quadratic",
        "team": "vision",
        "objective_metric_name": "validation:accuracy",
        "objective_type": "Maximize",
        "parameter_ranges": [LEARNING_RATE, OPTIMIZER],
        "max_training_jobs": 4,
        "max_parallel_training_jobs": 2,
        "random_seed": 3,
    }
    values.update(overrides)
    return values


def play(training_job, values):
    services.training_job_start(training_job_id=training_job.id, worker="w@h:1", log_path="")
    services.training_job_record_metrics(
        training_job_id=training_job.id,
        records=[MetricRecord("validation:accuracy", e, v, datetime.now(UTC)) for e, v in enumerate(values, 1)],
    )
    services.training_job_finish(training_job_id=training_job.id, result=RunResult(Outcome.COMPLETED, 0))


@pytest.fixture
def tuning_job(algorithm, team, no_tasks):
    """vision's tj-1: jobs 001 (0.5) and 002 (0.9) Completed, 003 running without an objective."""
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision", max_parallel_training_jobs=3))
    first, second, third = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    play(first, [0.3, 0.5])
    play(second, [0.9])
    services.training_job_start(training_job_id=third.id, worker="w@h:1", log_path="")
    return tuning_job


def error(response):
    assert set(response.json()) == {"error"}
    return response.json()["error"]


def test_unauthenticated_requests_get_the_error_shape():
    response = APIClient().get(f"{BASE}/tuning-jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error(response)["status"] == 401


def test_token_auth_and_revocation(alice, tuning_job):
    token, key = services.api_token_create(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 200
    token.delete()
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 401


def test_a_token_is_stored_as_a_hash_and_a_prefix_only(alice, tuning_job):
    token, key = services.api_token_create(user=alice, description="ci")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in str(stored)
    assert stored["prefix"] == key[:8] and stored["key_hash"] == services.token_hash(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {stored['key_hash']}")
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 401


def test_an_inactive_users_token_is_refused(alice, tuning_job):
    _, key = services.api_token_create(user=alice)
    alice.is_active = False
    alice.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 401


def test_the_command_prints_a_key_once_that_works(alice, tuning_job, capsys):
    call_command("create_api_token", "alice", "--description", "laptop")
    key = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(user=alice).description == "laptop"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 200


def test_staff_create_a_token_in_the_admin_and_see_its_key_once(admin_client, alice):
    response = admin_client.post(
        "/admin/jobs/apitoken/add/", {"user": alice.pk, "description": "notebook"}, follow=True
    )
    token = ApiToken.objects.get(user=alice)
    shown = [str(message) for message in response.context["messages"]]
    (key,) = [message.rsplit(" ", 1)[1] for message in shown if "shown only this once" in message]
    assert services.token_hash(key) == token.key_hash
    assert key not in admin_client.get(f"/admin/jobs/apitoken/{token.pk}/change/").content.decode()


def test_create_runs_the_service_and_returns_the_description(api, algorithm, team, no_tasks):
    response = api.post(f"{BASE}/tuning-jobs/", body(), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["name"], data["status"], data["team"], data["owner"]) == ("api-job", "InProgress", "vision", "alice")
    assert data["counters"] == {"Completed": 0, "InProgress": 0, "Stopped": 0, "Failed": 0}
    assert TuningJob.objects.get(name="api-job").random_seed == 3


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"max_parallel_training_jobs": 0}, "max_parallel_training_jobs", "between 1"),
        ({"max_training_jobs": "many"}, "max_training_jobs", "valid integer"),
        ({"algorithm": "nope"}, "algorithm", "No algorithm named 'nope'"),
        ({"team": "other"}, "team", "No team named 'other'"),
        ({"objective_metric_name": "loss"}, "objective_metric_name", "not one of the algorithm's metric"),
        ({"parameter_ranges": [{**LEARNING_RATE, "min_value": 2.0}]}, "parameter_ranges", "MinValue"),
        ({"parameter_ranges": [{"name": "x", "type": "Sideways"}]}, "parameter_ranges[0].type", "valid choice"),
        ({"strategy": "Hyperband", "early_stopping_type": "Auto"}, "early_stopping_type", "must be Off"),
        ({"name": "bad name!"}, "name", "letters, digits and hyphens"),
        ({"max_retry_attempts": 31}, "max_retry_attempts", "between 0 and 30"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(api, algorithm, team, no_tasks, overrides, field, fragment):
    response = api.post(f"{BASE}/tuning-jobs/", body(**overrides), format="json")
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert field in fields, fields
    assert fragment in " ".join(fields[field])
    assert not TuningJob.objects.filter(name="api-job").exists()


def test_a_range_the_algorithm_does_not_declare_is_a_400_at_parameter_ranges(api, team, no_tasks):
    register_algorithm(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)
    response = api.post(f"{BASE}/tuning-jobs/", body(parameter_ranges=[{**LEARNING_RATE, "name": "lr"}]), format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "parameter_ranges": [
            "lr is not a hyperparameter of this algorithm (its tunable ones: learning_rate, optimizer)."
        ]
    }
    assert not TuningJob.objects.exists()


def test_create_needs_a_json_object(api, algorithm):
    response = api.post(f"{BASE}/tuning-jobs/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = api.post(f"{BASE}/tuning-jobs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in error(response)["message"]


def test_a_viewer_cannot_create_or_stop(django_user_model, team, tuning_job, no_tasks):
    client = APIClient()
    client.force_authenticate(member(django_user_model, "carol", team, TeamRole.VIEWER))
    response = client.post(f"{BASE}/tuning-jobs/", body(), format="json")
    assert response.status_code == 400 and "operator" in error(response)["fields"]["team"][0]
    assert client.post(f"{BASE}/tuning-jobs/tj-1/stop/").status_code == 403
    assert client.get(f"{BASE}/tuning-jobs/tj-1/").status_code == 200


def test_other_teams_jobs_are_404(django_user_model, tuning_job):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("bob"))
    training_job = tuning_job.training_jobs.first()
    for url in (
        f"{BASE}/tuning-jobs/tj-1/",
        f"{BASE}/tuning-jobs/tj-1/training-jobs/",
        f"{BASE}/training-jobs/{training_job.name}/",
        f"{BASE}/training-jobs/{training_job.name}/metrics/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert error(response)["code"] == "not_found"
    assert client.post(f"{BASE}/tuning-jobs/tj-1/stop/").status_code == 404
    assert client.get(f"{BASE}/tuning-jobs/").json()["results"] == []


def test_another_teams_tuning_job_is_no_warm_start_parent(django_user_model, algorithm, team, no_tasks):
    """An operator of audio naming vision's ended job as a parent gets the answer a missing name gets."""
    parent = services.tuning_job_create(config=tuning_job_config(name="vision-done", team_name="vision"))
    services.tuning_job_stop(tuning_job_id=parent.id)
    services.tuning_job_advance(tuning_job_id=parent.id)
    client = APIClient()
    client.force_authenticate(member(django_user_model, "carol", Group.objects.create(name="audio")))

    def create_warm(parent_name: str):
        warm = body(name="audio-warm", team="audio", warm_start_type="TransferLearning",
                    warm_start_parents=[parent_name])  # fmt: skip
        return client.post(f"{BASE}/tuning-jobs/", warm, format="json")

    hidden, missing = create_warm("vision-done"), create_warm("no-such-job")
    assert hidden.status_code == missing.status_code == 400
    assert error(hidden)["fields"] == {"warm_start_parents": ["No tuning job named 'vision-done'."]}
    assert error(missing)["fields"] == {"warm_start_parents": ["No tuning job named 'no-such-job'."]}
    assert not TuningJob.objects.filter(name="audio-warm").exists()


def test_another_teams_name_is_no_team(django_user_model, algorithm, team, no_tasks):
    client = APIClient()
    client.force_authenticate(member(django_user_model, "carol", Group.objects.create(name="audio")))
    hidden = client.post(f"{BASE}/tuning-jobs/", body(team="vision"), format="json")
    missing = client.post(f"{BASE}/tuning-jobs/", body(team="nowhere"), format="json")
    assert error(hidden)["fields"] == {"team": ["No team named 'vision'."]}
    assert error(missing)["fields"] == {"team": ["No team named 'nowhere'."]}


def test_a_body_nested_too_deeply_is_a_400_and_creates_nothing(api, algorithm, team, no_tasks):
    for depth in (100, 100_000):
        nested = '{"name": "deep", "static_hyperparameters": ' + "[" * depth + "]" * depth + "}"
        response = api.post(f"{BASE}/tuning-jobs/", nested, content_type="application/json")
        assert response.status_code == 400, depth
        assert error(response)["message"] == "The JSON body nests more than 64 levels deep."
    assert not TuningJob.objects.exists()


def test_format_suffixes_are_no_routes(api, tuning_job, django_user_model):
    """`.json` after a route is a 404 (it was a TypeError, a 500), for the team and for others alike."""
    outsider = APIClient()
    outsider.force_authenticate(django_user_model.objects.create_user("bob"))
    training_job = tuning_job.training_jobs.first().name
    for client in (api, outsider):
        for url in (
            f"{BASE}/tuning-jobs/tj-1/training-jobs.json/",
            f"{BASE}/tuning-jobs/tj-1/training-jobs.json",
            f"{BASE}/tuning-jobs/tj-1.json/",
            f"{BASE}/tuning-jobs.json",
            f"{BASE}/training-jobs/{training_job}/metrics.json/",
        ):
            assert client.get(url).status_code == 404, url
    assert api.get(f"{BASE}/tuning-jobs/tj-1/training-jobs/").status_code == 200


def test_stopping_an_ended_job_is_a_409(api, tuning_job):
    assert api.post(f"{BASE}/training-jobs/tj-1-001/stop/").status_code == 409
    assert "tj-1-001 has ended (Completed)" in error(api.post(f"{BASE}/training-jobs/tj-1-001/stop/"))["message"]
    # Stopping, with tj-1-003 still to end: stopping again is harmless.
    assert api.post(f"{BASE}/tuning-jobs/tj-1/stop/").json()["status"] == "Stopping"
    assert api.post(f"{BASE}/tuning-jobs/tj-1/stop/").status_code == 200
    services.tuning_job_create(config=tuning_job_config(name="tj-2", team_name="vision"))
    assert api.post(f"{BASE}/tuning-jobs/tj-2/stop/").status_code == 200
    services.tuning_job_advance(tuning_job_id=TuningJob.objects.get(name="tj-2").id)
    response = api.post(f"{BASE}/tuning-jobs/tj-2/stop/")
    assert response.status_code == 409 and error(response)["code"] == "conflict"
    assert error(response)["message"] == "tj-2 has ended (Stopped); there is nothing to stop."


def test_retrieve_is_describe_like(api, tuning_job):
    data = api.get(f"{BASE}/tuning-jobs/tj-1/").json()
    assert data["counters"] == {"Completed": 2, "InProgress": 1, "Stopped": 0, "Failed": 0}
    assert data["best_training_job"]["name"] == "tj-1-002"
    assert data["best_training_job"]["final_objective_value"] == 0.9
    assert data["completion_details"]["number_of_training_jobs_objective_not_improving"] == 0
    assert data["consumed_runtime_seconds"] >= 0


def test_list_filters_and_orders(api, algorithm, team, no_tasks):
    for name in ("alpha", "beta", "gamma"):
        services.tuning_job_create(config=tuning_job_config(name=name, team_name="vision"))
    services.tuning_job_stop(tuning_job_id=TuningJob.objects.get(name="beta").id)
    names = lambda **params: [j["name"] for j in api.get(f"{BASE}/tuning-jobs/", params).json()["results"]]  # noqa: E731
    assert names(ordering="name") == ["alpha", "beta", "gamma"]
    assert names(status="Stopping") == ["beta"]
    assert names(name_contains="MM", ordering="name") == ["gamma"]
    assert names(created_after="2000-01-01T00:00:00Z", ordering="-name") == ["gamma", "beta", "alpha"]
    assert names(created_before="2000-01-01T00:00:00Z") == []
    for params, field in (({"status": "Done"}, "status"), ({"ordering": "sideways"}, "ordering"),
                          ({"created_after": "yesterday"}, "created_after")):  # fmt: skip
        response = api.get(f"{BASE}/tuning-jobs/", params)
        assert response.status_code == 400 and field in error(response)["fields"]


def test_training_jobs_sorted_as_sagemaker_sorts_them(api, tuning_job):
    url = f"{BASE}/tuning-jobs/tj-1/training-jobs/"
    names = lambda **params: [j["name"] for j in api.get(url, params).json()["results"]]  # noqa: E731
    assert names(sort_by="FinalObjectiveMetricValue", sort_order="Descending") == ["tj-1-002", "tj-1-001"]
    assert names(sort_by="FinalObjectiveMetricValue", sort_order="Ascending") == ["tj-1-001", "tj-1-002"]
    assert names(sort_by="Name", sort_order="Ascending") == ["tj-1-001", "tj-1-002", "tj-1-003"]
    assert names(status_equals="InProgress") == ["tj-1-003"]
    page = api.get(url, {"sort_by": "Name", "sort_order": "Ascending", "page_size": 2}).json()
    assert (page["count"], len(page["results"]), page["next"] is not None) == (3, 2, True)
    assert api.get(url, {"sort_by": "Bogus"}).status_code == 400


def test_training_job_metrics_and_stop(api, tuning_job, no_tasks):
    metrics = api.get(f"{BASE}/training-jobs/tj-1-001/metrics/").json()["metrics"]
    assert [s["value"] for s in metrics["validation:accuracy"]] == [0.3, 0.5]
    since = api.get(f"{BASE}/training-jobs/tj-1-001/metrics/", {"since_epoch": 1, "metric": "validation:accuracy"})
    assert [s["epoch"] for s in since.json()["metrics"]["validation:accuracy"]] == [2]
    assert api.get(f"{BASE}/training-jobs/tj-1-001/metrics/", {"since_epoch": "x"}).status_code == 400
    response = api.post(f"{BASE}/training-jobs/tj-1-003/stop/")
    assert response.status_code == 200 and response.json()["status"] == "Stopping"


def test_algorithms_are_read_by_all_and_written_by_staff(api, algorithm, django_user_model):
    assert [a["name"] for a in api.get(f"{BASE}/algorithms/").json()["results"]] == ["quadratic"]
    new = {"name": "new-algo", "command": ["/bin/true"], "metric_definitions": [{"Name": "m", "Regex": "m=(\\S+)"}]}
    assert api.post(f"{BASE}/algorithms/", new, format="json").status_code == 403
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_superuser("root", "", None))
    assert staff.post(f"{BASE}/algorithms/", new, format="json").status_code == 201
    bad = {**new, "name": "bad-algo", "metric_definitions": [{"Name": "m", "Regex": "m=("}]}
    response = staff.post(f"{BASE}/algorithms/", bad, format="json")
    assert response.status_code == 400 and "metric_definitions" in error(response)["fields"]


def staff_with(django_user_model, name, *codenames):
    """A staff user holding only the given jobs permissions: staff status alone grants nothing here."""
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


NEW_ALGORITHM = {
    "name": "new-algo",
    "command": ["/bin/true"],
    "metric_definitions": [{"Name": "m", "Regex": "m=(\\S+)"}],
}


def test_staff_status_alone_may_not_register_or_change_an_algorithm(algorithm, django_user_model):
    staff = staff_with(django_user_model, "stan")
    assert staff.post(f"{BASE}/algorithms/", NEW_ALGORITHM, format="json").status_code == 403
    changed = {**NEW_ALGORITHM, "name": "quadratic", "command": ["/bin/sh", "-c", "id"]}
    assert staff.put(f"{BASE}/algorithms/quadratic/", changed, format="json").status_code == 403
    assert staff.patch(f"{BASE}/algorithms/quadratic/", {"backend": "external"}, format="json").status_code == 403
    assert Algorithm.objects.get(name="quadratic").command == algorithm.command
    assert not Algorithm.objects.filter(name="new-algo").exists()


def test_the_add_and_change_permissions_register_and_change_algorithms(algorithm, django_user_model):
    adder = staff_with(django_user_model, "ada", "add_algorithm")
    assert adder.post(f"{BASE}/algorithms/", NEW_ALGORITHM, format="json").status_code == 201
    assert adder.patch(f"{BASE}/algorithms/new-algo/", {"description": "x"}, format="json").status_code == 403
    changer = staff_with(django_user_model, "cid", "change_algorithm")
    response = changer.patch(f"{BASE}/algorithms/new-algo/", {"command": ["/bin/false"]}, format="json")
    assert response.status_code == 200 and response.json()["command"] == ["/bin/false"]
    assert Algorithm.objects.get(name="new-algo").command == ["/bin/false"]


def test_an_algorithm_a_running_tuning_job_uses_cannot_change(algorithm, team, django_user_model, no_tasks):
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision"))
    changer = staff_with(django_user_model, "cid", "change_algorithm")
    response = changer.patch(f"{BASE}/algorithms/quadratic/", {"command": ["/bin/sh", "-c", "id"]}, format="json")
    assert response.status_code == 400
    message = error(response)["fields"]["name"][0]
    assert "tj-1" in message and "command" in message and "register a new version" in message
    assert Algorithm.objects.get(name="quadratic").command == algorithm.command
    # Its description may change; once the tuning job has ended, so may the rest.
    assert changer.patch(f"{BASE}/algorithms/quadratic/", {"description": "v1"}, format="json").status_code == 200
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    response = changer.patch(f"{BASE}/algorithms/quadratic/", {"command": ["/bin/true"]}, format="json")
    assert response.status_code == 200


def test_the_command_is_shown_only_to_those_who_may_change_algorithms(algorithm, django_user_model):
    nobody = APIClient()
    nobody.force_authenticate(django_user_model.objects.create_user("nobody"))
    for response in (nobody.get(f"{BASE}/algorithms/"), nobody.get(f"{BASE}/algorithms/quadratic/")):
        assert response.status_code == 200
        assert "command" not in str(response.json()) and algorithm.command[0] not in str(response.json())
    changer = staff_with(django_user_model, "cid", "change_algorithm")
    assert changer.get(f"{BASE}/algorithms/quadratic/").json()["command"] == algorithm.command


def test_an_algorithm_whose_regex_re2_cannot_run_is_refused_on_create_and_update(api, django_user_model):
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_superuser("root", "", None))
    good = {"Name": "m", "Regex": "m=(\\S+)"}
    backtracking = {"Name": "n", "Regex": "n=(\\d)\\1"}
    algorithm = {"name": "re2-algo", "command": ["/bin/true"], "metric_definitions": [good, backtracking]}

    created = staff.post(f"{BASE}/algorithms/", algorithm, format="json")
    assert created.status_code == 400
    assert error(created)["fields"]["metric_definitions"][0].startswith("MetricDefinitions[1].Regex: metric 'n'")
    fixed = {**algorithm, "metric_definitions": [good]}
    assert staff.post(f"{BASE}/algorithms/", fixed, format="json").status_code == 201
    updated = staff.patch(f"{BASE}/algorithms/re2-algo/", {"metric_definitions": [good, backtracking]}, format="json")
    assert updated.status_code == 400
    assert "MetricDefinitions[1].Regex" in error(updated)["fields"]["metric_definitions"][0]


def test_the_openapi_schema_is_valid(tmp_path, client):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/tuning-jobs/{name}/training-jobs/" in (tmp_path / "schema.yml").read_text()


def test_the_schema_declares_the_error_shape_where_errors_occur(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    error = {"$ref": "#/components/schemas/Error"}
    paths = schema["paths"]
    assert paths["/api/v1/tuning-jobs/"]["post"]["responses"]["400"]["content"]["application/json"]["schema"] == error
    assert "404" in paths["/api/v1/tuning-jobs/{name}/"]["get"]["responses"]
    metrics = paths["/api/v1/trainer/{name}/metrics/"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "415", "429"} <= set(metrics)
    assert "413" not in paths["/api/v1/tuning-jobs/"]["get"]["responses"]


def test_swagger_ui_is_served_without_a_cdn(api):
    page = api.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in page
    assert "cdn" not in page.lower()


def test_analytics_as_json_and_csv(api, tuning_job):
    data = api.get(f"{BASE}/tuning-jobs/tj-1/analytics/").json()
    assert data["columns"][:2] == ["learning_rate", "optimizer"]
    assert {"TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingElapsedTimeSeconds"} <= set(
        data["columns"]
    )
    by_name = {row["TrainingJobName"]: row for row in data["rows"]}
    assert by_name["tj-1-002"]["FinalObjectiveValue"] == 0.9
    csv = api.get(f"{BASE}/tuning-jobs/tj-1/analytics/", {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0].split(",")[:2] == ["learning_rate", "optimizer"] and len(lines) == 4
    by_accept = api.get(f"{BASE}/tuning-jobs/tj-1/analytics/", HTTP_ACCEPT="text/csv")
    assert by_accept.content.decode().splitlines() == lines


def test_list_endpoints_take_a_fixed_number_of_queries(
    api, algorithm, team, no_tasks, django_assert_num_queries, django_user_model
):
    """No N+1: a page costs the same queries with 1 tuning job as with 6, and with 3 training jobs as with 8."""

    def fill(tuning_jobs: int, training_jobs: int) -> None:
        TuningJob.objects.all().delete()
        for index in range(tuning_jobs):
            config = tuning_job_config(name=f"q-{index}", team_name="vision", max_training_jobs=training_jobs,
                                       max_parallel_training_jobs=training_jobs)  # fmt: skip
            tuning_job = services.tuning_job_create(config=config)
            play(services.tuning_job_advance(tuning_job_id=tuning_job.id)[0], [0.5])

    for tuning_jobs, training_jobs in ((1, 3), (6, 8)):
        fill(tuning_jobs, training_jobs)
        with django_assert_num_queries(2):  # count, page (with algorithm and best training job joined)
            assert len(api.get(f"{BASE}/tuning-jobs/").json()["results"]) == tuning_jobs
        with django_assert_num_queries(3):  # the tuning job, count, page
            page = api.get(f"{BASE}/tuning-jobs/q-0/training-jobs/").json()["results"]
            assert len(page) == training_jobs
        # A fresh user object, as each real request loads: its permissions are not cached yet.
        api.force_authenticate(django_user_model.objects.get(username="alice"))
        with django_assert_num_queries(4):  # count, page, the reader's own and group permissions (once)
            assert len(api.get(f"{BASE}/algorithms/").json()["results"]) == 1


def test_training_job_json_is_what_drf_would_write(tuning_job):
    """The hand-written representation of a training job matches DRF's field by field."""
    TrainingJob.objects.filter(name="tj-1-001").update(final_objective_value=float("nan"))
    for training_job in TrainingJob.objects.select_related("tuning_job"):
        serializer = serializers.TrainingJobSerializer(training_job)
        assert serializer.data == ModelSerializer.to_representation(serializer, training_job)


def test_input_postgresql_cannot_take_is_a_400_not_a_500(api, tuning_job, django_user_model):
    """Cases schemathesis found: NUL characters, far time-zone offsets, null JSON fields."""
    response = api.get(f"{BASE}/tuning-jobs/", {"name_contains": "a\x00b"})
    assert response.status_code == 400 and "name_contains" in error(response)["fields"]
    assert api.get(f"{BASE}/tuning-jobs/a%00b/").status_code == 400
    # PostgreSQL refuses offsets beyond 15:59, Python allows them: the time is converted to UTC first.
    response = api.get(f"{BASE}/tuning-jobs/", {"created_after": "2000-01-01T00:00:00+19:36"})
    assert response.status_code == 200 and response.json()["count"] == 1
    response = api.get(f"{BASE}/tuning-jobs/", {"created_before": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 400 and "created_before" in error(response)["fields"]
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_superuser("root", "", None))
    response = staff.patch(f"{BASE}/algorithms/quadratic/", {"command": None}, format="json")
    assert response.status_code == 400 and "command" in error(response)["fields"]
    response = staff.post(f"{BASE}/algorithms/", {"name": "no-command", "metric_definitions": []}, format="json")
    assert response.status_code == 400 and "command" in error(response)["fields"]


def test_an_algorithm_names_the_variables_its_programs_receive(api, django_user_model):
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_superuser("root", "", None))
    algorithm = {"name": "env-algo", "command": ["/bin/true"], "metric_definitions": [{"Name": "m", "Regex": "m=(.)"}]}

    assert staff.post(f"{BASE}/algorithms/", algorithm, format="json").json()["environment_passthrough"] == []
    updated = staff.patch(f"{BASE}/algorithms/env-algo/", {"environment_passthrough": ["WANDB_API_KEY"]}, format="json")
    assert updated.status_code == 200
    assert api.get(f"{BASE}/algorithms/env-algo/").json()["environment_passthrough"] == ["WANDB_API_KEY"]
    refused = staff.patch(f"{BASE}/algorithms/env-algo/", {"environment_passthrough": ["NO-DASH"]}, format="json")
    assert refused.status_code == 400
    assert error(refused)["fields"]["environment_passthrough"][0].startswith("[0] 'NO-DASH'")


def test_create_beyond_the_teams_limit_is_a_400_naming_the_limit(api, algorithm, team, no_tasks, settings):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = 1
    assert api.post(f"{BASE}/tuning-jobs/", body(name="first"), format="json").status_code == 201
    response = api.post(f"{BASE}/tuning-jobs/", body(name="second"), format="json")
    assert response.status_code == 400
    (message,) = error(response)["fields"]["team"]
    assert "'Number of concurrent hyperparameter tuning jobs' is 1 Jobs, with current utilization of 1 Jobs" in message
    assert not TuningJob.objects.filter(name="second").exists()


def test_staff_set_and_change_an_algorithms_image_uri_aliases(api, algorithm, django_user_model):
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_superuser("root", "", None))
    alias = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    new = {"name": "boosted", "command": ["/bin/true"], "metric_definitions": [{"Name": "m", "Regex": "m=(\\S+)"}]}
    created = staff.post(f"{BASE}/algorithms/", {**new, "image_uri_aliases": [alias]}, format="json")
    assert created.status_code == 201 and created.json()["image_uri_aliases"] == [alias]
    assert staff.patch(f"{BASE}/algorithms/boosted/", {"description": "x"}, format="json").status_code == 200
    assert staff.get(f"{BASE}/algorithms/boosted/").json()["image_uri_aliases"] == [alias]  # kept
    taken = staff.patch(f"{BASE}/algorithms/quadratic/", {"image_uri_aliases": [alias]}, format="json")
    assert taken.status_code == 400
    assert error(taken)["fields"]["image_uri_aliases"] == [f"{alias} already names algorithm boosted."]
    cleared = staff.patch(f"{BASE}/algorithms/boosted/", {"image_uri_aliases": []}, format="json")
    assert cleared.status_code == 200 and cleared.json()["image_uri_aliases"] == []
