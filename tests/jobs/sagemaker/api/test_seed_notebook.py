"""The seed's notebook, cell by cell (examples/seed_notebook.py, what `make demo-notebook` runs), live.

daphne serves /sagemaker, real Celery workers run examples/channel_classifier.py as
registered by `register_examples`, and a moto server is the S3 store. The notebook's
default `sagemaker.Session()` finds both through the environment its first cell sets,
behind a dead proxy: nothing reaches AWS.
"""

import io
import pickle
import tarfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ProxyConnectionError
from django.core.management import call_command

from examples import seed_notebook
from jobs.management.commands.register_examples import EXAMPLES
from tests.jobs.sagemaker.api.conftest import sdk_environment

pytestmark = pytest.mark.integration

BUCKET = "notebook-data"
JOBS = 6


def test_the_seeds_notebook_off_and_auto(workers, static_root, people, monkeypatch, aws, aws_worker_env):
    call_command("register_examples", stdout=io.StringIO())
    workers.env.update(aws_worker_env)
    # Auto's own rule decides once 5 training jobs have ended, too late in a tuning job of 6;
    # SageMaker's documented median rule, selectable for Auto, decides once 3 have reached an epoch.
    workers.env["TUNEBOARD_EARLY_STOPPING_RULE"] = "sagemaker_median"
    workers.start_worker("control", 1)
    workers.start_worker("training", 4)
    url = workers.start_web(static_root)
    key = people[1]["alice"]
    sdk_environment(monkeypatch, url, key)
    cell_0 = seed_notebook.environment(
        tuneboard_url=url, s3_endpoint_url=aws, access_key_id=key.access_key_id, secret_access_key=key.secret
    )
    for name, value in cell_0.items():
        monkeypatch.setenv(name, value)
    # boto3's default session keeps the credentials of whichever test made it first; a notebook's
    # first cell runs before any session exists.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(ProxyConnectionError):
        boto3.client("sts", config=Config(retries={"max_attempts": 1})).get_caller_identity()

    import sagemaker

    s3_train_data, s3_validation_data = seed_notebook.upload_dataset(BUCKET)
    sess = sagemaker.Session()
    image = seed_notebook.training_image()
    assert [image] == next(e["image_uri_aliases"] for e in EXAMPLES if e["name"] == "channel-classifier")
    estimator = seed_notebook.make_estimator(
        sess, image, BUCKET, epochs=6, epoch_seconds=0.3, train_rows=seed_notebook.TRAIN_IMAGES
    )
    tuners = {
        early_stopping_type: seed_notebook.make_tuner(
            estimator, early_stopping_type=early_stopping_type, max_jobs=JOBS, max_parallel_jobs=2, random_seed=3
        )
        for early_stopping_type in ("Off", "Auto")
    }
    names = {"Off": seed_notebook.tuning_job_name(), "Auto": seed_notebook.tuning_job_name("-es")}
    # Both at once, then wait for each: the SDK's waits poll every 5 s, one after the other they add up.
    for early_stopping_type, tuner in tuners.items():
        seed_notebook.launch(tuner, names[early_stopping_type], s3_train_data, s3_validation_data, wait=False)
    for tuner in tuners.values():
        tuner.wait()
    frames = {early_stopping_type: seed_notebook.results(name) for early_stopping_type, name in names.items()}

    off, auto = frames["Off"], frames["Auto"]
    assert (len(off), len(auto)) == (JOBS, JOBS), workers.logs()
    assert set(off.TrainingJobStatus) == {"Completed"}, off.to_string()
    assert set(off.optimizer) <= {"sgd", "adam", "rmsprop", "nag"}
    assert off.FinalObjectiveValue.is_monotonic_decreasing
    comparison = seed_notebook.compare(off, auto)
    print(comparison)
    assert comparison.stopped_off == 0
    assert comparison.stopped_auto >= 1, auto.to_string()
    assert set(auto.TrainingJobStatus) == {"Completed", "Stopped"}
    # As in the seed: the stopped jobs are the poor ones, and the best is about as good.
    assert seed_notebook.stopped(auto).FinalObjectiveValue.max() < comparison.best_auto
    assert comparison.best_auto > 0.85 and comparison.best_off > 0.85

    best, attached = seed_notebook.best_model(tuners["Auto"])
    best_job = auto.iloc[0]["TrainingJobName"]
    assert attached.latest_training_job.name == best_job
    assert attached.image_uri == image
    model = f"s3://{BUCKET}/image-classification-full-training/output/{names['Auto']}/{best_job}/output/model.tar.gz"
    assert best.model_data == attached.model_data == model
    # The channels arrived: the model says what it learned from.
    archive = boto3.client("s3").get_object(Bucket=BUCKET, Key=model.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        trained = pickle.load(tar.extractfile("model.pkl"))
    assert trained["trained_on"] == {"train": seed_notebook.TRAIN_IMAGES, "validation": seed_notebook.VALIDATION_IMAGES}
