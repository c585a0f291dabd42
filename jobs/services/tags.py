"""Tags of tuning jobs and training jobs: SageMaker's AddTags and DeleteTags.

A tuning job's tags also reach the training jobs it launches afterwards
(tuning_jobs._launch_training_jobs); adding or deleting a tuning job's tags
leaves those of its training jobs as they are, as SageMaker does.
"""

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.config import tag_errors
from jobs.models import Tag, TrainingJob, TuningJob


def _lock_owner(tuning_job_id: int | None, training_job_id: int | None) -> dict:
    """Lock the tagged job's row, so that two AddTags at once cannot pass 50 tags between them."""
    if (tuning_job_id is None) == (training_job_id is None):
        raise ValueError("Give a tuning job or a training job.")
    if tuning_job_id is not None:
        return {"tuning_job": TuningJob.objects.select_for_update(no_key=True).get(pk=tuning_job_id)}
    return {"training_job": TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job_id)}


@transaction.atomic
def tags_add(
    *, tags: dict[str, str], tuning_job_id: int | None = None, training_job_id: int | None = None
) -> list[Tag]:
    """AddTags: add `tags` to one job, overwriting the values of keys it has; return all its tags."""
    owner = _lock_owner(tuning_job_id, training_job_id)
    existing = {tag.key: tag for tag in Tag.objects.filter(**owner)}
    errors = tag_errors({**{key: tag.value for key, tag in existing.items()}, **tags})
    if errors:
        raise ValidationError({"tags": errors})
    changed = []
    for key, value in tags.items():
        tag = existing.get(key)
        if tag is None:
            Tag.objects.create(key=key, value=value, **owner)
        elif tag.value != value:
            tag.value = value
            changed.append(tag)
    Tag.objects.bulk_update(changed, ["value"])
    return list(Tag.objects.filter(**owner))


@transaction.atomic
def tags_delete(*, keys: Sequence[str], tuning_job_id: int | None = None, training_job_id: int | None = None) -> None:
    """DeleteTags: remove these keys from one job; a key it does not have is no error."""
    owner = _lock_owner(tuning_job_id, training_job_id)
    Tag.objects.filter(key__in=list(keys), **owner).delete()
