"""What a team writes down while reviewing a tuning job: notes, and the decision.

Everything else the analytics pages show is derived on read from jobs' rows
(see analytics.table); only the notes and decisions are stored here.
"""

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models

from jobs.models import TrainingJob, TuningJob

NOTE_MAX_LENGTH = 5000
REASON_MAX_LENGTH = 2000


class ReviewNote(models.Model):
    """A note added to a tuning job's review report, e.g. during the review meeting.

    Written only through analytics.services.review_note_add. The author is kept
    as a nullable reference so that deleting a user does not delete what the
    team decided; the page then shows "a deleted user".
    """

    tuning_job = models.ForeignKey(TuningJob, on_delete=models.CASCADE, related_name="review_notes")
    # A note about one of its training jobs, shown on that job's page too; None: about the tuning job.
    training_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.CASCADE, related_name="review_notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="review_notes"
    )
    text = models.TextField(validators=[MaxLengthValidator(NOTE_MAX_LENGTH)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tuning_job", "created_at"], name="review_note_job_created_idx")]

    def __str__(self):
        return f"Note by {self.author} on {self.tuning_job} at {self.created_at:%Y-%m-%d %H:%M}"


class Decision(models.Model):
    """The training job a team chose from a tuning job, with who chose it, when and why.

    What a review meeting produces: one per tuning job, replaced when the team
    changes its mind (the one before is not kept: the notes say the history).
    Written only through analytics.services.decision_make and decision_withdraw.
    """

    tuning_job = models.OneToOneField(TuningJob, on_delete=models.CASCADE, related_name="decision")
    training_job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(validators=[MaxLengthValidator(REASON_MAX_LENGTH)])
    decided_at = models.DateTimeField()

    def __str__(self):
        return f"{self.training_job} chosen from {self.tuning_job}"
