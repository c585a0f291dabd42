"""Every write of the analytics app: review notes and decisions."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from analytics.models import NOTE_MAX_LENGTH, REASON_MAX_LENGTH, Decision, ReviewNote
from jobs import selectors as jobs_selectors
from jobs.models import TrainingJob, TuningJob


@transaction.atomic
def review_note_add(*, tuning_job: TuningJob, author, text: str, training_job: TrainingJob | None = None) -> ReviewNote:
    """Add a note to `tuning_job`'s review report, written by `author`.

    Anyone who may see the tuning job may add a note, viewers
    (TeamRole.VIEWER) included: writing down what the team concluded is part
    of reviewing, and a note changes nothing about the tuning job itself.
    Someone who may not see it gets PermissionDenied (the pages answer 404
    before getting here).

    The text is stored as written (Markdown), without surrounding whitespace; it
    must not be empty and has at most NOTE_MAX_LENGTH characters. Errors are
    keyed by "text", so a form shows them at its field. Pages render it with
    analytics.markdown, which never lets the text's own HTML through.
    `training_job`, one of the tuning job's, makes it a note on that job.
    """
    if training_job is not None and training_job.tuning_job_id != tuning_job.pk:
        raise ValidationError({"training_job": ["That training job is not one of this tuning job's."]})
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
    return ReviewNote.objects.create(tuning_job=tuning_job, training_job=training_job, author=author, text=text)


@transaction.atomic
def decision_make(*, training_job: TrainingJob, user, reason: str) -> Decision:
    """Record that the team chose `training_job` from its tuning job, replacing an earlier choice.

    Operators decide (TeamRole.OPERATOR, or staff): a decision says which model
    goes on, which is more than a note. The job must have ended with a model
    (Completed, or Stopped, early stopping included); the reason must be given.
    """
    tuning_job = training_job.tuning_job
    if not jobs_selectors.can_operate(user=user, tuning_job=tuning_job):
        raise PermissionDenied("Only the team's operators choose a training job.")
    errors = {}
    if not training_job.ended_with_model:
        errors["training_job"] = [f"{training_job.name} is {training_job.status}: choose one that ended with a model."]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why this training job was chosen."]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [f"A reason has at most {REASON_MAX_LENGTH} characters (this one has {len(reason)})."]
    if errors:
        raise ValidationError(errors)
    decision, _ = Decision.objects.update_or_create(
        tuning_job=tuning_job,
        defaults={"training_job": training_job, "decided_by": user, "reason": reason, "decided_at": timezone.now()},
    )
    return decision


@transaction.atomic
def decision_withdraw(*, tuning_job: TuningJob, user) -> None:
    """Take the tuning job's decision back (operators); withdrawing none is harmless."""
    if not jobs_selectors.can_operate(user=user, tuning_job=tuning_job):
        raise PermissionDenied("Only the team's operators withdraw a decision.")
    Decision.objects.filter(tuning_job=tuning_job).delete()
