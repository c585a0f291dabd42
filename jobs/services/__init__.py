"""Every change of a tuning job, a training job or their metrics happens here.

Views, API views, Celery tasks, management commands and the admin call these
functions and never write a status themselves. Each function is one
transaction; events are published through jobs.realtime, which delivers them
after commit, and follow-up tasks are sent after commit by `dispatch`.

The package is split by what changes (one module each); every public name is
importable from `jobs.services`, which is how callers use them:

- `tuning_jobs`: create, stop, delete, and the reconcile step `tuning_job_advance`
- `training_jobs`: a training job's claim, heartbeat, stop and ending
- `metrics`: storing metric samples and deciding early stopping
- `logs`: a training job's log, shipped in chunks from its worker
- `reaper`: the safety net for lost workers and lost task messages
- `imports`: storing tuning jobs imported from SageMaker
- `access_keys`: SigV4 keys of the SageMaker-compatible endpoint
- `api_tokens`: REST API tokens, stored hashed
- `algorithms`: registering training programs
- `tags`: SageMaker's tags of tuning jobs and training jobs
- `dispatch` and `common`: the task hand-off and steps the others share

Concurrency: the reconcile loop and the training workers run on many
processes at once. A tuning job is advanced under its row lock, and a training
job is claimed and finished with conditional updates or its row lock, so that
running any of these twice does no harm. Row locks are FOR NO KEY UPDATE:
inserting a metric sample takes FOR KEY SHARE on its tuning job and training
job (the foreign-key checks), which a plain FOR UPDATE would block, and a
stop racing a metric batch would deadlock.
"""

from jobs.services.access_keys import (
    ACCESS_KEY_USE_RESOLUTION,
    access_key_create,
    access_key_mark_used,
    access_key_revoke,
    access_key_validate,
)
from jobs.services.algorithms import algorithm_register, algorithm_validate
from jobs.services.api_tokens import api_token_create
from jobs.services.common import ImportedTuningJobReadOnly
from jobs.services.imports import ImportOutcome, native_name_taken_message, tuning_job_import
from jobs.services.logs import training_job_append_log, training_job_log_end
from jobs.services.metrics import auto_rule, training_job_record_metrics
from jobs.services.quotas import TeamLimitExceeded
from jobs.services.reaper import (
    SAGEMAKER_REATTACH_LIMIT,
    training_job_worker_lost,
    training_jobs_reap_stale,
    training_jobs_redispatch,
)
from jobs.services.tags import tags_add, tags_delete
from jobs.services.training_jobs import (
    token_hash,
    training_job_claim_external,
    training_job_fail,
    training_job_finish,
    training_job_heartbeat,
    training_job_reattach,
    training_job_record_secondary_status,
    training_job_set_remote_name,
    training_job_start,
    training_job_stop,
    training_jobs_interrupt,
)
from jobs.services.tuning_jobs import (
    FAILED_TRAINING_JOBS_BEFORE_GIVING_UP,
    tuning_job_advance,
    tuning_job_create,
    tuning_job_create_from_request,
    tuning_job_delete,
    tuning_job_stop,
)

__all__ = [
    "ACCESS_KEY_USE_RESOLUTION",
    "auto_rule",
    "FAILED_TRAINING_JOBS_BEFORE_GIVING_UP",
    "SAGEMAKER_REATTACH_LIMIT",
    "TeamLimitExceeded",
    "ImportOutcome",
    "ImportedTuningJobReadOnly",
    "access_key_create",
    "access_key_mark_used",
    "access_key_revoke",
    "access_key_validate",
    "algorithm_register",
    "api_token_create",
    "algorithm_validate",
    "native_name_taken_message",
    "tags_add",
    "tags_delete",
    "token_hash",
    "training_job_claim_external",
    "training_job_fail",
    "training_job_finish",
    "training_job_heartbeat",
    "training_job_reattach",
    "training_job_record_metrics",
    "training_job_record_secondary_status",
    "training_job_set_remote_name",
    "training_job_start",
    "training_job_stop",
    "training_jobs_interrupt",
    "training_job_worker_lost",
    "training_jobs_reap_stale",
    "training_job_append_log",
    "training_job_log_end",
    "training_jobs_redispatch",
    "tuning_job_advance",
    "tuning_job_create",
    "tuning_job_create_from_request",
    "tuning_job_delete",
    "tuning_job_import",
    "tuning_job_stop",
]
