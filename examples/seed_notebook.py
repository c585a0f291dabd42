"""The seed's notebook, cell by cell, with the SageMaker Python SDK v2, against Tuneboard.

The seed (AWS's blog post "Amazon SageMaker Automatic Model Tuning now supports early
stopping of training jobs") tunes the built-in image-classification algorithm twice,
early stopping Off and Auto, and compares the two tables of training jobs. Each cell is
a function here, holding the seed's code as it is written for SDK v2, whose only
changes are SDK v2's renames: `sagemaker.s3_input` is `TrainingInput`,
`get_image_uri(region, name)` is `image_uris.retrieve(name, region)`,
`train_instance_count`, `train_instance_type`, `train_volume_size`, `train_max_run` are
`instance_count`, `instance_type`, `volume_size`, `max_run`.

Nothing in the cells names Tuneboard. The first cell (`environment`) sets what a
notebook's first cell sets to reach any SageMaker: the endpoints and the key. The
training image is the one the SDK resolves for the built-in algorithm; Tuneboard's
`channel-classifier` example has it as an image URI alias (`manage.py register_examples`).

Run against a running Tuneboard (`make run`), see `--help` or docs/sagemaker-endpoint.md:

    make demo-notebook DEMO_ARGS="--start-s3"

tests/jobs/sagemaker/api/test_seed_notebook.py runs the same cells against a live Tuneboard
with real Celery workers and a moto S3 server, so this script cannot drift from what is
tested.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from time import gmtime, strftime
from urllib.parse import urlsplit

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
OBJECTIVE = "validation:accuracy"
# The digits of upload_dataset: 1,797 images, 20 % held out for validation.
TRAIN_IMAGES = 1437
VALIDATION_IMAGES = 360


# --- Cell 0: where SageMaker and S3 are --------------------------------------------------


def environment(*, tuneboard_url: str, s3_endpoint_url: str, access_key_id: str, secret_access_key: str) -> dict:
    """The variables a notebook's first cell sets (`os.environ.update(...)`): boto3, and so the
    SDK's default `sagemaker.Session()`, then sends SageMaker calls to Tuneboard and S3 calls to
    the S3 store."""
    return {
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_SAGEMAKER": f"{tuneboard_url.rstrip('/')}/sagemaker",
        "AWS_ENDPOINT_URL_S3": s3_endpoint_url,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


# --- The data, which the seed prepares in its notebook and the blog skips ------------------


def upload_dataset(bucket: str, prefix: str = "digits", s3=None) -> tuple[str, str]:
    """The 8x8 digit images bundled with scikit-learn as train and validation CSV files in S3
    (a label, then 64 pixels, per row): the seed's Caltech-256 in RecordIO, at laptop scale.
    `s3` is a boto3 S3 client for a store with keys of its own; by default the environment's.
    Returns the two channels' S3 prefixes."""
    import boto3
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels
    )
    s3 = s3 or boto3.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    for channel, x, y in (("train", x_train, y_train), ("validation", x_valid, y_valid)):
        body = io.StringIO()
        np.savetxt(body, np.column_stack([y, x]), fmt="%d", delimiter=",")
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{channel}/digits.csv", Body=body.getvalue().encode())
    return f"s3://{bucket}/{prefix}/train/", f"s3://{bucket}/{prefix}/validation/"


def training_image() -> str:
    """What the seed's `get_image_uri(region, 'image-classification')` is called in SDK v2."""
    from sagemaker import image_uris

    return image_uris.retrieve("image-classification", REGION)


# --- Cell 1: the estimator ---------------------------------------------------------------


def make_estimator(sess, image: str, bucket: str, *, epochs: int, epoch_seconds: float, train_rows: int):
    """The seed's estimator, every hyperparameter set except the three it tunes."""
    import sagemaker

    s3_output_key = "image-classification-full-training/output"
    s3_output = f"s3://{bucket}/{s3_output_key}/"
    imageclassification = sagemaker.estimator.Estimator(
        image,
        ROLE,
        instance_count=1,
        instance_type="ml.p3.2xlarge",
        volume_size=50,
        max_run=360000,
        input_mode="File",
        output_path=s3_output,
        sagemaker_session=sess,
    )
    imageclassification.set_hyperparameters(
        num_layers=18,
        image_shape="1,8,8",
        num_classes=10,
        num_training_samples=train_rows,
        epochs=epochs,
        # Tuneboard's stand-in trains in milliseconds; this pause makes an epoch last as an
        # epoch of Caltech-256 would, scaled down, so that early stopping saves time.
        epoch_seconds=epoch_seconds,
    )
    return imageclassification


# --- Cells 2 and 4: the tuning jobs, Off and Auto -------------------------------------------


def make_tuner(estimator, *, early_stopping_type: str, max_jobs: int, max_parallel_jobs: int, random_seed=None):
    """The seed's tuner: three ranges, the built-in algorithm's validation:accuracy objective."""
    from sagemaker.tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner, IntegerParameter

    hyperparameter_ranges = {
        "learning_rate": ContinuousParameter(0.00001, 1.0),
        "mini_batch_size": IntegerParameter(16, 64),
        "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop", "nag"]),
    }
    objective_metric_name = OBJECTIVE
    return HyperparameterTuner(
        estimator,
        objective_metric_name,
        hyperparameter_ranges,
        objective_type="Maximize",
        max_jobs=max_jobs,
        max_parallel_jobs=max_parallel_jobs,
        early_stopping_type=early_stopping_type,
        random_seed=random_seed,
    )


def tuning_job_name(suffix: str = "") -> str:
    return "imageclassif-job-{}{}".format(strftime("%d-%H-%M-%S", gmtime()), suffix)


def launch(tuner, name: str, s3_train_data: str, s3_validation_data: str, wait: bool = True) -> None:
    """`tuner.fit` with the two channels, as the seed calls it (SDK v2: TrainingInput).

    SDK v2's `fit` waits for the tuning job to end (`wait=True`, polling every 5 s), where
    the seed's SDK returned at once; `wait=False` and later `tuner.wait()` is the seed's flow.
    """
    from sagemaker.inputs import TrainingInput

    s3_input_train = TrainingInput(s3_data=s3_train_data, content_type="text/csv")
    s3_input_validation = TrainingInput(s3_data=s3_validation_data, content_type="text/csv")
    tuner.fit(
        {"train": s3_input_train, "validation": s3_input_validation},
        job_name=name,
        include_cls_metadata=False,
        wait=wait,
    )


# --- Cells 3, 5 and 6: the tables ---------------------------------------------------------


def results(name: str):
    """Every training job of the tuning job, best first (the seed shows `.head(5)`)."""
    import sagemaker

    tuner_metrics = sagemaker.HyperparameterTuningJobAnalytics(name)
    return tuner_metrics.dataframe().sort_values(["FinalObjectiveValue"], ascending=False)


def stopped(df):
    """The seed's last cell: the training jobs early stopping ended."""
    return df[df.TrainingJobStatus == "Stopped"]


@dataclass(frozen=True)
class Comparison:
    """What the seed reads off its two tables and the console: best objective, stopped jobs, training time."""

    best_off: float
    best_auto: float
    stopped_off: int
    stopped_auto: int
    training_seconds_off: float
    training_seconds_auto: float

    @property
    def saved_fraction(self) -> float:
        return 1 - self.training_seconds_auto / self.training_seconds_off

    def __str__(self) -> str:
        return (
            f"best {OBJECTIVE}: {self.best_off:.4f} (Off), {self.best_auto:.4f} (Auto)\n"
            f"stopped training jobs: {self.stopped_off} (Off), {self.stopped_auto} (Auto)\n"
            f"total training time: {self.training_seconds_off:.0f} s (Off), {self.training_seconds_auto:.0f} s (Auto),"
            f" {self.saved_fraction:.0%} saved"
        )


def compare(df_off, df_auto) -> Comparison:
    return Comparison(
        best_off=float(df_off.FinalObjectiveValue.max()),
        best_auto=float(df_auto.FinalObjectiveValue.max()),
        stopped_off=len(stopped(df_off)),
        stopped_auto=len(stopped(df_auto)),
        training_seconds_off=float(df_off.TrainingElapsedTimeSeconds.sum()),
        training_seconds_auto=float(df_auto.TrainingElapsedTimeSeconds.sum()),
    )


# --- After the seed: the best model --------------------------------------------------------


def best_model(tuner):
    """`tuner.best_estimator()`, and the same training job through `Estimator.attach`."""
    from sagemaker.estimator import Estimator

    best = tuner.best_estimator()
    return best, Estimator.attach(tuner.best_training_job())


# --- The script --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Comparison:
    """Every cell in the seed's order, printing what the notebook shows."""
    os.environ.update(
        environment(
            tuneboard_url=args.tuneboard,
            s3_endpoint_url=args.s3_endpoint,
            access_key_id=args.access_key_id,
            secret_access_key=args.secret_access_key,
        )
    )
    import boto3
    import sagemaker

    s3 = None
    if args.s3_access_key_id:
        s3 = boto3.client(
            "s3", aws_access_key_id=args.s3_access_key_id, aws_secret_access_key=args.s3_secret_access_key
        )
    s3_train_data, s3_validation_data = upload_dataset(args.bucket, s3=s3)
    print(f"data: {s3_train_data} and {s3_validation_data}")
    sess = sagemaker.Session()
    estimator = make_estimator(
        sess,
        training_image(),
        args.bucket,
        epochs=args.epochs,
        epoch_seconds=args.epoch_seconds,
        train_rows=TRAIN_IMAGES,
    )
    tuners, names = {}, {}
    for early_stopping_type, suffix in (("Off", ""), ("Auto", "-es")):
        tuners[early_stopping_type] = make_tuner(
            estimator, early_stopping_type=early_stopping_type, max_jobs=args.jobs, max_parallel_jobs=args.parallel
        )
        names[early_stopping_type] = tuning_job_name(suffix)
        launch(tuners[early_stopping_type], names[early_stopping_type], s3_train_data, s3_validation_data)
        print(f"launched {names[early_stopping_type]} (early stopping {early_stopping_type})")
    frames = {}
    for early_stopping_type, tuner in tuners.items():
        tuner.wait()
        frames[early_stopping_type] = results(names[early_stopping_type])
        print(f"\n{names[early_stopping_type]}, the top 5:")
        print(frames[early_stopping_type].head(5).to_string())
    print("\nstopped by early stopping:")
    print(stopped(frames["Auto"]).to_string())
    comparison = compare(frames["Off"], frames["Auto"])
    print(f"\n{comparison}")
    best, attached = best_model(tuners["Auto"])
    print(f"\nbest training job {attached.latest_training_job.name}: model at {attached.model_data}")
    return comparison


def start_s3(endpoint: str) -> subprocess.Popen:
    """moto's S3 server on the endpoint's port, for a demo without an S3 store of its own."""
    parts = urlsplit(endpoint)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", parts.hostname, "-p", str(parts.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"moto's server did not start at {endpoint}") from None
            time.sleep(0.2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The seed's notebook (tuning with early stopping Off and Auto) against a running Tuneboard.",
        epilog="Tuneboard's workers must reach the same S3 store: start it with TUNEBOARD_S3_ENDPOINT_URL set "
        "to --s3-endpoint (and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for that store).",
    )
    env = os.environ.get
    parser.add_argument("--tuneboard", default=env("TUNEBOARD_URL", "http://127.0.0.1:8000"), help="Tuneboard's URL")
    parser.add_argument(
        "--access-key-id",
        default=env("TUNEBOARD_ACCESS_KEY_ID"),
        help="a Tuneboard access key (manage.py create_access_key USER); default $TUNEBOARD_ACCESS_KEY_ID",
    )
    parser.add_argument(
        "--secret-access-key", default=env("TUNEBOARD_SECRET_ACCESS_KEY"), help="default $TUNEBOARD_SECRET_ACCESS_KEY"
    )
    parser.add_argument(
        "--s3-endpoint",
        default=env("TUNEBOARD_S3_ENDPOINT_URL") or "http://127.0.0.1:9000",
        help="the S3 store's URL; default $TUNEBOARD_S3_ENDPOINT_URL, else http://127.0.0.1:9000",
    )
    parser.add_argument(
        "--s3-access-key-id",
        default=env("DEMO_S3_ACCESS_KEY_ID"),
        help="the S3 store's own key, to upload the data with; default $DEMO_S3_ACCESS_KEY_ID, else the Tuneboard key",
    )
    parser.add_argument("--s3-secret-access-key", default=env("DEMO_S3_SECRET_ACCESS_KEY"))
    parser.add_argument("--start-s3", action="store_true", help="start moto's S3 server at --s3-endpoint meanwhile")
    parser.add_argument("--bucket", default="tuneboard-demo")
    parser.add_argument("--jobs", type=_positive, default=20, help="training jobs per tuning job (seed: 20)")
    parser.add_argument("--parallel", type=_positive, default=2, help="training jobs at once (seed: 2)")
    parser.add_argument("--epochs", type=_positive, default=10)
    parser.add_argument("--epoch-seconds", type=float, default=1.0, help="how long an epoch lasts")
    args = parser.parse_args(argv)
    if not (args.access_key_id and args.secret_access_key):
        parser.error(
            "give a Tuneboard access key: --access-key-id and --secret-access-key, or TUNEBOARD_ACCESS_KEY_ID "
            "and TUNEBOARD_SECRET_ACCESS_KEY (manage.py create_access_key USER prints one)"
        )
    if bool(args.s3_access_key_id) != bool(args.s3_secret_access_key):
        parser.error("give both --s3-access-key-id and --s3-secret-access-key, or neither")
    if urlsplit(args.s3_endpoint).port is None and args.start_s3:
        parser.error(f"--start-s3 needs a port in --s3-endpoint, got {args.s3_endpoint}")
    if args.epoch_seconds < 0:
        parser.error("--epoch-seconds must be at least 0")
    return args


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    s3 = start_s3(args.s3_endpoint) if args.start_s3 else None
    try:
        run(args)
    finally:
        if s3 is not None:
            s3.terminate()
            s3.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
