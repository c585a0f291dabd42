"""A scratch tuning job for the benchmarks that drive the service layer in-process."""

import os


def external_auto_tuning_job(name: str, max_training_jobs: int, max_parallel_training_jobs: int):
    """Set Django up on the database DATABASE_URL names (migrated), and return a new tuning job
    `name` of an external algorithm with early stopping Auto, replacing any of that name."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")
    django.setup()
    from django.core.management import call_command

    from jobs import services
    from jobs.config import TuningJobConfig
    from jobs.models import Backend, TuningJob

    call_command("migrate", verbosity=0)
    TuningJob.objects.filter(name=name).delete()
    services.algorithm_register(
        name=name,
        command=[],
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        backend=Backend.EXTERNAL,
    )
    return services.tuning_job_create(
        config=TuningJobConfig(
            name=name,
            algorithm_name=name,
            objective_metric_name="validation:accuracy",
            objective_type="Maximize",
            parameter_ranges=[{"name": "x", "type": "Continuous", "min_value": 0.0, "max_value": 1.0}],
            max_training_jobs=max_training_jobs,
            max_parallel_training_jobs=max_parallel_training_jobs,
            early_stopping_type="Auto",
            random_seed=1,
        )
    )
