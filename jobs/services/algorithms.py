"""Registering the training programs that tuning jobs run.

Every way in (the admin, the REST API, `register_examples`, the SageMaker
import's own registrations aside) goes through `algorithm_register`, so one
set of rules decides what an algorithm may be: the model's field checks and
`jobs.config.validate_algorithm` (argv shape, metric regexes, input channels,
SageMaker settings).
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.config import validate_algorithm
from jobs.models import Algorithm, Backend, TuningJob, TuningJobStatus

# What a training job's run depends on; the name and description may change under a running tuning job.
RUN_FIELDS = ("command", "metric_definitions", "static_hyperparameters", "backend", "image_uri", "input_channels",
              "sagemaker_config", "environment_passthrough")  # fmt: skip
ACTIVE_TUNING_JOB_STATUSES = (TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING)

EMPTY = {"command": [], "metric_definitions": [], "static_hyperparameters": {}, "description": "", "backend": "",
         "input_channels": {}, "sagemaker_config": {}, "environment_passthrough": [],
         "image_uri_aliases": [], "objective_metric_name": "", "objective_type": "",
         "supported_hyperparameters": []}  # fmt: skip


def algorithm_validate(*, name: str, algorithm_id: int | None = None, **fields) -> Algorithm:
    """The unsaved algorithm `algorithm_register(**fields)` would store, or a ValidationError naming each field.

    Forms call it to show every problem at once before anything is saved.
    The row it replaces is `algorithm_id`'s, else the one named `name`, so
    uniqueness (name, image URI) is checked against the other algorithms only.
    """
    stored = (
        Algorithm.objects.filter(pk=algorithm_id) if algorithm_id is not None else Algorithm.objects.filter(name=name)
    )
    candidate = stored.first() or Algorithm()
    before = {field: getattr(candidate, field) for field in RUN_FIELDS}
    candidate.name = name
    for field, value in fields.items():
        # None means "none": the JSON columns are NOT NULL, and an empty image URI is no image.
        setattr(candidate, field, value if value is not None or field == "image_uri" else EMPTY[field])
    candidate.image_uri = candidate.image_uri or None
    errors: dict[str, list[str]] = {}
    if candidate.pk is not None:
        _refuse_change_in_use(candidate, [field for field in RUN_FIELDS if getattr(candidate, field) != before[field]])
    for check in (candidate.full_clean, lambda: validate_algorithm(candidate)):
        try:
            check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if "image_uri_aliases" not in errors:
        _check_image_uris_free(candidate, errors)
    if errors:
        raise ValidationError(errors)
    return candidate


def _refuse_change_in_use(algorithm: Algorithm, changed: list[str]) -> None:
    """A tuning job that has not ended keeps the program it started with: its training jobs must be comparable."""
    if not changed:
        return
    running = list(
        TuningJob.objects.filter(algorithm=algorithm, status__in=ACTIVE_TUNING_JOB_STATUSES)
        .order_by("name")
        .values_list("name", flat=True)[:5]
    )
    if running:
        raise ValidationError(
            {
                "name": [
                    f"{algorithm.name} is used by tuning jobs that have not ended ({', '.join(running)}), so its "
                    f"{', '.join(changed)} cannot change; register a new version under another name instead."
                ]
            }
        )


def _check_image_uris_free(candidate: Algorithm, errors: dict[str, list[str]]) -> None:
    """A TrainingImage must name one algorithm: the candidate's URIs are no other's image URI or alias.

    (Image URIs among themselves are the model's unique constraint.) Aliases
    are few, and a JSON list's membership is not portably queryable: compared here.
    """
    others = Algorithm.objects.exclude(pk=candidate.pk) if candidate.pk else Algorithm.objects.all()
    aliases = set(candidate.image_uri_aliases)
    for other in others.exclude(name=candidate.name).order_by("name"):
        taken = {other.image_uri, *other.image_uri_aliases} & aliases
        if candidate.image_uri and candidate.image_uri in other.image_uri_aliases:
            taken.add(candidate.image_uri)
        for uri in sorted(uri for uri in taken if uri):
            field = "image_uri" if uri == candidate.image_uri else "image_uri_aliases"
            errors.setdefault(field, []).append(f"{uri} already names algorithm {other.name}.")


@transaction.atomic
def algorithm_register(
    *,
    name: str,
    command: list[str] | None = None,
    metric_definitions: list[dict],
    static_hyperparameters: dict | None = None,
    description: str = "",
    backend: str = Backend.LOCAL,
    image_uri: str | None = None,
    image_uri_aliases: list[str] | None = None,
    input_channels: dict | None = None,
    sagemaker_config: dict | None = None,
    environment_passthrough: list[str] | None = None,
    objective_metric_name: str = "",
    objective_type: str = "",
    supported_hyperparameters: list[dict] | None = None,
    algorithm_id: int | None = None,
) -> Algorithm:
    """Create the algorithm `name`, or replace every field of the one stored under that name.

    `algorithm_id` names the row to replace instead, which lets staff rename
    an algorithm; its tuning jobs keep it.
    """
    algorithm = algorithm_validate(
        name=name,
        command=command,
        metric_definitions=metric_definitions,
        static_hyperparameters=static_hyperparameters,
        description=description,
        backend=backend,
        image_uri=image_uri,
        image_uri_aliases=image_uri_aliases,
        input_channels=input_channels,
        sagemaker_config=sagemaker_config,
        environment_passthrough=environment_passthrough,
        objective_metric_name=objective_metric_name,
        objective_type=objective_type,
        supported_hyperparameters=supported_hyperparameters,
        algorithm_id=algorithm_id,
    )
    algorithm.save()
    return algorithm
