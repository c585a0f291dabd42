"""Where a batch of metric samples is stored and where early stopping is decided.

`training_job_record_metrics` is the one entry for live samples (a worker's
parser, an outside trainer's ingest); after storing a batch it evaluates the
stopping rules on the epoch just reported (`_apply_stopping_rules`).
"""

import json
import math
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min, Q
from django.utils import timezone

from jobs import realtime
from jobs.backends.metrics import MetricRecord
from jobs.models import EarlyStoppingType, MetricSample, StopReason, Strategy, TrainingJob, TrainingJobStatus, TuningJob
from jobs.services import common
from jobs.tuning.early_stopping import (
    DEFAULT_RULE,
    RULES,
    CorrelationGatedEnvelopeRule,
    EarlyStoppingRule,
    Finisher,
    Leader,
    LeaderEnvelopeRule,
    RunningAverageRule,
    recent_best,
    running_averages,
)
from jobs.tuning.hyperband import Hyperband, infer_max_resource
from jobs.tuning.strategies import Direction


def auto_rule() -> EarlyStoppingRule:
    """The rule of early stopping type "Auto": settings.TUNEBOARD_EARLY_STOPPING_RULE.

    "auto" (the default) is `DEFAULT_RULE`, chosen by the replay benchmark leaving one
    workload out (docs/benchmarks.md); any name in `RULES` (e.g. "sagemaker_median",
    SageMaker's documented rule) gives that rule with its default settings. A bad name
    is reported by the system check jobs.E001 at start-up.
    """
    name = settings.TUNEBOARD_EARLY_STOPPING_RULE
    return DEFAULT_RULE if name == "auto" else RULES[name]()


@transaction.atomic
def training_job_record_metrics(*, training_job_id: int, records: Sequence[MetricRecord]) -> int:
    """Store a batch of metric samples of a running training job; return how many.

    One INSERT for the whole batch. A sample repeated for the same metric and
    epoch replaces the earlier one, in the batch or stored, so a retried batch
    never duplicates.
    """
    if not records:
        return 0
    training_job = TrainingJob.objects.select_related("tuning_job").get(pk=training_job_id)
    if not training_job.is_active:
        return 0
    tuning_job = training_job.tuning_job
    latest = list({(record.metric_name, record.epoch): record for record in records}.values())
    _upsert_metric_samples(tuning_job.id, training_job.id, latest)
    objective = [r for r in records if r.metric_name == tuning_job.objective_metric_name]
    changes = {"epochs_run": max(training_job.epochs_run, max(r.epoch for r in records))}
    if objective:
        # SageMaker's FinalObjectiveValue is the last value the job emitted.
        changes["final_objective_value"] = objective[-1].value
    TrainingJob.objects.filter(pk=training_job.id).update(**changes, updated_at=timezone.now())
    if objective and training_job.status == TrainingJobStatus.IN_PROGRESS:
        _apply_stopping_rules(training_job, tuning_job, max(r.epoch for r in objective))
    realtime.publish(
        realtime.Event(
            realtime.METRICS_APPENDED,
            tuning_job.id,
            {"training_job": training_job.name, "count": len(latest)},
        )
    )
    return len(latest)


def _upsert_metric_samples(tuning_job_id: int, training_job_id: int, records: Sequence[MetricRecord]) -> None:
    """Insert `records` (one per metric and epoch), replacing the stored samples of the same metric and epoch.

    On PostgreSQL the batch travels as one JSON array of rows, unpacked by
    INSERT ... SELECT FROM json_array_elements(...): for hundreds of samples
    that is a fraction of the Python work of bulk_create (a parameter per
    field per sample) or of array parameters, and ingest is the API's hottest
    path. Values go as text, the only way JSON carries NaN and infinities.
    """
    if connection.vendor != "postgresql":
        MetricSample.objects.bulk_create(
            [
                MetricSample(
                    tuning_job_id=tuning_job_id,
                    training_job_id=training_job_id,
                    metric_name=record.metric_name,
                    epoch=record.epoch,
                    value=record.value,
                    timestamp=record.timestamp,
                )
                for record in records
            ],
            update_conflicts=True,
            unique_fields=["training_job", "metric_name", "epoch"],
            update_fields=["value", "timestamp"],
        )
        return
    quote = connection.ops.quote_name
    table = quote(MetricSample._meta.db_table)
    tuning, training, metric, epoch, value, timestamp = (
        quote(MetricSample._meta.get_field(name).column)
        for name in ("tuning_job", "training_job", "metric_name", "epoch", "value", "timestamp")
    )
    rows = json.dumps(
        [[record.metric_name, record.epoch, repr(record.value), record.timestamp.isoformat()] for record in records]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({tuning}, {training}, {metric}, {epoch}, {value}, {timestamp}) "
            "SELECT %s, %s, row->>0, (row->>1)::integer, (row->>2)::float8, (row->>3)::timestamptz "
            "FROM json_array_elements(%s::json) AS row "
            f"ON CONFLICT ({training}, {metric}, {epoch}) "
            f"DO UPDATE SET {value} = EXCLUDED.{value}, {timestamp} = EXCLUDED.{timestamp}",
            [tuning_job_id, training_job_id, rows],
        )


def _apply_stopping_rules(training_job: TrainingJob, tuning_job: TuningJob, latest_epoch: int) -> None:
    """Early stopping "Auto" and Hyperband's rungs, evaluated on the epoch just reported.

    Both see the job's own objective curve and the other jobs' curves as far
    as they got now, which is all a live decision can know. This runs for
    every batch a trainer reports, so it reads only what the rule uses: the
    job's own curve, and of the others their running averages (Auto) or, at
    a rung only, their curves (Hyperband).
    """
    direction = Direction(tuning_job.objective_type)
    if tuning_job.strategy == Strategy.HYPERBAND:
        hyperband = Hyperband(tuning_job.hyperband_min_resource or 1, tuning_job.hyperband_max_resource)
        bracket = hyperband.bracket_of(training_job.sequence)
        current = _objective_curves(tuning_job, training_job_ids=[training_job.id]).get(training_job.id, [])
        peers = []
        if len(current) in hyperband.rungs(bracket):
            # Between rungs the decision depends on the job's own curve alone.
            others = tuning_job.training_jobs.exclude(pk=training_job.id).values_list("id", "sequence")
            same_bracket = [job_id for job_id, sequence in others if hyperband.bracket_of(sequence) == bracket]
            peers = list(_objective_curves(tuning_job, training_job_ids=same_bracket).values())
        stop = hyperband.should_stop(current, peers, bracket, direction)
        own_epochs = infer_max_resource(training_job.hyperparameters)
        if stop and len(current) >= hyperband.max_resource and own_epochs and own_epochs <= hyperband.max_resource:
            # Its program ends at MaxResource by itself: signalling it now would
            # only race its normal exit and call a finished job Stopped.
            stop = False
        reason = StopReason.HYPERBAND
    elif tuning_job.early_stopping_type == EarlyStoppingType.AUTO:
        # The rules compare epochs 1..t only, so nothing later is read: the
        # cost of a decision grows with the epoch, not with the whole table.
        current = _objective_curves(tuning_job, max_epoch=latest_epoch, training_job_ids=[training_job.id]).get(
            training_job.id, []
        )
        stop = _auto_decision(training_job, tuning_job, current, latest_epoch, direction, auto_rule())
        reason = StopReason.EARLY_STOPPING
    else:
        return
    if stop:
        locked = TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job.id)
        if locked.status == TrainingJobStatus.IN_PROGRESS:
            common.request_training_job_stop(locked, reason)


def _auto_decision(
    training_job: TrainingJob,
    tuning_job: TuningJob,
    current: list[float],
    latest_epoch: int,
    direction: Direction,
    rule: EarlyStoppingRule,
) -> bool:
    """`rule`'s decision on the job's latest epoch, given what it reads of the earlier jobs, read as it needs it."""
    epoch = len(current)
    if isinstance(rule, LeaderEnvelopeRule):
        leaders = _leaders(training_job, tuning_job, rule.leader_epoch(epoch), rule.leaders, direction, rule.window)
        if isinstance(rule, CorrelationGatedEnvelopeRule):
            finishers = _finishers(training_job, tuning_job, epoch, rule.gate_history, direction, rule.window)
            return rule.should_stop_given_finishers(current, finishers, leaders, direction)
        return rule.should_stop_given(current, leaders, direction)
    assert isinstance(rule, RunningAverageRule), "every rule in RULES is one of the two kinds"
    averages = _previous_running_averages(training_job, tuning_job, epoch, latest_epoch)
    return rule.should_stop_given_averages(current, averages, direction)


def _finished_before(training_job: TrainingJob, tuning_job: TuningJob, epoch: int):
    """The jobs started before `training_job` that Completed after `epoch` epochs or more with a finite final value."""
    return TrainingJob.objects.filter(
        tuning_job_id=tuning_job.id,
        sequence__lt=training_job.sequence,
        status=TrainingJobStatus.COMPLETED,
        epochs_run__gte=epoch,
        final_objective_value__isnull=False,
    ).exclude(final_objective_value__in=[math.nan, math.inf, -math.inf])


def _leaders(
    training_job: TrainingJob, tuning_job: TuningJob, epoch: int, count: int, direction: Direction, window: float
) -> list[Leader]:
    """`leaders_at(previous, ended, epoch, count, direction, window)` for the jobs started before `training_job`.

    Ended means Completed: the program ran to its own end, so its final
    objective is its last value. The database orders the candidates (a
    non-finite final value leads nothing), so a decision reads `count` rows and
    their first `epoch` values, however many jobs ran before.
    """
    order = "-final_objective_value" if direction == Direction.MAXIMIZE else "final_objective_value"
    chosen = list(
        _finished_before(training_job, tuning_job, epoch)
        .order_by(order, "sequence")
        .values_list("id", "epochs_run", "final_objective_value")[:count]
    )
    curves = _objective_curves(tuning_job, max_epoch=epoch, training_job_ids=[job_id for job_id, _, _ in chosen])
    return [
        Leader(recent_best(curves.get(job_id, []), window, direction), epochs_run, final)
        for job_id, epochs_run, final in chosen
    ]


def _finishers(
    training_job: TrainingJob, tuning_job: TuningJob, epoch: int, history: int, direction: Direction, window: float
) -> list[Finisher]:
    """`finishers_at(previous, ended, epoch, direction, window, history)` for the jobs started before `training_job`.

    The `history` most recent Completed jobs that ran `epoch` epochs or more
    with a finite final value, in start order; each one's best finite value
    over its last ceil(`window` * epoch) epochs up to `epoch` is aggregated by
    the database in one query, so a decision reads one row per finisher
    whatever the epoch and the number of earlier jobs. (A curve with an epoch missing is taken by epoch numbers here, by
    position in `finishers_at`: jobs report every epoch, so both agree.)
    """
    recent = _finished_before(training_job, tuning_job, epoch).order_by("-sequence").values("id")[:history]
    first = epoch - max(1, math.ceil(window * epoch - 1e-9)) + 1
    finite = ~Q(value__in=[math.nan, math.inf, -math.inf])
    best = Max("value", filter=finite) if direction == Direction.MAXIMIZE else Min("value", filter=finite)
    rows = (
        MetricSample.objects.filter(
            training_job_id__in=recent,
            metric_name=tuning_job.objective_metric_name,
            epoch__gte=first,
            epoch__lte=epoch,
        )
        .values("training_job_id")
        .annotate(best=best)
        .order_by("training_job__sequence")
        .values_list("training_job_id", "best", "training_job__final_objective_value")
    )
    # A finisher with no finite value in its window gets None from the database: NaN, as finishers_at gives.
    return [Finisher(math.nan if best is None else best, final) for _, best, final in rows]


def _previous_running_averages(
    training_job: TrainingJob, tuning_job: TuningJob, epochs: int, latest_epoch: int
) -> list[float]:
    """`running_averages(previous, epochs)` of the jobs started before `training_job`, aggregated by the database.

    A previous curve is an earlier job's objective values up to `latest_epoch`.
    One with exactly `epochs` values is averaged in SQL, so a batch costs one
    row per earlier job instead of its whole curve; one with more (the current
    job skipped epochs) is averaged over its first `epochs` values, so it is
    read. Min and max tell whether all values are finite: NaN sorts above every
    number, in PostgreSQL and as SQLite's text 'NaN' (jobs.fields).
    """
    if epochs == 0:
        return []
    earlier = TrainingJob.objects.filter(tuning_job_id=tuning_job.id, sequence__lt=training_job.sequence).values("id")
    rows = (
        MetricSample.objects.filter(
            training_job_id__in=earlier, metric_name=tuning_job.objective_metric_name, epoch__lte=latest_epoch
        )
        .values("training_job_id")
        .annotate(count=Count("id"), mean=Avg("value"), low=Min("value"), high=Max("value"))
        .order_by()
    )
    averages, longer = [], []
    for row in rows:
        if row["count"] > epochs:
            longer.append(row["training_job_id"])
        elif row["count"] == epochs and math.isfinite(row["low"]) and math.isfinite(row["high"]):
            averages.append(row["mean"])
    if longer:
        curves = _objective_curves(tuning_job, max_epoch=latest_epoch, training_job_ids=longer)
        averages += running_averages(list(curves.values()), epochs)
    return averages


def _objective_curves(
    tuning_job: TuningJob, max_epoch: int | None = None, training_job_ids: Sequence[int] | None = None
) -> dict[int, list[float]]:
    """Training jobs' objective values in epoch order (up to `max_epoch`), in one query."""
    curves: dict[int, list[float]] = {}
    samples = MetricSample.objects.filter(tuning_job=tuning_job, metric_name=tuning_job.objective_metric_name)
    if training_job_ids is not None:
        samples = samples.filter(training_job_id__in=training_job_ids)
    if max_epoch is not None:
        samples = samples.filter(epoch__lte=max_epoch)
    samples = samples.order_by("training_job_id", "epoch").values_list("training_job_id", "value")
    for training_job_id, value in samples:
        curves.setdefault(training_job_id, []).append(value)
    return curves
