"""Every write of the analytics app: review notes."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from analytics.models import NOTE_MAX_LENGTH, ReviewNote
from jobs import selectors as jobs_selectors
from jobs.models import TuningJob


@transaction.atomic
def review_note_add(*, tuning_job: TuningJob, author, text: str) -> ReviewNote:
    """Add a note to `tuning_job`'s review report, written by `author`.

    Anyone who may see the tuning job may add a note, viewers
    (TeamRole.VIEWER) included: writing down what the team concluded is part
    of reviewing, and a note changes nothing about the tuning job itself.
    Someone who may not see it gets PermissionDenied (the pages answer 404
    before getting here).

    The text is stored as written, without surrounding whitespace; it must
    not be empty and has at most NOTE_MAX_LENGTH characters. Errors are keyed
    by "text", so a form shows them at its field. Pages escape the text when
    they show it: it is never markup.
    """
    if not jobs_selectors.tuning_jobs_visible_to(user=author).filter(pk=tuning_job.pk).exists():
        raise PermissionDenied("You cannot add notes to this tuning job.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ["Write something before adding the note."]}, code="required")
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"text": [f"A note has at most {NOTE_MAX_LENGTH} characters (this one has {len(text)})."]},
            code="max_length",
        )
    return ReviewNote.objects.create(tuning_job=tuning_job, author=author, text=text)
