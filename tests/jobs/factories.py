"""Small builders for the objects most tests need."""

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

# Re-exported (the redundant aliases say so): many tests take them from here.
from bench.stack import CONVERGING_PROGRAM as CONVERGING_PROGRAM
from bench.stack import write_program as write_program
from jobs import services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.config import TuningJobConfig
from jobs.models import Backend, TuningJob

LEARNING_RATE = {"name": "learning_rate", "type": "Continuous", "min_value": 1e-4, "max_value": 1.0,
                 "scaling_type": "Logarithmic"}  # fmt: skip
OPTIMIZER = {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam"]}
# SageMaker's SupportedHyperParameters for the default tuning job's two ranges and a static epochs.
SUPPORTED_HYPERPARAMETERS = [
    {"Name": "learning_rate", "Type": "Continuous", "IsTunable": True,
     "Range": {"ContinuousParameterRangeSpecification": {"MinValue": "0.00001", "MaxValue": "1"}}},
    {"Name": "optimizer", "Type": "Categorical", "IsTunable": True,
     "Range": {"CategoricalParameterRangeSpecification": {"Values": ["sgd", "adam", "rmsprop"]}}},
    {"Name": "epochs", "Type": "Integer", "IsTunable": False,
     "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1", "MaxValue": "100"}}},
]  # fmt: skip


def register_algorithm(name="quadratic", program: Path | None = None, metrics=("validation:accuracy",), **kwargs):
    """An algorithm whose command runs `program` (or a no-op) with this interpreter."""
    command = [sys.executable, str(program)] if program else [sys.executable, "-c", "pass"]
    return services.algorithm_register(
        name=name,
        command=command,
        metric_definitions=[{"Name": m, "Regex": rf"{m}=(\S+)"} for m in metrics],
        **kwargs,
    )


def external_tuning_job(
    *, algorithm_name="remote", metrics=("validation:accuracy",), advance=True, **overrides
) -> TuningJob:
    """A tuning job in team vision whose training jobs outside trainers claim, with early stopping Auto.

    `metrics` are the names the trainers may report; `advance` launches the
    first training jobs (so that there is something to claim).
    """
    services.algorithm_register(
        name=algorithm_name,
        command=[],
        metric_definitions=[{"Name": m, "Regex": rf"{m}=(\S+)"} for m in metrics],
        backend=Backend.EXTERNAL,
    )
    values = {"team_name": "vision", "early_stopping_type": "Auto", "max_parallel_training_jobs": 4, **overrides}
    tuning_job = services.tuning_job_create(config=tuning_job_config(algorithm_name=algorithm_name, **values))
    if advance:
        services.tuning_job_advance(tuning_job_id=tuning_job.id)
    return tuning_job


def run(training_job, values, outcome=Outcome.COMPLETED, **result):
    """Play a training run: claim, report `values` one per epoch, finish."""
    assert services.training_job_start(training_job_id=training_job.id, worker="w@host:1", log_path="")
    records = [
        MetricRecord("validation:accuracy", epoch, value, datetime.now(UTC)) for epoch, value in enumerate(values, 1)
    ]
    services.training_job_record_metrics(training_job_id=training_job.id, records=records)
    return services.training_job_finish(
        training_job_id=training_job.id, result=RunResult(outcome=outcome, exit_code=0, **result)
    )


def tuning_job_config(**overrides) -> TuningJobConfig:
    values = {
        "name": "tj-1",
        "algorithm_name": "quadratic",
        "objective_metric_name": "validation:accuracy",
        "objective_type": "Maximize",
        "parameter_ranges": [LEARNING_RATE, OPTIMIZER],
        "max_training_jobs": 4,
        "max_parallel_training_jobs": 2,
        "random_seed": 7,
    }
    values.update(overrides)
    return TuningJobConfig(**values)


def descendants_spawner(pids_path: str) -> str:
    """Source of a program that starts a helper and a daemon, the way daemons are made: a
    child that starts a setsid() grandchild (out of the job's process group) and exits, so
    the grandchild is an orphan. It writes [its own pid, the helper's, the daemon's] to the
    file `pids_path` names (a Python expression the program evaluates), atomically."""
    return textwrap.dedent(f"""
        import json, os, subprocess, sys, time
        sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
        helper = subprocess.Popen(sleeper)
        start_daemon = "import subprocess, sys; print(subprocess.Popen(sys.argv[1:], start_new_session=True).pid)"
        starter = subprocess.Popen([sys.executable, "-c", start_daemon, *sleeper], stdout=subprocess.PIPE, text=True)
        daemon = int(starter.stdout.readline())
        starter.wait()
        pids_path = {pids_path}
        with open(pids_path + ".tmp", "w") as f:
            json.dump([os.getpid(), helper.pid, daemon], f)
        os.rename(pids_path + ".tmp", pids_path)
    """)
