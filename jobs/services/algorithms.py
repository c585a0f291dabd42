"""Registering the training programs that tuning jobs run."""

from django.db import transaction

from jobs.config import validate_algorithm
from jobs.models import Algorithm, Backend


@transaction.atomic
def algorithm_register(
    *,
    name: str,
    command: list[str],
    metric_definitions: list[dict],
    static_hyperparameters=None,
    description="",
    backend: str = Backend.LOCAL,
) -> Algorithm:
    """Create or update an algorithm by name, after checking its command and metric regexes."""
    candidate = Algorithm(
        name=name,
        command=command,
        metric_definitions=metric_definitions,
        static_hyperparameters=static_hyperparameters or {},
        description=description,
        backend=backend,
    )
    candidate.full_clean(exclude=["name"])
    validate_algorithm(candidate)
    algorithm, _ = Algorithm.objects.update_or_create(
        name=name,
        defaults={
            "command": candidate.command,
            "metric_definitions": candidate.metric_definitions,
            "static_hyperparameters": candidate.static_hyperparameters,
            "description": description,
            "backend": backend,
        },
    )
    return algorithm
