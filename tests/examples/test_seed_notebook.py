"""examples/seed_notebook.py as the script `make demo-notebook` runs; its cells run live in
tests/jobs/sagemaker/api/test_seed_notebook.py."""

import subprocess
import sys
from pathlib import Path

import pytest

from examples import seed_notebook

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "seed_notebook.py"


@pytest.fixture
def no_settings(monkeypatch):
    for name in ("URL", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "S3_ENDPOINT_URL"):
        monkeypatch.delenv(f"TUNEBOARD_{name}", raising=False)
    for name in ("DEMO_S3_ACCESS_KEY_ID", "DEMO_S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_script_runs_and_explains_itself():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "--start-s3" in done.stdout and "TUNEBOARD_S3_ENDPOINT_URL" in done.stdout


def test_settings_come_from_the_environment_the_server_uses(no_settings, monkeypatch):
    monkeypatch.setenv("TUNEBOARD_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01")
    monkeypatch.setenv("TUNEBOARD_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("TUNEBOARD_S3_ENDPOINT_URL", "http://minio:9000")

    args = seed_notebook.parse_args([])

    assert (args.tuneboard, args.s3_endpoint, args.jobs, args.parallel) == (
        "http://127.0.0.1:8000",
        "http://minio:9000",
        20,
        2,
    )
    assert seed_notebook.environment(
        tuneboard_url="http://tb:8000/",
        s3_endpoint_url=args.s3_endpoint,
        access_key_id=args.access_key_id,
        secret_access_key=args.secret_access_key,
    ) == {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE01",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://tb:8000/sagemaker",
        "AWS_ENDPOINT_URL_S3": "http://minio:9000",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a Tuneboard access key"),
        (["--access-key-id", "a", "--secret-access-key", "s", "--jobs", "0"], "must be at least 1, got 0"),
        (["--access-key-id", "a", "--secret-access-key", "s", "--epoch-seconds", "-1"], "at least 0"),
        (["--access-key-id", "a", "--secret-access-key", "s", "--s3-access-key-id", "m"], "give both"),
        (
            ["--access-key-id", "a", "--secret-access-key", "s", "--start-s3", "--s3-endpoint", "http://s3"],
            "--start-s3 needs a port",
        ),
    ],
)
def test_bad_arguments_exit_2_saying_why(no_settings, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        seed_notebook.parse_args(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
