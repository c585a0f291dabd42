"""s3:// channels and model artifacts of local training jobs, against a moto server over HTTP."""

import io
import tarfile
import urllib.request

import pytest
from django.urls import reverse

from jobs import aws, runner, services
from jobs.backends import s3
from jobs.config import validate_algorithm
from jobs.models import Algorithm, ObjectiveStatus, TrainingJobStatus
from tests.jobs.factories import tuning_job_config, write_program

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("aws")]

# Reads its channel the way SageMaker training code does, and saves a model.
PROGRAM = """
    import os, pathlib
    data = pathlib.Path(os.environ["SM_INPUT_DIR"]) / "data" / "train"
    rows = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    print("files:", ",".join(rows))
    lines = sum(len(p.read_text().splitlines()) for p in data.rglob("*.csv"))
    model = pathlib.Path(os.environ["SM_MODEL_DIR"])
    (model / "weights.txt").write_text(f"trained on {lines} rows")
    print(f"epoch=1 validation:accuracy={lines / 10}")
"""


@pytest.fixture
def client():
    return aws.client("s3")


@pytest.fixture
def data(client):
    client.create_bucket(Bucket="data")
    client.create_bucket(Bucket="models")
    client.put_object(Bucket="data", Key="train/part-0.csv", Body=b"1,2\n3,4\n")
    client.put_object(Bucket="data", Key="train/more/part-1.csv", Body=b"5,6\n")
    client.put_object(Bucket="data", Key="train/", Body=b"")  # a console-made "folder"
    return client


def object_bytes(client, uri):
    bucket, key = s3.parse_s3_uri(uri)
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


# --- helpers -----------------------------------------------------------------------


def test_a_prefix_downloads_with_its_layout_below_the_prefix(data, tmp_path):
    count = s3.download_channel(data, "s3://data/train", tmp_path / "train")

    assert count == 2
    assert (tmp_path / "train/part-0.csv").read_bytes() == b"1,2\n3,4\n"
    assert (tmp_path / "train/more/part-1.csv").read_bytes() == b"5,6\n"


def test_a_uri_naming_one_object_downloads_that_file(data, tmp_path):
    assert s3.download_channel(data, "s3://data/train/part-0.csv", tmp_path / "train") == 1
    assert (tmp_path / "train/part-0.csv").exists()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://data/nothing", "s3://data/nothing does not exist: no object has this key or prefix."),
        ("s3://no-such-bucket/train", "s3://no-such-bucket/train: NoSuchBucket: The specified bucket does not exist"),
        ("https://data/train", "'https://data/train' is not an S3 URI: use s3://bucket/prefix."),
    ],
)
def test_a_uri_that_cannot_be_downloaded_says_why(data, tmp_path, uri, message):
    with pytest.raises(s3.S3Error) as error:
        s3.download_channel(data, uri, tmp_path / "train")
    assert str(error.value) == message


def test_a_key_that_would_escape_the_channel_directory_is_refused(client, tmp_path):
    client.create_bucket(Bucket="data")
    client.put_object(Bucket="data", Key="evil/../../outside.txt", Body=b"x")

    with pytest.raises(s3.S3Error, match="outside the channel directory"):
        s3.download_channel(client, "s3://data/evil/", tmp_path / "deep" / "train")
    assert not (tmp_path / "outside.txt").exists()


def test_the_model_directory_is_uploaded_as_a_tar_gz_with_its_files_at_the_root(client, tmp_path):
    client.create_bucket(Bucket="models")
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01")
    (tmp_path / "model" / "sub" / "vocab.txt").write_text("a\nb\n")
    uri = s3.model_artifact_uri("s3://models/out/", "tj-1", "tj-1-001")

    assert s3.upload_model(client, tmp_path / "model", uri) == "s3://models/out/tj-1/tj-1-001/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(object_bytes(client, uri))) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/vocab.txt", "weights.bin"]


# --- local training jobs -----------------------------------------------------------


def local_training_job(tmp_path, django_capture_on_commit_callbacks, channels, output_path="s3://models/runs"):
    program = write_program(tmp_path, "train.py", PROGRAM)
    algorithm = Algorithm(
        name="quadratic",
        command=["python", str(program)],
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        input_channels=channels,
        sagemaker_config={"S3OutputPath": output_path} if output_path else {},
    )
    validate_algorithm(algorithm)
    algorithm.save()
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1))
        return services.tuning_job_advance(tuning_job_id=tuning_job.id)[0]


def execute(training_job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return runner.execute_training_job(training_job.id, worker_node="test@host")


def test_a_local_job_gets_its_channels_and_its_model_goes_to_s3(
    data, tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    training_job = local_training_job(tmp_path, django_capture_on_commit_callbacks, {"train": "s3://data/train"})

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.COMPLETED, job.failure_reason
    assert job.objective_status == ObjectiveStatus.SUCCEEDED
    assert job.final_objective_value == 0.3  # three rows were there to read
    assert "files: more/part-1.csv,part-0.csv" in (jobs_dir / "tj-1" / job.name / "training.log").read_text()
    assert job.model_artifact_uri == f"s3://models/runs/tj-1/{job.name}/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(object_bytes(data, job.model_artifact_uri))) as tar:
        assert tar.extractfile("weights.txt").read() == b"trained on 3 rows"


def test_a_channel_that_does_not_exist_fails_the_job_before_its_program_runs(
    data, tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    training_job = local_training_job(
        tmp_path, django_capture_on_commit_callbacks, {"train": "s3://data/train", "validation": "s3://data/valid"}
    )

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == (
        "ClientError: input channel 'validation': s3://data/valid does not exist: no object has this key or prefix."
    )
    assert not (jobs_dir / "tj-1" / job.name / "training.log").exists()


def test_a_model_that_cannot_be_uploaded_fails_the_job_as_on_sagemaker(
    data, tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    training_job = local_training_job(
        tmp_path, django_capture_on_commit_callbacks, {"train": "s3://data/train"}, output_path="s3://gone/runs"
    )

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason.startswith(
        f"ClientError: cannot upload the model to s3://gone/runs/tj-1/{job.name}/output/model.tar.gz: NoSuchBucket"
    )
    assert job.model_artifact_uri == ""


def test_the_training_job_page_shows_where_the_model_went(
    data, tmp_path, jobs_dir, django_capture_on_commit_callbacks, admin_client
):
    training_job = local_training_job(tmp_path, django_capture_on_commit_callbacks, {"train": "s3://data/train"})
    job = execute(training_job, django_capture_on_commit_callbacks)

    page = admin_client.get(reverse("training-job-detail", args=[job.name])).content.decode()

    assert f"<code>{job.model_artifact_uri}</code>" in page


def test_the_model_downloads_from_s3_through_a_short_lived_link(
    data, tmp_path, jobs_dir, django_capture_on_commit_callbacks, admin_client
):
    training_job = local_training_job(tmp_path, django_capture_on_commit_callbacks, {"train": "s3://data/train"})
    job = execute(training_job, django_capture_on_commit_callbacks)

    response = admin_client.get(reverse("training-job-model-download", args=[job.name]))

    assert response.status_code == 302
    link = response["Location"]
    assert f"/models/runs/tj-1/{job.name}/output/model.tar.gz?" in link and "Signature=" in link
    with urllib.request.urlopen(link, timeout=10) as answer:
        assert answer.read() == object_bytes(data, job.model_artifact_uri)
