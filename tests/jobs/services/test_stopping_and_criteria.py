"""Early stopping "Auto", Hyperband's rungs, completion criteria and warm start, through the services.

Training runs are played epoch by epoch through the services the runner
calls, so every decision is the live one.
"""

import math
import random
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from jobs import services
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.models import CompletionReason, StopReason, TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from jobs.sagemaker.shapes import describe_tuning_job
from jobs.services import metrics
from jobs.tuning.early_stopping import (
    CorrelationGatedEnvelopeRule,
    ExtrapolatedEnvelopeRule,
    LeaderEnvelopeRule,
    finishers_at,
)
from jobs.tuning.strategies.base import Direction
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

OBJECTIVE = "validation:accuracy"


@pytest.fixture
def algorithm():
    return register_algorithm(static_hyperparameters={"epochs": "9"})


def start(training_job):
    assert services.training_job_start(training_job_id=training_job.id, worker="w@h:1", log_path="")


def report(training_job, epoch, value, metric=OBJECTIVE) -> str:
    services.training_job_record_metrics(
        training_job_id=training_job.id, records=[MetricRecord(metric, epoch, value, datetime.now(UTC))]
    )
    return TrainingJob.objects.values_list("status", flat=True).get(pk=training_job.pk)


def finish(training_job, outcome=Outcome.COMPLETED):
    stop_cause = StopCause.REQUESTED if outcome == Outcome.STOPPED else None
    return services.training_job_finish(
        training_job_id=training_job.id, result=RunResult(outcome=outcome, exit_code=0, stop_cause=stop_cause)
    )


def play(training_job, values) -> TrainingJob:
    """Report `values` epoch by epoch until the job is told to stop; then end it as the runner would."""
    start(training_job)
    for epoch, value in enumerate(values, start=1):
        if report(training_job, epoch, value) == TrainingJobStatus.STOPPING:
            return finish(training_job, Outcome.STOPPED)
    return finish(training_job)


def launch(tuning_job, count=None):
    created = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    assert count is None or len(created) == count
    return created


# --- early stopping "Auto" --------------------------------------------------------


def sequential(**overrides):
    return services.tuning_job_create(
        config=tuning_job_config(**{"max_training_jobs": 6, "max_parallel_training_jobs": 1, **overrides})
    )


def test_auto_stops_a_job_behind_its_leaders_at_half_its_age(algorithm, no_tasks):
    tuning_job = sequential(early_stopping_type="Auto", max_training_jobs=8)
    for _ in range(5):
        (job,) = launch(tuning_job, 1)
        assert play(job, [0.5, 0.6, 0.7, 0.8]).status == TrainingJobStatus.COMPLETED
    (late,) = launch(tuning_job, 1)
    # Behind the leaders' 0.5, 0.6, 0.7 at epochs 1-3, but never behind where they were at half
    # its age (epoch 1 for epoch 2, epoch 2 for epochs 3 and 4).
    assert play(late, [0.3, 0.52, 0.65, 0.85]).status == TrainingJobStatus.COMPLETED
    (hopeless,) = launch(tuning_job, 1)
    hopeless = play(hopeless, [0.45, 0.2, 0.25, 0.3])
    assert (hopeless.status, hopeless.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.EARLY_STOPPING)
    # The late starter ended best, so it leads: its 0.3 after epoch 1 is the bar at epoch 2, where
    # the job's best (0.45) is not behind. At epoch 3 it is behind every leader's epoch 2 (0.52+).
    assert hopeless.epochs_run == 3
    assert hopeless.final_objective_value == 0.25  # its last value, as SageMaker counts it
    (good,) = launch(tuning_job, 1)
    assert play(good, [0.6, 0.7, 0.8, 0.9]).status == TrainingJobStatus.COMPLETED


@pytest.mark.database_vendor
def test_auto_leaves_a_diverged_previous_job_out_in_sql(algorithm, no_tasks, settings):
    """The running averages of previous jobs are aggregated in SQL, where NaN is PostgreSQL's or SQLite's text 'NaN'.

    Left out, the diverged job lets the top third of (0.2, 0.4, 0.6) stop a
    best of 0.45; counted, as NaN or as SQLite's 0, it would let the job run on.
    `best_so_far_rank` is the rule that reads those averages.
    """
    settings.TUNEBOARD_EARLY_STOPPING_RULE = "best_so_far_rank"
    tuning_job = sequential(early_stopping_type="Auto")
    for values in ([0.2, 0.2], [0.4, 0.4], [0.6, 0.6], [0.1, float("nan")]):
        (job,) = launch(tuning_job, 1)
        play(job, values)
    (current,) = launch(tuning_job, 1)
    current = play(current, [0.3, 0.45, 0.5])
    assert (current.status, current.stop_reason, current.epochs_run) == (
        TrainingJobStatus.STOPPED,
        StopReason.EARLY_STOPPING,
        2,
    )


def test_off_never_stops(algorithm, no_tasks):
    tuning_job = sequential(early_stopping_type="Off")
    for values in ([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], [0.5, 0.6, 0.7], [0.1, 0.1, 0.1]):
        (job,) = launch(tuning_job, 1)
        assert play(job, values).status == TrainingJobStatus.COMPLETED


def test_a_job_that_never_reports_the_objective_is_never_stopped(algorithm, no_tasks):
    tuning_job = sequential(early_stopping_type="Auto")
    for _ in range(3):
        (job,) = launch(tuning_job, 1)
        play(job, [0.5, 0.6, 0.7])
    (silent,) = launch(tuning_job, 1)
    start(silent)
    for epoch in range(1, 4):
        assert report(silent, epoch, 9.9, metric="train:loss") == TrainingJobStatus.IN_PROGRESS


def test_a_stopped_job_counts_toward_max_training_jobs(algorithm, no_tasks):
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(max_training_jobs=6, max_parallel_training_jobs=1, early_stopping_type="Auto")
    )
    for values in [[0.5, 0.6]] * 5 + [[0.1, 0.1, 0.1]]:
        (job,) = launch(tuning_job, 1)
        play(job, values)
    assert launch(tuning_job) == []
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.COMPLETED
    assert tuning_job.training_jobs.filter(status=TrainingJobStatus.STOPPED).count() == 1


# --- Hyperband ------------------------------------------------------------------------


def test_hyperband_stops_jobs_below_the_top_third_at_a_rung(algorithm, no_tasks):
    register_algorithm(static_hyperparameters={"epochs": "9"})
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(strategy="Hyperband", max_training_jobs=12, max_parallel_training_jobs=12)
    )
    assert (tuning_job.hyperband_min_resource, tuning_job.hyperband_max_resource) == (1, 9)  # inferred from epochs
    jobs = launch(tuning_job, 12)
    # Brackets of 9 epochs with eta=3: 0 judges at epochs 1 and 3, 1 at epoch 3, 2 never.
    bracket0 = [job for job in jobs if (job.sequence - 1) % 3 == 0]
    for job, value in zip(bracket0, [0.9, 0.8, 0.3, 0.2], strict=True):
        start(job)
        report(job, 1, value)
    statuses = [TrainingJob.objects.get(pk=j.pk) for j in bracket0]
    assert [j.status for j in statuses] == ["InProgress", "InProgress", "Stopping", "Stopping"]
    assert {j.stop_reason for j in statuses[2:]} == {StopReason.HYPERBAND}


def test_hyperband_stops_a_job_at_max_resource(no_tasks):
    register_algorithm(static_hyperparameters={"epochs": "100"})
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(
            strategy="Hyperband", hyperband_min_resource=2, hyperband_max_resource=4, max_training_jobs=1
        )
    )
    (job,) = launch(tuning_job, 1)
    job = play(job, [0.5] * 100)
    assert (job.status, job.stop_reason, job.epochs_run) == (TrainingJobStatus.STOPPED, StopReason.HYPERBAND, 4)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"early_stopping_type": "Auto"}, "early_stopping_type", "must be Off"),
        ({"static_hyperparameters": {}}, "hyperband_max_resource", "Give MaxResource"),
        ({"hyperband_min_resource": 10, "hyperband_max_resource": 5}, "hyperband_max_resource", "at least MinResource"),
        ({"strategy": "Random", "hyperband_max_resource": 5}, "hyperband_max_resource", "Only the Hyperband"),
    ],
)
def test_hyperband_bad_input(no_tasks, overrides, field, message):
    register_algorithm()
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(config=tuning_job_config(**{"strategy": "Hyperband", **overrides}))
    assert message in " ".join(error.value.message_dict[field])


# --- completion criteria ------------------------------------------------------------


def test_target_value_stops_running_jobs_and_completes(algorithm, no_tasks):
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(max_training_jobs=10, max_parallel_training_jobs=2, target_objective_value=0.9)
    )
    winner, other = launch(tuning_job, 2)
    start(other)
    play(winner, [0.5, 0.95])
    assert launch(tuning_job) == []
    tuning_job.refresh_from_db()
    assert tuning_job.completion_reason == CompletionReason.TARGET_REACHED
    other.refresh_from_db()
    assert (other.status, other.stop_reason) == (TrainingJobStatus.STOPPING, StopReason.COMPLETION_CRITERIA)
    finish(other, Outcome.STOPPED)
    launch(tuning_job)
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.COMPLETED
    assert tuning_job.training_jobs.count() == 2


def test_best_objective_not_improving_completes_and_is_reported(algorithm, no_tasks):
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(max_training_jobs=10, max_parallel_training_jobs=1, max_jobs_not_improving=3)
    )
    for value in (0.8, 0.7, 0.801, 0.79):
        (job,) = launch(tuning_job, 1)
        play(job, [value])
    assert launch(tuning_job) == []
    tuning_job.refresh_from_db()
    assert (tuning_job.status, tuning_job.completion_reason) == ("Completed", CompletionReason.NOT_IMPROVING)
    described = describe_tuning_job(tuning_job)
    assert described["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    criteria = described["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"]
    assert criteria == {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}


def test_convergence_is_recorded_and_can_complete(algorithm, no_tasks):
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(max_training_jobs=30, max_parallel_training_jobs=1, complete_on_convergence=True)
    )
    values = [0.5, 0.9, 0.7, 0.8, 0.6, 0.85, 0.8, 0.75, 0.9, 0.88]
    for value in values:
        (job,) = launch(tuning_job, 1)
        play(job, [value])
    assert launch(tuning_job) == []
    tuning_job.refresh_from_db()
    assert tuning_job.completion_reason == CompletionReason.CONVERGED
    assert tuning_job.convergence_detected_at is not None
    assert "ConvergenceDetectedTime" in describe_tuning_job(tuning_job)["TuningJobCompletionDetails"]


def test_not_improving_below_three_is_refused(algorithm):
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(config=tuning_job_config(max_jobs_not_improving=2))
    assert "between 3 and" in error.value.message_dict["max_jobs_not_improving"][0]


# --- warm start -------------------------------------------------------------------------


def finished_parent(name, values, **overrides):
    parent = services.tuning_job_create(
        config=tuning_job_config(name=name, max_training_jobs=len(values), max_parallel_training_jobs=len(values),
                                 **overrides)
    )  # fmt: skip
    for job, value in zip(launch(parent, len(values)), values, strict=True):
        play(job, [value])
    launch(parent)
    parent.refresh_from_db()
    assert parent.status == TuningJobStatus.COMPLETED
    return parent


def test_warm_start_passes_the_parents_observations_to_the_strategy(algorithm, no_tasks):
    parent = finished_parent("parent", [0.5, 0.6])
    child = services.tuning_job_create(
        config=tuning_job_config(
            name="child", warm_start_type="IdenticalDataAndAlgorithm", warm_start_parents=["parent"]
        )
    )
    assert list(child.warm_start_parents.all()) == [parent]
    fresh = services.tuning_job_create(config=tuning_job_config(name="fresh"))
    # Same seed; Random draws from (seed, number of observations), so two
    # parent observations shift the child's proposals away from a fresh job's.
    child_first = launch(child)[0].tuned_hyperparameters
    fresh_first = launch(fresh)[0].tuned_hyperparameters
    assert child_first != fresh_first
    assert describe_tuning_job(child)["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }


@pytest.mark.parametrize(
    ("parents_setup", "overrides", "field", "message"),
    [
        (["p1"] * 1, {"warm_start_parents": ["p1", "p2", "p3", "p4", "p5", "p6"]}, "warm_start_parents", "1 to 5"),
        ([], {"warm_start_parents": ["ghost"]}, "warm_start_parents", "No tuning job named 'ghost'"),
        (["p1"], {"warm_start_type": "Sideways"}, "warm_start_type", "Choose one of"),
        (["p1"], {"objective_type": "Minimize"}, "warm_start_parents", "optimizes Maximize"),
        (["p1"], {"parameter_ranges": [{"name": "optimizer", "type": "Categorical", "values": ["sgd"]}]},
         "warm_start_parents", "tunes learning_rate, optimizer"),
    ],
)  # fmt: skip
def test_warm_start_bad_input(algorithm, no_tasks, parents_setup, overrides, field, message):
    for name in parents_setup:
        finished_parent(name, [0.5])
    config = {"name": "child", "warm_start_type": "TransferLearning", "warm_start_parents": ["p1"], **overrides}
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(config=tuning_job_config(**config))
    assert message in " ".join(error.value.message_dict[field])
    assert not TuningJob.objects.filter(name="child").exists()


def test_a_running_parent_is_refused(algorithm, no_tasks):
    services.tuning_job_create(config=tuning_job_config(name="running"))
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(
            config=tuning_job_config(name="child", warm_start_type="TransferLearning", warm_start_parents=["running"])
        )
    assert "still InProgress" in error.value.message_dict["warm_start_parents"][0]


def test_identical_data_and_algorithm_needs_the_same_algorithm(algorithm, no_tasks):
    finished_parent("parent", [0.5])
    register_algorithm(name="other-program")
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(
            config=tuning_job_config(
                name="child",
                algorithm_name="other-program",
                warm_start_type="IdenticalDataAndAlgorithm",
                warm_start_parents=["parent"],
            )
        )
    assert "use TransferLearning" in error.value.message_dict["warm_start_type"][0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "rule",
    [
        LeaderEnvelopeRule(),
        LeaderEnvelopeRule(leaders=2, lag=0.5, grace_fraction=0.2, window=0.5),
        CorrelationGatedEnvelopeRule(leaders=2, gate_jobs=4, gate_correlation=-0.5, gate_leaders=2),
        CorrelationGatedEnvelopeRule(
            leaders=2, gate_jobs=4, gate_correlation=-1, gate_leaders=1, gate_history=4, window=0.5
        ),
        ExtrapolatedEnvelopeRule(leaders=2, growth=0.5, noise=0, extrapolation_grace=0),
    ],
    ids=["defaults", "every-setting", "correlation-gated", "correlation-gated-every-setting", "extrapolated"],
)
@pytest.mark.parametrize("objective_type", ["Maximize", "Minimize"])
def test_the_live_leader_envelope_decides_as_the_rule_over_whole_curves(
    rule, objective_type, seed, algorithm, no_tasks
):
    """What the service reads for the rule (leaders, finishers) gives `should_stop`'s answers.

    Earlier jobs that completed, failed or still run, of several lengths, with NaN.
    """
    rng = random.Random(seed)
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(
            max_training_jobs=10,
            max_parallel_training_jobs=10,
            early_stopping_type="Auto",
            objective_type=objective_type,
        )
    )
    jobs = launch(tuning_job, 10)
    *earlier, current = jobs
    curves, ended = [], []
    for job in earlier:
        start(job)
        values = [rng.uniform(0, 1) for _ in range(rng.randint(3, 9))]
        if rng.random() < 0.2:
            values[rng.randrange(len(values))] = math.nan
        for epoch, value in enumerate(values, start=1):
            report(job, epoch, value)
        outcome = rng.choice([Outcome.COMPLETED, Outcome.COMPLETED, Outcome.FAILED, None])
        if outcome is not None:
            finish(job, outcome)
        curves.append(values)
        ended.append(outcome == Outcome.COMPLETED)
    assert sum(ended) >= rule.leaders, "the seed must give the rule leaders to judge by"
    start(current)
    direction = Direction(objective_type)
    own = []
    decisions = []
    for epoch in range(1, 6):
        # Mostly behind the others, so that both answers come up.
        low = rng.uniform(0, 0.4)
        own.append(low if direction == Direction.MAXIMIZE else 1 - low)
        services.training_job_record_metrics(
            training_job_id=current.id, records=[MetricRecord(OBJECTIVE, epoch, own[-1], datetime.now(UTC))]
        )
        job = TrainingJob.objects.get(pk=current.pk)
        live = metrics._auto_decision(job, tuning_job, own, epoch, direction, rule)
        decisions.append((live, rule.should_stop(own, curves, direction, ended)))
        if isinstance(rule, CorrelationGatedEnvelopeRule):
            read = metrics._finishers(job, tuning_job, epoch, rule.gate_history, direction, rule.window)
            expected = finishers_at(curves, ended, epoch, direction, rule.window, rule.gate_history)
            flat = [value for f in read for value in (f.final, f.best)]
            assert flat == pytest.approx([value for f in expected for value in (f.final, f.best)], nan_ok=True)
    assert all(live == expected for live, expected in decisions), decisions
    assert {expected for _, expected in decisions} == {True, False}, "the seed must exercise both answers"


def test_the_auto_rule_is_a_setting_and_a_bad_name_fails_the_system_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from jobs.tuning.early_stopping import DEFAULT_RULE, MedianStoppingRule

    assert services.auto_rule() == DEFAULT_RULE
    settings.TUNEBOARD_EARLY_STOPPING_RULE = "sagemaker_median"
    assert services.auto_rule() == MedianStoppingRule()
    call_command("check")
    settings.TUNEBOARD_EARLY_STOPPING_RULE = "median"
    with pytest.raises(SystemCheckError, match="jobs.E001.*'median', which is no early-stopping rule"):
        call_command("check")


def test_sagemakers_rule_runs_live_when_named(algorithm, no_tasks, settings):
    """Same epochs, two rules: SageMaker's compares the latest value, so one dip stops the job."""
    settings.TUNEBOARD_EARLY_STOPPING_RULE = "sagemaker_median"
    tuning_job = sequential(early_stopping_type="Auto")
    for _ in range(3):
        (job,) = launch(tuning_job, 1)
        play(job, [0.5, 0.6, 0.7, 0.8])
    (dipping,) = launch(tuning_job, 1)
    dipping = play(dipping, [0.6, 0.5, 0.9, 0.95])
    assert (dipping.status, dipping.epochs_run) == (TrainingJobStatus.STOPPED, 2)


@pytest.mark.parametrize(
    ("rule", "status", "epochs"),
    [("extrapolated_envelope", TrainingJobStatus.STOPPED, 3), ("auto", TrainingJobStatus.COMPLETED, 10)],
)
def test_the_extrapolated_envelope_stops_a_flat_job_the_envelope_keeps(
    rule, status, epochs, algorithm, no_tasks, settings
):
    """Five jobs ended, the best (0.9) after a slow start; a job flat at 0.5 can never reach 0.9."""
    settings.TUNEBOARD_EARLY_STOPPING_RULE = rule
    tuning_job = sequential(early_stopping_type="Auto")
    for values in ([0.1] * 5 + [0.9] * 5, [0.6] * 9 + [0.8], [0.6] * 10, [0.55] * 10, [0.5] * 10):
        (job,) = launch(tuning_job, 1)
        assert play(job, values).status == TrainingJobStatus.COMPLETED
    (flat,) = launch(tuning_job, 1)
    flat = play(flat, [0.5] * 10)
    assert (flat.status, flat.epochs_run) == (status, epochs)
