"""The seed's tuning job through the SageMaker Python SDK v3, against a live Tuneboard.

SDK v3 needs sagemaker-core 2.x, SDK v2 (the suite's) 1.x, so examples/seed_notebook_v3.py
runs in an environment of its own: `make test-sdk-v3` makes it (requirements-sdk-v3.txt)
and names its Python in TUNEBOARD_SDK_V3_PYTHON; without that variable this test is skipped.
"""

import io
import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command

from examples import seed_notebook
from jobs import aws
from tests.jobs.sagemaker.api.conftest import sagemaker_client

pytestmark = pytest.mark.integration

SDK_V3_PYTHON = os.environ.get("TUNEBOARD_SDK_V3_PYTHON", "")
SCRIPT = Path(__file__).resolve().parents[4] / "examples" / "seed_notebook_v3.py"
BUCKET = "sdk-v3-data"


@pytest.mark.skipif(not SDK_V3_PYTHON, reason="SDK v3 runs in its own environment: make test-sdk-v3")
def test_sdk_v3_tunes_the_seeds_job(workers, static_root, people, monkeypatch, aws_worker_env):
    call_command("register_examples", stdout=io.StringIO())
    workers.env.update(aws_worker_env)
    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    url = workers.start_web(static_root)
    key = people[1]["alice"]
    moto = aws_worker_env["TUNEBOARD_AWS_ENDPOINT_URL"]
    notebook = seed_notebook.environment(
        tuneboard_url=url, s3_endpoint_url=moto, access_key_id=key.access_key_id, secret_access_key=key.secret
    )
    for name, value in notebook.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    train, validation = seed_notebook.upload_dataset(BUCKET)

    dead_proxy = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **notebook, **dead_proxy}
    environment["SAGEMAKER_VALIDATE_ROLE"] = "false"
    # argv of the script: the seed's tuning job at test size.
    argv = ["--job-name", "sdk-v3", "--train", train, "--validation", validation]
    argv += ["--output", f"s3://{BUCKET}/output/", "--jobs", "4", "--parallel", "2", "--epochs", "3"]
    done = subprocess.run(
        [SDK_V3_PYTHON, str(SCRIPT), *argv], env=environment, capture_output=True, text=True, timeout=240
    )

    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{workers.logs()}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    best, rows = lines[0]["best_training_job"], lines[1:]
    assert [row["TrainingJobStatus"] for row in rows] == ["Completed"] * 4
    assert rows[0]["TrainingJobName"] == best
    assert {"learning_rate", "mini_batch_size", "optimizer", "FinalObjectiveValue"} <= set(rows[0])

    described = sagemaker_client(url, key).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="sdk-v3")
    definition = described["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == seed_notebook.training_image()
    assert [channel["ChannelName"] for channel in definition["InputDataConfig"]] == ["train", "validation"]
    model = f"output/sdk-v3/{best}/output/model.tar.gz"
    assert aws.client("s3").head_object(Bucket=BUCKET, Key=model)["ContentLength"] > 0
