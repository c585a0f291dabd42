"""Tuning jobs, their training jobs and the metrics those report.

The vocabulary is SageMaker's on purpose: a user who knows
CreateHyperParameterTuningJob finds the same names here. Rows change state
only through jobs.services; this module holds structure and small derived
properties.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from jobs.fields import IEEEFloatField
from jobs.tuning.supported import SupportedHyperParameter, parse_supported

# SageMaker's pattern for tuning job names (and, longer, algorithm names); \Z, not $,
# because $ also matches before a trailing newline.
TUNING_JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}\Z"
ALGORITHM_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}\Z"

tuning_job_name_validator = RegexValidator(
    TUNING_JOB_NAME_PATTERN,
    "Use 1 to 32 letters, digits and hyphens, starting and ending with a letter or digit.",
)
algorithm_name_validator = RegexValidator(
    ALGORITHM_NAME_PATTERN,
    "Use 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.",
)


class TuningJobStatus(models.TextChoices):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class TrainingJobStatus(models.TextChoices):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


ACTIVE_STATUSES = (TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING)


class StopReason(models.TextChoices):
    """Why a training job ended Stopped; SageMaker only says 'Stopped'."""

    EARLY_STOPPING = "EarlyStopping", "early stopping"
    USER_REQUEST = "UserRequest", "stopped by a user"
    MAX_RUNTIME = "MaxRuntimeExceeded", "reached its maximum runtime"
    TUNING_JOB_LIMIT = "TuningJobLimit", "the tuning job reached a limit"
    WORKER_SHUTDOWN = "WorkerShutdown", "its worker shut down"
    HYPERBAND = "Hyperband", "Hyperband stopped it at a rung"
    COMPLETION_CRITERIA = "CompletionCriteriaMet", "the tuning job's completion criteria were met"


class ObjectiveStatus(models.TextChoices):
    PENDING = "Pending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ObjectiveType(models.TextChoices):
    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


class Strategy(models.TextChoices):
    BAYESIAN = "Bayesian"
    RANDOM = "Random"
    GRID = "Grid"
    HYPERBAND = "Hyperband"


class EarlyStoppingType(models.TextChoices):
    OFF = "Off"
    AUTO = "Auto"


class WarmStartType(models.TextChoices):
    IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
    TRANSFER_LEARNING = "TransferLearning"


class CompletionReason(models.TextChoices):
    """Which TuningJobCompletionCriteria ended a tuning job early."""

    TARGET_REACHED = "TargetObjectiveMetricValueReached"
    NOT_IMPROVING = "BestObjectiveNotImproving"
    CONVERGED = "ConvergenceDetected"


class Backend(models.TextChoices):
    LOCAL = "local", "Local process"
    EXTERNAL = "external", "Runs elsewhere and reports through the API"
    SAGEMAKER = "sagemaker", "Amazon SageMaker training jobs"


class TuningJobSource(models.TextChoices):
    """Where a tuning job came from: imported ones are read-only records for review."""

    NATIVE = "native", "Run by Tuneboard"
    SAGEMAKER_IMPORT = "sagemaker-import", "Imported from SageMaker"


class Algorithm(models.Model):
    """A registered training program: SageMaker's training image.

    Registering or changing one takes the add/change_algorithm permissions (its
    command runs on the workers), so users choose among known programs and
    never submit a command line.
    """

    name = models.CharField(max_length=63, unique=True, validators=[algorithm_name_validator])
    description = models.TextField(blank=True)
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.LOCAL)
    command = models.JSONField(default=list, blank=True, help_text="The program's argv, run without a shell.")
    metric_definitions = models.JSONField(
        default=list, help_text='SageMaker\'s MetricDefinitions: [{"Name": ..., "Regex": ...}].'
    )
    static_hyperparameters = models.JSONField(
        default=dict, blank=True, help_text="Hyperparameters every training job of this algorithm receives."
    )
    image_uri = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        unique=True,
        help_text="The AlgorithmSpecification.TrainingImage that names this algorithm on the SageMaker-compatible "
        "endpoint; on the sagemaker backend, the image its training jobs run.",
    )
    image_uri_aliases = models.JSONField(
        default=list,
        blank=True,
        help_text="More TrainingImage URIs that name this algorithm on the SageMaker-compatible endpoint, e.g. "
        'the one sagemaker.image_uris.retrieve("xgboost", "us-east-1", "1.7-1") gives: '
        '["683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"]. Never run as images.',
    )
    input_channels = models.JSONField(
        default=dict,
        blank=True,
        help_text='Input data channels, {"train": "s3://bucket/prefix", ...}: downloaded into '
        "input/data/<channel>/ for local jobs, passed as InputDataConfig to SageMaker.",
    )
    sagemaker_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="For the sagemaker backend: RoleArn, AlgorithmName (instead of image_uri), "
        "InstanceType, InstanceCount, VolumeSizeInGB, S3OutputPath.",
    )
    environment_passthrough = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the worker's environment variables its training programs receive, e.g. "
        '["WANDB_API_KEY"]. Nothing else of the worker\'s environment reaches them beyond the basics '
        "(PATH, HOME, locale...): see docs/algorithms.md.",
    )
    supported_hyperparameters = models.JSONField(
        default=list,
        blank=True,
        help_text="SageMaker's SupportedHyperParameters: the hyperparameters the program accepts, e.g. "
        '[{"Name": "learning_rate", "Type": "Continuous", "IsTunable": true, "Range": '
        '{"ContinuousParameterRangeSpecification": {"MinValue": "0", "MaxValue": "1"}}}]. When given, a tuning '
        "job naming any other hyperparameter, or a value outside its range, is refused. Empty: any name.",
    )
    objective_metric_name = models.CharField(
        max_length=255,
        blank=True,
        help_text="The objective it is meant to be tuned on (one of its metric definitions), as SageMaker's "
        "built-in algorithms document one: the create form starts from it.",
    )
    objective_type = models.CharField(max_length=8, choices=ObjectiveType.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def metric_names(self) -> list[str]:
        return [definition["Name"] for definition in self.metric_definitions]

    @property
    def supported(self) -> list[SupportedHyperParameter]:
        """The declared hyperparameters, parsed; validate_algorithm refuses a declaration this cannot read."""
        return parse_supported(self.supported_hyperparameters)


class TeamRole(models.TextChoices):
    OPERATOR = "operator", "Operator: creates and stops tuning jobs"
    VIEWER = "viewer", "Viewer: looks, changes nothing"


class TeamMember(models.Model):
    """A user's place in a team (a Django group): what they may do with its tuning jobs.

    Teams are plain Django groups so that the admin manages them as usual;
    the role lives here because a group alone cannot say "read-only".
    """

    team = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.OPERATOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_unique")]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"


class TuningJob(models.Model):
    """SageMaker's HyperParameterTuningJob."""

    name = models.CharField(max_length=32, unique=True, validators=[tuning_job_name_validator])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tuning_jobs"
    )
    team = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tuning_jobs",
        help_text="Its members see and operate it; without a team only staff see it.",
    )
    algorithm = models.ForeignKey(Algorithm, on_delete=models.PROTECT, related_name="tuning_jobs")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.RANDOM)
    objective_metric_name = models.CharField(max_length=255)
    objective_type = models.CharField(max_length=8, choices=ObjectiveType.choices)
    parameter_ranges = models.JSONField(help_text="The search space, as jobs.tuning.space.SearchSpace.to_dicts().")
    static_hyperparameters = models.JSONField(default=dict, blank=True)
    max_training_jobs = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_parallel_training_jobs = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_runtime_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="ResourceLimits.MaxRuntimeInSeconds of the whole tuning job."
    )
    training_max_runtime_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="StoppingCondition.MaxRuntimeInSeconds of each training job."
    )
    early_stopping_type = models.CharField(
        max_length=8, choices=EarlyStoppingType.choices, default=EarlyStoppingType.OFF
    )
    random_seed = models.BigIntegerField()
    hyperband_min_resource = models.PositiveIntegerField(
        null=True, blank=True, help_text="HyperbandStrategyConfig.MinResource, in epochs."
    )
    hyperband_max_resource = models.PositiveIntegerField(
        null=True, blank=True, help_text="HyperbandStrategyConfig.MaxResource, in epochs."
    )
    target_objective_value = models.FloatField(
        null=True, blank=True, help_text="TuningJobCompletionCriteria.TargetObjectiveMetricValue."
    )
    max_jobs_not_improving = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving.",
    )
    complete_on_convergence = models.BooleanField(
        default=False, help_text="TuningJobCompletionCriteria.ConvergenceDetected.CompleteOnConvergence."
    )
    max_retry_attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="RetryStrategy.MaximumRetryAttempts: how often a training job that failed with an "
        "InternalServerError (a lost worker, a full disk) runs again.",
    )
    warm_start_type = models.CharField(max_length=32, choices=WarmStartType.choices, blank=True)
    warm_start_parents = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="warm_start_children"
    )
    completion_reason = models.CharField(max_length=40, choices=CompletionReason.choices, blank=True)
    convergence_detected_at = models.DateTimeField(null=True, blank=True)
    s3_output_path = models.CharField(
        max_length=1024, blank=True, help_text="OutputDataConfig.S3OutputPath: where model artifacts are uploaded."
    )
    source = models.CharField(
        max_length=20, choices=TuningJobSource.choices, default=TuningJobSource.NATIVE, db_index=True
    )
    source_arn = models.CharField(
        max_length=256, blank=True, help_text="The imported SageMaker tuning job's HyperParameterTuningJobArn."
    )
    status = models.CharField(
        max_length=16, choices=TuningJobStatus.choices, default=TuningJobStatus.IN_PROGRESS, db_index=True
    )
    failure_reason = models.TextField(blank=True)
    best_training_job = models.ForeignKey(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sagemaker_request = models.JSONField(
        default=dict,
        blank=True,
        help_text="The CreateHyperParameterTuningJob body it came from, kept to echo what Tuneboard does not use.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in (TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING)

    @property
    def is_imported(self) -> bool:
        return self.source != TuningJobSource.NATIVE


class TrainingJob(models.Model):
    """One trial of a tuning job: a run of the algorithm with one set of hyperparameters."""

    name = models.CharField(max_length=63, unique=True)
    tuning_job = models.ForeignKey(TuningJob, on_delete=models.CASCADE, related_name="training_jobs")
    sequence = models.PositiveIntegerField(help_text="1 for the tuning job's first training job, and so on.")
    hyperparameters = models.JSONField(help_text="Everything the program received, as strings.")
    tuned_hyperparameters = models.JSONField(help_text="The strategy's proposal, as strings.")
    status = models.CharField(
        max_length=16, choices=TrainingJobStatus.choices, default=TrainingJobStatus.IN_PROGRESS, db_index=True
    )
    stop_reason = models.CharField(max_length=32, choices=StopReason.choices, blank=True)
    failure_reason = models.TextField(blank=True)
    final_objective_value = IEEEFloatField(null=True, blank=True)
    objective_status = models.CharField(max_length=16, choices=ObjectiveStatus.choices, default=ObjectiveStatus.PENDING)
    epochs_run = models.PositiveIntegerField(default=0)
    log_path = models.CharField(max_length=1024, blank=True)
    remote_name = models.CharField(
        max_length=63, blank=True, help_text="Its name on the service that runs it (SageMaker's TrainingJobName)."
    )
    secondary_status = models.CharField(
        max_length=32, blank=True, help_text="SageMaker's SecondaryStatus, for jobs run on or imported from it."
    )
    model_artifact_uri = models.CharField(
        max_length=1024, blank=True, help_text="ModelArtifacts.S3ModelArtifacts: where its model.tar.gz went."
    )
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the worker running it.")
    awaiting_reattach = models.BooleanField(
        default=False, help_text="Its watcher was lost; the remote job runs on and waits for a worker to re-attach."
    )
    reattach_count = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker re-attached to its remote job after the watcher was lost."
    )
    retry_count = models.PositiveSmallIntegerField(
        default=0, help_text="How many times it ran again after an InternalServerError (RetryStrategy)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When its run task was last sent to the training queue."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tuning_job", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["tuning_job", "sequence"], name="training_job_sequence_unique"),
        ]
        indexes = [models.Index(fields=["tuning_job", "status"], name="training_job_status_idx")]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def ended_with_model(self) -> bool:
        """Completed, or Stopped (early stopping included): what a team may choose as its model."""
        return self.status in (TrainingJobStatus.COMPLETED, TrainingJobStatus.STOPPED)

    @property
    def elapsed_seconds(self) -> float | None:
        return elapsed_seconds(self.started_at, self.ended_at)


def elapsed_seconds(started_at, ended_at) -> float | None:
    """A training job's run time; None until it has both started and ended."""
    if started_at is None or ended_at is None:
        return None
    return (ended_at - started_at).total_seconds()


class Tag(models.Model):
    """SageMaker's Tag, a key and a value, on a tuning job or on a training job (AddTags, ListTags).

    A tuning job's tags are copied to each training job it launches from then
    on, as SageMaker does, so every row belongs to exactly one job and a
    training job keeps the tags it was launched with.
    """

    tuning_job = models.ForeignKey(TuningJob, null=True, blank=True, on_delete=models.CASCADE, related_name="tags")
    training_job = models.ForeignKey(TrainingJob, null=True, blank=True, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=256, blank=True)

    class Meta:
        # ListTags answers in the order the keys were first added.
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(tuning_job__isnull=False, training_job__isnull=True)
                    | models.Q(tuning_job__isnull=True, training_job__isnull=False)
                ),
                name="tag_on_one_job",
            ),
            models.UniqueConstraint(fields=["tuning_job", "key"], name="tuning_job_tag_key_unique"),
            models.UniqueConstraint(fields=["training_job", "key"], name="training_job_tag_key_unique"),
        ]
        # Finding jobs by tag (the tuning jobs list's filter).
        indexes = [models.Index(fields=["key", "value"], name="tag_key_value_idx")]

    def __str__(self):
        return f"{self.key}={self.value}"


class TrainingJobLogChunk(models.Model):
    """A piece of a training job's log, shipped from its worker as it is written.

    The log is served from here, not from the worker's disk: a second worker
    on another host (no shared disk) runs jobs whose logs the web server must
    still show. `start` is the chunk's byte offset in the whole log, so a
    reader can ask for "everything after byte N" as it follows a running job.
    """

    training_job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="log_chunks")
    start = models.BigIntegerField()
    size = models.PositiveIntegerField(help_text="Its length in bytes (UTF-8).")
    text = models.TextField()

    class Meta:
        ordering = ["training_job", "start"]
        constraints = [models.UniqueConstraint(fields=["training_job", "start"], name="log_chunk_start_unique")]

    def __str__(self):
        return f"{self.training_job_id}@{self.start}"


class MetricSample(models.Model):
    """One value of one metric at one epoch of a training job: the hot table.

    The tuning job is repeated here so that "every sample of a tuning job
    since id X", which live pages ask for all the time, is one index range
    scan instead of a join.
    """

    tuning_job = models.ForeignKey(TuningJob, on_delete=models.CASCADE, related_name="+")
    training_job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metric_samples")
    metric_name = models.CharField(max_length=255)
    epoch = models.PositiveIntegerField()
    value = IEEEFloatField()
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["training_job", "metric_name", "epoch"], name="metric_sample_epoch_unique"),
        ]
        indexes = [models.Index(fields=["tuning_job", "id"], name="metric_sample_tuning_job_idx")]

    def __str__(self):
        return f"{self.metric_name}[{self.epoch}]={self.value}"


class TrainingJobToken(models.Model):
    """The credential an outside trainer reports with: good for one training job only.

    Only a hash is stored; the key itself is shown once, when the trainer
    claims the job.
    """

    training_job = models.OneToOneField(TrainingJob, on_delete=models.CASCADE, related_name="token")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token of {self.training_job}"


class ApiToken(models.Model):
    """A user's credential for the REST API (`Authorization: Token <key>`).

    Only a SHA-256 of the key is stored, and its first characters to tell
    tokens apart in lists; the key itself is shown once, when it is created.
    A 40-character random key needs no slow hash: nobody can guess it from its
    hash faster than by trying keys against the API.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=8, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… of {self.user}"


class AccessKey(models.Model):
    """A SigV4 credential for the SageMaker-compatible endpoint: what boto3 calls an access key.

    The endpoint must recompute each request's HMAC, so it needs the secret
    itself, not a hash of it. The secret is stored encrypted with a key
    derived from SECRET_KEY (jobs.services.access_keys): a copy of the database
    alone does not reveal it, and rotating SECRET_KEY (with the old one in
    SECRET_KEY_FALLBACKS until keys are re-issued) revokes nothing by accident.
    """

    access_key_id = models.CharField(max_length=20, unique=True)
    encrypted_secret = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    team = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="access_keys",
        help_text="The team that tuning jobs created with this key belong to.",
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.access_key_id

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ReaperWatch(models.Model):
    """When the reaper last read the heartbeats, and since when it has read them without a gap.

    One row. A stale heartbeat means a lost worker only if the worker could have
    written it all along: while the database (or the broker, or beat) was away,
    neither workers nor reaper could, so after such a gap the reaper watches
    for a whole heartbeat timeout before it fails anyone.
    """

    last_pass_at = models.DateTimeField()
    watching_since = models.DateTimeField()

    def __str__(self):
        return f"reaper watching since {self.watching_since.isoformat()}"
