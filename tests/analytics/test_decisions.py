"""Decisions (the training job a team chose, who, when, why) and Markdown notes on tuning and training jobs."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from analytics import services
from analytics.markdown import render_markdown
from analytics.models import Decision, ReviewNote
from analytics.table import analytics_rows
from tests.analytics.conftest import T0

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def job(tuning_job, sequence):
    return tuning_job.training_jobs.get(sequence=sequence)


def choose_url(training_job):
    return reverse("training-job-choose", args=[training_job.name])


# --- the service ------------------------------------------------------------------------------


def test_an_operator_chooses_with_a_reason_and_may_change_the_teams_mind(four_kinds, alice, clock):
    first, stopped = job(four_kinds, 1), job(four_kinds, 2)
    decision = services.decision_make(training_job=first, user=alice, reason="  Best on validation.  ")
    assert (decision.training_job, decision.decided_by, decision.reason, decision.decided_at) == (
        first, alice, "Best on validation.", clock.now,
    )  # fmt: skip
    # A stopped job ended with a model too; choosing again replaces the choice.
    services.decision_make(training_job=stopped, user=alice, reason="Cheaper, nearly as good.")
    assert list(Decision.objects.values_list("training_job__name", flat=True)) == [stopped.name]
    services.decision_withdraw(tuning_job=four_kinds, user=alice)
    assert not Decision.objects.exists()
    services.decision_withdraw(tuning_job=four_kinds, user=alice)  # withdrawing none is harmless


@pytest.mark.parametrize(
    ("sequence", "reason", "errors"),
    [
        (3, "why not", {"training_job": ["tj-mixed-003 is Failed: choose one that ended with a model."]}),
        (1, "   ", {"reason": ["Say why this training job was chosen."]}),
        (1, "x" * 2001, {"reason": ["A reason has at most 2000 characters (this one has 2001)."]}),
    ],
)
def test_a_job_without_a_model_or_a_missing_reason_is_refused(four_kinds, alice, sequence, reason, errors):
    with pytest.raises(ValidationError) as caught:
        services.decision_make(training_job=job(four_kinds, sequence), user=alice, reason=reason)
    assert caught.value.message_dict == errors
    assert not Decision.objects.exists()


def test_viewers_and_other_teams_do_not_decide(four_kinds, carol, bob):
    for user in (carol, bob):
        with pytest.raises(PermissionDenied):
            services.decision_make(training_job=job(four_kinds, 1), user=user, reason="mine")
        with pytest.raises(PermissionDenied):
            services.decision_withdraw(tuning_job=four_kinds, user=user)
    assert not Decision.objects.exists()


# --- where it shows ---------------------------------------------------------------------------


def test_chosen_on_the_training_job_page_and_shown_everywhere(alice_client, four_kinds):
    first = job(four_kinds, 1)
    page = alice_client.get(reverse("training-job-detail", args=[first.name])).content.decode()
    assert 'data-testid="choose-form"' in page
    response = alice_client.post(choose_url(first), {"reason": "Best **validation** accuracy."})
    assert response.status_code == 302
    assert response["Location"] == reverse("tuning-job-detail", args=["tj-mixed"]) + "#decision"

    detail = alice_client.get(reverse("tuning-job-detail", args=["tj-mixed"])).content.decode()
    assert f'data-testid="chosen-training-job">{first.name}</a>' in detail
    assert "<p>Best <strong>validation</strong> accuracy.</p>" in detail
    assert "by alice" in detail
    listing = alice_client.get(reverse("tuning-job-list")).content.decode()
    assert f"chosen: {first.name}" in listing
    report = alice_client.get(reverse("tuning-job-report", args=["tj-mixed"])).content.decode()
    assert f'data-testid="chosen-training-job">{first.name}</a>' in report
    assert "Withdraw" not in report  # the report is for reading (and printing)
    assert [row["Chosen"] for row in analytics_rows(four_kinds)] == [True, False, False, False]
    csv = alice_client.get(reverse("tuning-job-analytics-csv", args=["tj-mixed"])).content.decode()
    assert csv.splitlines()[0].endswith(",Chosen") and csv.splitlines()[1].endswith(",True")
    chosen_page = alice_client.get(reverse("training-job-detail", args=[first.name])).content.decode()
    assert 'data-testid="chosen-badge"' in chosen_page and 'data-testid="choose-form"' not in chosen_page


def test_the_page_shows_why_a_choice_was_refused_and_a_viewer_gets_no_form(alice_client, carol_client, four_kinds):
    failed = job(four_kinds, 3)
    response = alice_client.post(choose_url(failed), {"reason": "anyway"}, follow=True)
    assert "tj-mixed-003 is Failed: choose one that ended with a model." in response.content.decode()
    assert not Decision.objects.exists()
    first = job(four_kinds, 1)
    assert (
        'data-testid="choose-form"'
        not in carol_client.get(reverse("training-job-detail", args=[first.name])).content.decode()
    )
    assert carol_client.post(choose_url(first), {"reason": "mine"}).status_code == 403
    assert carol_client.post(reverse("tuning-job-decision-withdraw", args=["tj-mixed"])).status_code == 403


def test_another_teams_user_gets_404_on_every_decision_url(bob_client, four_kinds):
    first = job(four_kinds, 1)
    assert bob_client.post(choose_url(first), {"reason": "x"}).status_code == 404
    assert bob_client.post(reverse("tuning-job-decision-withdraw", args=["tj-mixed"])).status_code == 404
    assert bob_client.post(reverse("training-job-note-add", args=[first.name]), {"text": "x"}).status_code == 404
    assert not Decision.objects.exists() and not ReviewNote.objects.exists()


# --- the REST API -----------------------------------------------------------------------------


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_reads_makes_and_withdraws_the_decision(four_kinds, alice, carol, bob, clock):
    url = reverse("api:tuning-job-decision", args=["tj-mixed"])
    api = api_for(alice)
    assert api.get(url).json() == {"training_job": None, "reason": None, "decided_by": None, "decided_at": None}
    response = api.put(url, {"training_job": "tj-mixed-002", "reason": "Stopped early, still the pick."}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "training_job": "tj-mixed-002",
        "reason": "Stopped early, still the pick.",
        "decided_by": "alice",
        "decided_at": clock.now.isoformat().replace("+00:00", "Z"),
    }
    assert api_for(carol).get(url).json()["training_job"] == "tj-mixed-002"
    assert api_for(carol).put(url, {"training_job": "tj-mixed-001", "reason": "x"}, format="json").status_code == 403
    assert api_for(bob).get(url).status_code == 404
    assert api.delete(url).status_code == 204
    assert api.get(url).json()["training_job"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"training_job": "tj-1-001", "reason": "x"}, "training_job", "tj-mixed has no training job named 'tj-1-001'."),
        ({"training_job": "tj-mixed-003", "reason": "x"}, "training_job", "is Failed"),
        ({"training_job": "tj-mixed-001", "reason": ""}, "reason", "Say why"),
        ({"reason": "x"}, "training_job", "required"),
    ],
)
def test_the_api_names_the_field_of_a_bad_decision(four_kinds, alice, body, field, message):
    response = api_for(alice).put(reverse("api:tuning-job-decision", args=["tj-mixed"]), body, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert message in " ".join(fields[field]), fields
    assert not Decision.objects.exists()


# --- notes in Markdown, on training jobs too ----------------------------------------------------


def test_a_note_on_a_training_job_shows_there_and_in_the_report(alice_client, carol_client, four_kinds, clock):
    first = job(four_kinds, 1)
    response = carol_client.post(reverse("training-job-note-add", args=[first.name]), {"text": "Looks *overfit*."})
    assert response.status_code == 302
    (note,) = ReviewNote.objects.all()
    assert (note.tuning_job, note.training_job, note.created_at) == (four_kinds, first, clock.now)
    page = alice_client.get(reverse("training-job-detail", args=[first.name])).content.decode()
    assert "<p>Looks <em>overfit</em>.</p>" in page
    other = alice_client.get(reverse("training-job-detail", args=[job(four_kinds, 2).name])).content.decode()
    assert "overfit" not in other
    report = alice_client.get(reverse("tuning-job-report", args=["tj-mixed"])).content.decode()
    assert f'on <a href="{reverse("training-job-detail", args=[first.name])}">{first.name}</a>' in report


def test_a_note_cannot_name_another_tuning_jobs_training_job(four_kinds, tj_1, alice):
    with pytest.raises(ValidationError) as caught:
        services.review_note_add(tuning_job=four_kinds, training_job=job(tj_1, 1), author=alice, text="x")
    assert caught.value.message_dict == {"training_job": ["That training job is not one of this tuning job's."]}


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"),
        ("[docs](https://example.com)",
         '<p><a href="https://example.com" rel="noopener noreferrer nofollow">docs</a></p>\n'),
        ("![chart](https://example.com/a.png)", "<p></p>\n"),
        ('<img src=x onerror="alert(1)">', '<p>&lt;img src=x onerror="alert(1)"&gt;</p>\n'),
        ("- a\n- `b`", "<ul>\n<li>a</li>\n<li><code>b</code></li>\n</ul>\n"),
        ("| a |\n|---|\n| 1 |",
         "<table>\n<thead>\n<tr>\n<th>a</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n</tr>\n</tbody>\n</table>\n"),
    ],
)  # fmt: skip
def test_markdown_keeps_words_links_lists_and_tables_and_nothing_that_runs(text, html):
    assert render_markdown(text) == html


def test_the_json_export_marks_the_chosen_training_job(alice_client, alice, four_kinds):
    services.decision_make(training_job=job(four_kinds, 2), user=alice, reason="cheap")
    rows = json.loads(alice_client.get(reverse("tuning-job-analytics-json", args=["tj-mixed"])).content)
    assert [row["Chosen"] for row in rows] == [False, True, False, False]
    assert rows[0]["TrainingStartTime"].startswith(T0.date().isoformat())
