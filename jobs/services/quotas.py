"""Per-team quotas: SageMaker's per-account limits on concurrent tuning and training jobs.

Every count is taken under the team's row lock (FOR NO KEY UPDATE on the
group: it excludes only another quota check, not inserts that reference
the team), so two requests in one team cannot both see the last free slot,
whichever entry point (browser, REST API, /sagemaker, CLI) they came in by.
Jobs without a team belong to staff and count against no quota.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from jobs.models import ACTIVE_STATUSES, TrainingJob, TuningJob, TuningJobSource, TuningJobStatus

CONCURRENT_TUNING_JOBS = "Number of concurrent hyperparameter tuning jobs"
CONCURRENT_TRAINING_JOBS = "Number of concurrent training jobs"


class TeamLimitExceeded(ValidationError):
    """A request that would take a team past one of its quotas.

    A ValidationError (on `team_name`), so the browser form and the REST API
    show it as they show any other; /sagemaker answers it as SageMaker's
    ResourceLimitExceeded, from the figures kept here.
    """

    def __init__(self, *, team: Group, quota: str, limit: int, utilization: int, delta: int):
        self.quota = quota
        self.limit = limit
        self.utilization = utilization
        self.delta = delta
        super().__init__(
            {
                "team_name": [
                    f"Team {team.name}'s limit '{quota}' is {limit} Jobs, with current utilization of "
                    f"{utilization} Jobs and a request delta of {delta} Jobs. Wait until some end, or ask "
                    "an administrator to raise the limit."
                ]
            }
        )


def lock_team(team: Group) -> None:
    """Hold the team's quota lock until the transaction ends."""
    Group.objects.select_for_update(no_key=True).filter(pk=team.pk).values_list("pk", flat=True).first()


def active_tuning_jobs(team: Group) -> int:
    # An imported tuning job runs on SageMaker, not here: it uses none of the team's capacity.
    return (
        TuningJob.objects.filter(team=team, source=TuningJobSource.NATIVE)
        .filter(status__in=(TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING))
        .count()
    )


def active_training_jobs(team: Group) -> int:
    return TrainingJob.objects.filter(
        tuning_job__team=team, tuning_job__source=TuningJobSource.NATIVE, status__in=ACTIVE_STATUSES
    ).count()


def check_tuning_job_quotas(*, team: Group, max_parallel_training_jobs: int) -> None:
    """Refuse a new tuning job the team has no room for; call inside the creating transaction.

    As SageMaker's CreateHyperParameterTuningJob, the request's delta in
    training jobs is its MaxParallelTrainingJobs (one instance each here).
    """
    lock_team(team)
    tuning_limit = settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS
    tuning_jobs = active_tuning_jobs(team)
    if tuning_jobs + 1 > tuning_limit:
        raise TeamLimitExceeded(
            team=team, quota=CONCURRENT_TUNING_JOBS, limit=tuning_limit, utilization=tuning_jobs, delta=1
        )
    training_limit = settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS
    training_jobs = active_training_jobs(team)
    if training_jobs + max_parallel_training_jobs > training_limit:
        raise TeamLimitExceeded(
            team=team,
            quota=CONCURRENT_TRAINING_JOBS,
            limit=training_limit,
            utilization=training_jobs,
            delta=max_parallel_training_jobs,
        )


def training_job_capacity(team: Group) -> int:
    """How many more training jobs the team may start now; the lock is held until the launch commits.

    Tuning jobs created one after another may each have passed the check at
    creation before any of them launched: this is what keeps the running
    ones within the limit. A tuning job with no room waits for the next
    reconcile.
    """
    lock_team(team)
    return max(0, settings.TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS - active_training_jobs(team))
