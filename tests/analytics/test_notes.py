"""Team notes on the review report: saved with author and time, escaped, validated."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from analytics import services
from analytics.models import NOTE_MAX_LENGTH, ReviewNote
from tests.analytics.conftest import T0

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

REPORT = reverse("tuning-job-report", args=["tj-1"])


@pytest.fixture
def tuning_job(tj_1):
    return tj_1


def test_a_note_is_saved_with_its_author_and_time_and_shown(alice_client, alice, tuning_job, clock):
    clock.at(3600)
    response = alice_client.post(REPORT, {"text": "  Auto saved a quarter of the time.\nShip it.  "})
    assert response.status_code == 302
    assert response["Location"] == REPORT + "#notes"
    (note,) = ReviewNote.objects.all()
    assert (note.tuning_job, note.author, note.text) == (
        tuning_job,
        alice,
        "Auto saved a quarter of the time.\nShip it.",
    )
    assert note.created_at == clock.now

    content = alice_client.get(REPORT).content.decode()
    assert "<strong>alice</strong>" in content
    assert '<time datetime="2025-03-01T10:00:00+00:00">2025-03-01 10:00:00 UTC</time>' in content
    assert "<p>Auto saved a quarter of the time.<br>\nShip it.</p>" in content


def test_notes_are_escaped(alice_client, tuning_job):
    alice_client.post(REPORT, {"text": "<script>alert(1)</script> & <b>bold</b>"})
    content = alice_client.get(REPORT).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "<b>bold</b>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in content


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_an_empty_note_is_an_error_at_the_field(alice_client, tuning_job, text):
    response = alice_client.post(REPORT, {"text": text})
    assert response.status_code == 200  # the form again, with its errors
    assert response.context["form"].errors == {"text": ["Write something before adding the note."]}
    assert 'class="error field-error">Write something before adding the note.</p>' in response.content.decode()
    assert not ReviewNote.objects.exists()


def test_a_note_has_at_most_5000_characters(alice, tuning_job):
    assert len(services.review_note_add(tuning_job=tuning_job, author=alice, text="x" * NOTE_MAX_LENGTH).text) == 5000
    with pytest.raises(ValidationError) as error:
        services.review_note_add(tuning_job=tuning_job, author=alice, text="x" * (NOTE_MAX_LENGTH + 1))
    assert list(error.value.message_dict) == ["text"]
    assert "at most 5000 characters" in error.value.message_dict["text"][0]
    assert ReviewNote.objects.count() == 1


def test_a_too_long_note_from_the_page_is_an_error_at_the_field(alice_client, tuning_job):
    response = alice_client.post(REPORT, {"text": "x" * (NOTE_MAX_LENGTH + 1)})
    assert response.status_code == 200  # the form again, with its errors
    assert "at most 5000 characters" in response.context["form"].errors["text"][0]
    assert not ReviewNote.objects.exists()


def test_a_viewer_may_add_notes(carol_client, carol, tuning_job):
    assert carol_client.post(REPORT, {"text": "Looks good."}).status_code == 302
    assert ReviewNote.objects.get().author == carol


def test_another_team_cannot_read_or_add_notes(bob_client, bob, alice, tuning_job):
    services.review_note_add(tuning_job=tuning_job, author=alice, text="internal")
    assert bob_client.get(REPORT).status_code == 404
    assert bob_client.post(REPORT, {"text": "hello"}).status_code == 404
    with pytest.raises(PermissionDenied):
        services.review_note_add(tuning_job=tuning_job, author=bob, text="hello")
    assert list(ReviewNote.objects.values_list("text", flat=True)) == ["internal"]


def test_notes_are_listed_oldest_first(alice_client, alice, carol, tuning_job, clock):
    clock.at(60)
    services.review_note_add(tuning_job=tuning_job, author=carol, text="first")
    clock.at(120)
    services.review_note_add(tuning_job=tuning_job, author=alice, text="second")
    notes = alice_client.get(REPORT).context["notes"]
    assert [(note.text, note.author.username, note.created_at) for note in notes] == [
        ("first", "carol", T0.replace(minute=1)),
        ("second", "alice", T0.replace(minute=2)),
    ]
