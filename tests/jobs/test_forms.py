"""The create-tuning-job form: it creates through the service layer, and puts every error next to its field.

The rules themselves are tested in test_config.py; here, that each one a user
can break reaches the right place on the page, and that nothing is stored
when any is broken.
"""

import html
import re
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError
from django.urls import reverse

from jobs import services
from jobs.config import TuningJobConfig
from jobs.forms import ParameterRangeForm, TuningJobCreationForm
from jobs.models import Algorithm, TeamMember, TeamRole, TuningJob
from jobs.tuning.strategies import STRATEGIES
from tests.jobs.factories import SUPPORTED_HYPERPARAMETERS, register_algorithm, tuning_job_config

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

URL = reverse("tuning-job-create")
LEARNING_RATE = {"name": "learning_rate", "type": "Continuous", "min_value": "0.0001", "max_value": "1",
                 "scaling_type": "Logarithmic"}  # fmt: skip
OPTIMIZER = {"name": "optimizer", "type": "Categorical", "values": "sgd, adam"}
DEPTH = {"name": "depth", "type": "Integer", "min_value": "1", "max_value": "8", "scaling_type": "Linear"}


@pytest.fixture
def alice(django_user_model):
    """An operator of vision and a viewer of audio."""
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=Group.objects.create(name="vision"), user=user, role=TeamRole.OPERATOR)
    TeamMember.objects.create(team=Group.objects.create(name="audio"), user=user, role=TeamRole.VIEWER)
    return user


@pytest.fixture
def alice_client(client, alice):
    register_algorithm(static_hyperparameters={"epochs": "10"})
    register_algorithm(name="other", metrics=("loss",))
    client.force_login(alice)
    return client


def rows(prefix: str, items: list[dict]) -> dict:
    """The POST fields of a formset: the management form and each row's fields."""
    data = {f"{prefix}-TOTAL_FORMS": str(len(items)), f"{prefix}-INITIAL_FORMS": "0"}
    for index, item in enumerate(items):
        data.update({f"{prefix}-{index}-{key}": value for key, value in item.items()})
    return data


def form_data(ranges=None, statics=None, **fields) -> dict:
    data = {
        "name": "tj-new",
        "algorithm_name": "quadratic",
        "objective_metric_name": "validation:accuracy",
        "objective_type": "Maximize",
        "strategy": "Random",
        "team_name": "vision",
        "max_training_jobs": "4",
        "max_parallel_training_jobs": "2",
        "early_stopping_type": "Off",
        "random_seed": "7",
    }
    data.update(rows("ranges", [LEARNING_RATE, OPTIMIZER] if ranges is None else ranges))
    data.update(rows("statics", statics or []))
    data.update(fields)
    return data


def errors_at(response, field_id: str) -> list[str]:
    """The messages of the error list rendered for the field with this id."""
    match = re.search(rf'<ul class="errorlist" id="{re.escape(field_id)}_error">(.*?)</ul>', response.content.decode())
    assert match, f"no errors shown at {field_id}"
    return [html.unescape(message) for message in re.findall(r"<li>(.*?)</li>", match.group(1))]


def block(response, testid: str) -> str:
    """The text of a fieldset of the form, found by its data-testid."""
    content = response.content.decode()
    start = content.index(f'data-testid="{testid}"')
    return html.unescape(content[start : content.index("</fieldset>", start)])


# --- rendering ------------------------------------------------------------------------------


def test_the_form_offers_the_users_teams_the_implemented_strategies_and_the_algorithms_metrics(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 200
    form = response.context["creation"].form
    assert [value for value, _ in form.fields["team_name"].choices] == ["vision"]  # not audio, where she views
    assert [value for value, _ in form.fields["strategy"].choices] == [
        s for s in ("Bayesian", "Random", "Grid", "Hyperband") if s in STRATEGIES
    ]
    assert response.context["algorithms"]["quadratic"]["metrics"] == ["validation:accuracy"]
    assert response.context["algorithms"]["other"]["metrics"] == ["loss"]
    content = response.content.decode()
    assert 'id="algorithms"' in content  # the catalog, for the script
    assert 'name="ranges-TOTAL_FORMS"' in content and 'name="statics-TOTAL_FORMS"' in content
    assert "ranges-__prefix__-name" in content  # the template row the script copies


def test_the_form_starts_from_the_first_algorithm_s_own_objective(client, alice):
    """Not its first metric with Maximize: accepting the defaults must not maximize a training loss."""
    register_algorithm(name="boost", metrics=("train:loss", "validation:loss"), objective_metric_name="validation:loss",
                       objective_type="Minimize")  # fmt: skip
    client.force_login(alice)
    response = client.get(URL)
    form = response.context["creation"].form
    assert (form["objective_metric_name"].value(), form["objective_type"].value()) == ("validation:loss", "Minimize")
    assert response.context["algorithms"]["boost"]["objective"] == ["validation:loss", "Minimize"]
    content = response.content.decode()
    assert '<option value="validation:loss" selected>validation:loss</option>' in content


# --- success --------------------------------------------------------------------------------


def test_a_valid_form_creates_the_tuning_job_through_the_services_and_redirects(
    alice_client, alice, django_capture_on_commit_callbacks
):
    data = form_data(ranges=[LEARNING_RATE, OPTIMIZER, DEPTH], statics=[{"name": "epochs", "value": "3"}])
    with (
        django_capture_on_commit_callbacks(execute=False) as after_commit,
        mock.patch.object(services, "tuning_job_create", wraps=services.tuning_job_create) as create,
    ):
        response = alice_client.post(URL, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("tuning-job-detail", args=["tj-new"])
    ((_, kwargs),) = create.call_args_list
    assert isinstance(kwargs["config"], TuningJobConfig) and kwargs["owner"] == alice

    tuning_job = TuningJob.objects.get(name="tj-new")
    assert (tuning_job.owner, tuning_job.team.name, tuning_job.strategy) == (alice, "vision", "Random")
    assert tuning_job.parameter_ranges == [
        {"name": "learning_rate", "type": "Continuous", "min_value": 1e-4, "max_value": 1.0,
         "scaling_type": "Logarithmic"},
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam"]},
        {"name": "depth", "type": "Integer", "min_value": 1, "max_value": 8, "scaling_type": "Linear"},
    ]  # fmt: skip
    assert tuning_job.static_hyperparameters == {"epochs": "3"}
    assert (tuning_job.max_training_jobs, tuning_job.max_parallel_training_jobs, tuning_job.random_seed) == (4, 2, 7)
    assert after_commit  # the event and advance_tuning_job, sent after commit
    assert b"Tuning job tj-new created." in alice_client.get(response["Location"]).content


def test_removed_and_blank_rows_are_ignored(alice_client, no_tasks):
    removed = {**LEARNING_RATE, "name": "gone", "min_value": "5", "DELETE": "on"}  # invalid, but removed
    blank = {"name": "", "type": "Continuous", "min_value": "", "max_value": "", "scaling_type": "Auto", "values": ""}
    data = form_data(ranges=[removed, LEARNING_RATE, blank], statics=[{"name": "", "value": ""}])
    response = alice_client.post(URL, data)
    assert response.status_code == 302
    assert [r["name"] for r in TuningJob.objects.get(name="tj-new").parameter_ranges] == ["learning_rate"]


def test_staff_may_create_a_tuning_job_without_a_team(client, django_user_model, no_tasks):
    register_algorithm()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", None))
    response = client.post(URL, form_data(team_name=""))
    assert response.status_code == 302
    assert TuningJob.objects.get(name="tj-new").team is None


# --- every error at its field, nothing stored ---------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field_id", "expected"),
    [
        ({"name": "-bad-"}, "id_name", "Use 1 to 32 letters, digits and hyphens"),
        ({"name": "x" * 33}, "id_name", "Use 1 to 32 letters"),
        ({"max_parallel_training_jobs": "0"}, "id_max_parallel_training_jobs", "Must be between 1 and 100 (got 0)"),
        ({"max_training_jobs": "many"}, "id_max_training_jobs", "Enter a whole number."),
        ({"max_runtime_seconds": "0"}, "id_max_runtime_seconds", "Must be between 1 and"),
        ({"max_retry_attempts": "31"}, "id_max_retry_attempts", "Must be between 0 and 30 (got 31)"),
        ({"objective_metric_name": "loss"}, "id_objective_metric_name",
         "'loss' is not one of the algorithm's metric definitions (validation:accuracy)"),
        ({"strategy": "Hyperband", "early_stopping_type": "Auto"}, "id_early_stopping_type",
         "Hyperband stops training jobs itself: early stopping type must be Off."),
        ({"team_name": "audio"}, "id_team_name", "Select a valid choice."),
        ({"team_name": ""}, "id_team_name", "This field is required."),
        ({"ranges-0-min_value": "1", "ranges-0-max_value": "0.5"}, "id_ranges-0-min_value",
         "learning_rate: MinValue must be less than MaxValue (got 1.0 >= 0.5)"),
        ({"ranges-0-min_value": "0"}, "id_ranges-0-min_value",
         "learning_rate: Logarithmic scaling needs MinValue > 0 (got 0.0)"),
        ({"ranges-0-max_value": "lots"}, "id_ranges-0-max_value", "learning_rate: MaxValue must be a finite number"),
        ({"ranges-0-min_value": ""}, "id_ranges-0-min_value", "learning_rate: MinValue is required"),
        ({"ranges-0-name": "learning rate"}, "id_ranges-0-name", "Name may contain only letters, digits"),
        ({"ranges-1-values": " , "}, "id_ranges-1-values", "optimizer: Values is required"),
        ({"ranges-1-values": "sgd, sgd"}, "id_ranges-1-values", "optimizer: Values must not repeat"),
    ],
)  # fmt: skip
def test_each_error_is_shown_at_its_field_and_nothing_is_stored(alice_client, changes, field_id, expected):
    response = alice_client.post(URL, form_data(**changes))
    assert response.status_code == 200
    messages = errors_at(response, field_id)
    assert any(expected in message for message in messages), messages
    assert 'data-testid="error-summary"' in response.content.decode()
    assert not TuningJob.objects.exists()


def test_only_the_broken_field_has_an_error(alice_client):
    response = alice_client.post(URL, form_data(max_parallel_training_jobs="0"))
    creation = response.context["creation"]
    assert list(creation.form.errors) == ["max_parallel_training_jobs"]
    assert not any(creation.ranges.errors) and not creation.range_errors


def test_a_duplicate_name_is_shown_at_the_name(alice_client, no_tasks):
    services.tuning_job_create(config=tuning_job_config(name="tj-new", team_name="vision"))
    response = alice_client.post(URL, form_data())
    assert errors_at(response, "id_name") == ["A tuning job named 'tj-new' already exists."]
    assert TuningJob.objects.count() == 1


def test_a_team_at_its_limit_is_shown_at_the_team(alice_client, no_tasks, settings):
    settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = 3
    running = services.tuning_job_create(config=tuning_job_config(name="running", team_name="vision"))
    services.tuning_job_advance(tuning_job_id=running.id)
    response = alice_client.post(URL, form_data())
    (message,) = errors_at(response, "id_team_name")
    assert "'Number of concurrent training jobs' is 3 Jobs, with current utilization of 2 Jobs" in message
    assert "request delta of 2 Jobs" in message
    assert not TuningJob.objects.filter(name="tj-new").exists()


def test_a_name_taken_between_the_check_and_the_insert_is_shown_at_the_name(alice_client):
    with mock.patch.object(services, "tuning_job_create", side_effect=IntegrityError("UNIQUE")):
        response = alice_client.post(URL, form_data())
    assert errors_at(response, "id_name") == ["A tuning job named 'tj-new' already exists."]


def test_errors_of_the_other_fields_show_even_while_a_row_is_wrong(alice_client):
    data = form_data(name="-bad-", max_parallel_training_jobs="0", **{"ranges-0-min_value": "2"})
    response = alice_client.post(URL, data)
    assert errors_at(response, "id_name")
    assert errors_at(response, "id_max_parallel_training_jobs")
    assert errors_at(response, "id_ranges-0-min_value")
    assert not TuningJob.objects.exists()


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        ([LEARNING_RATE, {**LEARNING_RATE, "min_value": "0.01"}], "learning_rate is given twice."),
        ([], "a search space needs at least one parameter range"),
    ],
)
def test_whole_space_errors_are_shown_at_the_ranges_block(alice_client, ranges, expected):
    response = alice_client.post(URL, form_data(ranges=ranges))
    assert expected in block(response, "parameter-ranges")
    assert 'data-testid="range-errors"' in response.content.decode()
    assert not TuningJob.objects.exists()


def test_an_empty_form_says_at_once_that_it_has_no_range(alice_client):
    # Every other field wrong too: the missing range used to show only on the next submit.
    response = alice_client.post(URL, form_data(ranges=[], name="", max_training_jobs=""))
    assert errors_at(response, "id_name")
    assert "a search space needs at least one parameter range" in block(response, "parameter-ranges")
    assert not TuningJob.objects.exists()


@pytest.mark.skipif("Grid" not in STRATEGIES, reason="Grid search is not installed")
def test_a_range_the_strategy_cannot_search_is_shown_in_the_ranges_block_naming_it(alice_client):
    response = alice_client.post(URL, form_data(strategy="Grid"))
    text = block(response, "parameter-ranges")
    assert "learning_rate: Grid search needs Categorical or Integer ranges" in text
    assert not TuningJob.objects.exists()


def test_a_static_hyperparameter_that_is_also_tuned_is_shown_at_its_row(alice_client):
    response = alice_client.post(URL, form_data(statics=[{"name": "learning_rate", "value": "0.1"}]))
    assert "learning_rate is tuned, so it cannot also be static." in block(response, "static-hyperparameters")
    assert not TuningJob.objects.exists()


def test_a_range_the_algorithm_does_not_declare_is_shown_at_its_row(alice_client):
    Algorithm.objects.filter(name="quadratic").update(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)
    response = alice_client.post(URL, form_data(ranges=[LEARNING_RATE, {**OPTIMIZER, "name": "optimiser"}]))
    text = block(response, "parameter-ranges")
    assert "optimiser is not a hyperparameter of this algorithm (its tunable ones: learning_rate, optimizer)." in text
    assert not TuningJob.objects.exists()
    # The form lists what the algorithm takes, for the range names and the hint.
    declared = response.context["algorithms"]["quadratic"]["hyperparameters"]
    assert declared[:2] == [
        {"name": "learning_rate", "tunable": True, "valid": "Continuous, 1e-05 to 1"},
        {"name": "optimizer", "tunable": True, "valid": "Categorical: sgd, adam, rmsprop"},
    ]


def test_a_static_hyperparameter_named_twice_is_an_error_of_the_block(alice_client):
    statics = [{"name": "epochs", "value": "1"}, {"name": "epochs", "value": "2"}]
    response = alice_client.post(URL, form_data(statics=statics))
    assert "epochs is given twice." in block(response, "static-hyperparameters")
    assert not TuningJob.objects.exists()


def test_hyperband_without_a_max_resource_says_so_at_that_field(alice_client, no_tasks):
    register_algorithm(name="no-epochs", static_hyperparameters={})
    response = alice_client.post(URL, form_data(strategy="Hyperband", algorithm_name="no-epochs"))
    assert "Give MaxResource" in errors_at(response, "id_hyperband_max_resource")[0]
    # With the algorithm's static epochs it is inferred.
    assert alice_client.post(URL, form_data(strategy="Hyperband")).status_code == 302


# --- the row form alone ------------------------------------------------------------------------


def test_a_categorical_row_reads_its_values_from_a_comma_separated_list():
    form = ParameterRangeForm({"name": "opt", "type": "Categorical", "values": " sgd,adam , ,rmsprop"})
    assert form.is_valid(), form.errors
    assert ParameterRangeForm.as_range(form.cleaned_data) == {
        "name": "opt",
        "type": "Categorical",
        "values": ["sgd", "adam", "rmsprop"],
    }


def test_a_numeric_row_ignores_values_and_defaults_its_scaling():
    form = ParameterRangeForm({"name": "x", "type": "Integer", "min_value": " 1 ", "max_value": "3", "values": "a"})
    assert form.is_valid(), form.errors
    assert ParameterRangeForm.as_range(form.cleaned_data) == {
        "name": "x",
        "type": "Integer",
        "min_value": "1",
        "max_value": "3",
        "scaling_type": "Auto",
    }


def test_an_integer_row_with_a_fractional_bound_is_refused_at_that_bound():
    form = ParameterRangeForm({"name": "x", "type": "Integer", "min_value": "1.5", "max_value": "3"})
    assert not form.is_valid()
    assert "whole number" in form.errors["min_value"][0]


def test_the_config_is_built_from_the_fields_and_the_kept_rows(alice):
    register_algorithm()
    creation = TuningJobCreationForm(form_data(statics=[{"name": "epochs", "value": "3"}]), user=alice)
    assert creation.is_valid()
    config = creation.config()
    assert (config.name, config.team_name, config.max_training_jobs, config.random_seed) == ("tj-new", "vision", 4, 7)
    assert [r["name"] for r in config.parameter_ranges] == ["learning_rate", "optimizer"]
    assert config.static_hyperparameters == {"epochs": "3"}
    assert config.max_runtime_seconds is None and config.complete_on_convergence is False


# --- clone and warm start ----------------------------------------------------------------------


@pytest.fixture
def ended(alice_client, no_tasks):
    """ "seed-off": a vision tuning job that has ended (stopped), with a log range, a categorical and a static."""
    config = tuning_job_config(
        name="seed-off",
        team_name="vision",
        strategy="Random",
        early_stopping_type="Auto",
        max_training_jobs=6,
        static_hyperparameters={"epochs": "3"},
    )
    tuning_job = services.tuning_job_create(config=config)
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    tuning_job.refresh_from_db()
    assert not tuning_job.is_active
    return tuning_job


def test_clone_fills_the_form_with_the_tuning_jobs_configuration(alice_client, ended):
    detail = alice_client.get(reverse("tuning-job-detail", args=["seed-off"])).content.decode()
    assert f'href="{URL}?clone=seed-off"' in detail and f'href="{URL}?warm_start=seed-off"' in detail
    response = alice_client.get(URL, {"clone": "seed-off"})
    creation = response.context["creation"]
    initial = creation.form.initial
    assert (initial["algorithm_name"], initial["team_name"], initial["early_stopping_type"]) == (
        "quadratic", "vision", "Auto",
    )  # fmt: skip
    assert (initial["max_training_jobs"], initial["strategy"], initial["warm_start_type"]) == (6, "Random", "")
    assert "name" not in initial  # a clone needs a name of its own
    assert creation.ranges.initial == [
        {"name": "learning_rate", "type": "Continuous", "min_value": "0.0001", "max_value": "1.0",
         "scaling_type": "Logarithmic"},
        {"name": "optimizer", "type": "Categorical", "values": "sgd, adam"},
    ]  # fmt: skip
    assert creation.statics.initial == [{"name": "epochs", "value": "3"}]
    content = response.content.decode()
    assert 'data-testid="cloned-from"' in content and 'value="sgd, adam"' in content


def test_warm_start_from_the_page_creates_a_child_of_the_ended_job(alice_client, ended):
    initial = alice_client.get(URL, {"warm_start": "seed-off"}).context["creation"].form.initial
    assert (initial["warm_start_type"], initial["warm_start_parents"]) == ("IdenticalDataAndAlgorithm", "seed-off")
    data = form_data(name="seed-warm", warm_start_type="IdenticalDataAndAlgorithm", warm_start_parents=" seed-off ")
    response = alice_client.post(URL, data)
    assert response.status_code == 302
    child = TuningJob.objects.get(name="seed-warm")
    assert child.warm_start_type == "IdenticalDataAndAlgorithm"
    assert list(child.warm_start_parents.values_list("name", flat=True)) == ["seed-off"]


def test_a_warm_start_error_is_shown_at_its_field(alice_client, ended):
    data = form_data(name="seed-warm", warm_start_type="TransferLearning", warm_start_parents="nope")
    response = alice_client.post(URL, data)
    assert errors_at(response, "id_warm_start_parents") == ["No tuning job named 'nope'."]
    assert not TuningJob.objects.filter(name="seed-warm").exists()


def test_cloning_a_tuning_job_the_user_may_not_see_is_a_404(alice_client, client, django_user_model, ended):
    assert alice_client.get(URL, {"clone": "nope"}).status_code == 404
    bob = django_user_model.objects.create_user("bob")
    TeamMember.objects.create(team=Group.objects.create(name="speech"), user=bob, role=TeamRole.OPERATOR)
    client.force_login(bob)
    assert client.get(URL, {"clone": "seed-off"}).status_code == 404
    assert client.get(URL, {"warm_start": "seed-off"}).status_code == 404
