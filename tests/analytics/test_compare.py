"""Compare: the seed's Off vs Auto experiment on one page."""

from datetime import timedelta

import pytest
from django.urls import reverse

from analytics import compare
from tests.analytics.conftest import T0
from tests.analytics.helpers import completed, stopped_early

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

COMPARE = reverse("tuning-jobs-compare")


@pytest.fixture
def off_and_auto(build):
    """The seed's pair, small: the same 4 training jobs, 2 in parallel at a time.

    off:  4 Completed of 100 s                 -> 400 s of training, ends at 200 s
    auto: 2 Completed of 100 s, 2 stopped at 40 s -> 280 s of training (30% less), ends at 140 s
    """
    off = build(
        "off",
        [completed(0, 100, [0.6, 0.9]), completed(0, 100, [0.5, 0.7]),
         completed(100, 200, [0.3, 0.4]), completed(100, 200, [0.2, 0.3])],
    )  # fmt: skip
    auto = build(
        "auto",
        [completed(0, 100, [0.6, 0.88]), completed(0, 100, [0.5, 0.7]),
         stopped_early(100, 140, [0.3]), stopped_early(100, 140, [0.2])],
        early_stopping_type="Auto",
    )  # fmt: skip
    return off, auto


def test_off_vs_auto_savings_counts_and_best(alice_client, off_and_auto):
    response = alice_client.get(COMPARE, {"jobs": ["off", "auto"]})
    assert response.status_code == 200
    off, auto = response.context["summaries"]
    assert (off.tuning_job.name, auto.tuning_job.name) == ("off", "auto")
    assert (off.total_training_seconds, auto.total_training_seconds) == (400.0, 280.0)
    assert (off.wall_seconds, auto.wall_seconds) == (201.0, 141.0)
    assert auto.training_time_saved_percent == pytest.approx(30.0)
    assert auto.wall_time_saved_percent == pytest.approx(60 / 201 * 100)
    assert off.training_time_saved_percent == 0.0
    assert off.counts == {"Completed": 4, "InProgress": 0, "Stopped": 0, "Failed": 0}
    assert auto.counts == {"Completed": 2, "InProgress": 0, "Stopped": 2, "Failed": 0}
    assert (off.best_objective, auto.best_objective) == (0.9, 0.88)
    assert [(row["TrainingJobName"], row["FinalObjectiveValue"], row["TrainingElapsedTimeSeconds"])
            for row in auto.stopped] == [("auto-003", 0.3, 40.0), ("auto-004", 0.2, 40.0)]  # fmt: skip
    assert off.stopped == []

    content = response.content.decode()
    assert '<td class="saved">30.0%</td>' in content
    assert "6 min 40 s" in content and "4 min 40 s" in content  # 400 s and 280 s
    assert "(baseline)" in content
    stopped_table = content.split("<h3>auto: 2 stopped</h3>", 1)[1].split("</table>", 1)[0]
    assert "auto-003" in stopped_table and "auto-004" in stopped_table and "EarlyStopping" in stopped_table
    series = response.context["charts"]["best_so_far"]
    assert [s["name"] for s in series] == ["off", "auto"]
    assert series[1]["x"] == [100.0, 200.0, 240.0, 280.0]
    assert series[1]["y"] == [0.88, 0.88, 0.88, 0.88]

    # The first job picked is the baseline, whichever it is.
    auto, off = alice_client.get(COMPARE, {"jobs": ["auto", "off"]}).context["summaries"]
    assert off.training_time_saved_percent == pytest.approx((280 - 400) / 280 * 100)


def test_the_baseline_is_the_one_chosen_whatever_the_order_ticked(alice_client, off_and_auto):
    # Checkboxes send the jobs in the list's order (oldest first): the baseline says which one it is.
    response = alice_client.get(COMPARE, {"jobs": ["off", "auto"], "baseline": "auto"})
    auto, off = response.context["summaries"]
    assert (auto.tuning_job.name, off.tuning_job.name) == ("auto", "off")
    assert off.training_time_saved_percent == pytest.approx((280 - 400) / 280 * 100)
    assert auto.training_time_saved_percent == 0.0
    content = response.content.decode()
    assert 'name="jobs" value="off"' in content and 'type="checkbox"' in content
    assert '<option value="auto" selected>' in content


def test_a_baseline_not_compared_is_a_form_error_and_an_invisible_one_a_404(alice_client, two_small, build):
    build("third", [completed(0, 1, [0.5])], team_name="vision")
    response = alice_client.get(COMPARE, {"jobs": ["off", "auto"], "baseline": "third"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"baseline": ["The baseline must be one of the tuning jobs compared."]}
    assert response.context["summaries"] == []
    response = alice_client.get(COMPARE, {"jobs": ["off", "auto"], "baseline": "speech-1"})
    assert response.status_code == 404
    response = alice_client.get(COMPARE, {"jobs": ["off", "off"], "baseline": "nope"})
    assert response.status_code == 404


@pytest.fixture
def two_small(build, bob):
    """off and auto of the "vision" team, speech-1 of Bob's team: one short training job each."""
    for name, team in [("off", "vision"), ("auto", "vision"), ("speech-1", "speech")]:
        build(name, [completed(0, 1, [0.5])], team_name=team)


def test_the_form_lists_visible_jobs_oldest_first_and_starts_without_errors(alice_client, two_small):
    response = alice_client.get(COMPARE)
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound
    assert [name for name, _ in form.fields["jobs"].choices] == ["off", "auto"]
    assert response.context["summaries"] == []
    assert response.content.decode().count(">Compare</a>") == 1  # once in the navigation


def test_fewer_than_two_jobs_is_a_form_error(alice_client, build):
    build("off", [completed(0, 1, [0.5])])
    for jobs in [["off"], ["off", "off"], [""]]:
        response = alice_client.get(COMPARE, {"jobs": jobs})
        assert response.status_code == 200, jobs
        assert response.context["form"].errors == {"jobs": ["Pick at least two tuning jobs to compare."]}
        assert "Pick at least two tuning jobs to compare." in response.content.decode()
        assert response.context["summaries"] == []


def test_unknown_or_another_teams_job_is_404(alice_client, bob_client, two_small):
    assert alice_client.get(COMPARE, {"jobs": ["off", "nope"]}).status_code == 404
    assert alice_client.get(COMPARE, {"jobs": ["off", "speech-1"]}).status_code == 404
    assert bob_client.get(COMPARE, {"jobs": ["off", "auto"]}).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(COMPARE, {"jobs": ["off", "auto"]})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


# --- the arithmetic alone -----------------------------------------------------------------


def test_saved_percent_needs_a_positive_baseline():
    assert compare.saved_percent(10800.0, 7800.0) == pytest.approx(27.777, abs=1e-3)
    assert compare.saved_percent(100.0, 120.0) == -20.0
    assert compare.saved_percent(0.0, 10.0) is None
    assert compare.saved_percent(None, 10.0) is None


def test_a_running_training_job_counts_up_to_now():
    row = {"TrainingStartTime": T0, "TrainingEndTime": None, "TrainingElapsedTimeSeconds": None}
    never = {"TrainingStartTime": None, "TrainingEndTime": None, "TrainingElapsedTimeSeconds": None}
    done = {"TrainingStartTime": T0, "TrainingEndTime": T0, "TrainingElapsedTimeSeconds": 12.5}
    now = T0 + timedelta(seconds=30)
    assert compare.total_training_seconds([row, never, done], now=now) == 42.5
