"""s3:// input channels and model artifacts, with whatever S3 client the caller built.

Django-free like the other backends: the caller passes a boto3 S3 client, so the
same code talks to AWS, MinIO or a moto server. Every failure becomes an
`S3Error` whose message names the URI and says what is wrong, because that
message ends up as the training job's failure reason.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

# SageMaker's Channel.ChannelName.
CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9.\-_]{1,64}\Z"
# Bucket names as S3 allows them (3 to 63 lowercase letters, digits, dots, hyphens).
_S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?\Z")

MODEL_ARCHIVE_NAME = "model.tar.gz"


class S3Error(Exception):
    """An s3:// URI that cannot be used; the message is meant for the user."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI; the key may be empty."""
    match = _S3_URI_RE.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise S3Error(f"{uri!r} is not an S3 URI: use s3://bucket/prefix.")
    return match["bucket"], match["key"] or ""


def download_channel(client, uri: str, destination: Path, on_object: Callable[[], None] | None = None) -> int:
    """Copy every object under `uri` into `destination`, as SageMaker's S3Prefix channels do.

    An object's path below the prefix is kept; a URI naming one object lands as
    that file. A prefix with no objects is an error rather than an empty
    channel, because it is almost always a typo that would otherwise surface
    as a puzzling failure of the training program. `on_object` is called after
    each file, so a long download can keep the job's heartbeat going. Returns
    the number of files.
    """
    bucket, prefix = parse_s3_uri(uri)
    root = destination.resolve()
    root.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue  # a "folder" marker, not data
                relative = key[len(prefix) :].lstrip("/") or PurePosixPath(key).name
                target = (root / relative).resolve()
                if not target.is_relative_to(root):
                    raise S3Error(f"{uri}: object {key!r} would be written outside the channel directory.")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, key, str(target))
                count += 1
                if on_object is not None:
                    on_object()
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"{uri}: {describe_error(exc)}") from exc
    if count == 0:
        raise S3Error(f"{uri} does not exist: no object has this key or prefix.")
    return count


def prefix_exists(client, uri: str) -> bool:
    """True if at least one object lies under `uri` (a missing bucket raises S3Error)."""
    bucket, prefix = parse_s3_uri(uri)
    try:
        response = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"{uri}: {describe_error(exc)}") from exc
    return response.get("KeyCount", 0) > 0


def model_artifact_uri(output_path: str, *parts: str) -> str:
    """<output_path>/<parts...>/output/model.tar.gz, where SageMaker puts a job's model."""
    parse_s3_uri(output_path)
    return "/".join([output_path.rstrip("/"), *parts, "output", MODEL_ARCHIVE_NAME])


def pack_model(model_dir: Path, archive: Path) -> Path:
    """`model_dir`'s contents as the gzipped tar `archive`, at its root, as SageMaker packs /opt/ml/model."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()) if model_dir.is_dir() else []:
            tar.add(path, arcname=path.name)
    return archive


def upload_model(client, model_dir: Path, uri: str) -> str:
    """Pack `model_dir` into model.tar.gz (its contents at the archive's root, as SageMaker
    packs /opt/ml/model) and upload it to `uri`; returns `uri`."""
    bucket, key = parse_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        archive = pack_model(model_dir, Path(scratch) / MODEL_ARCHIVE_NAME)
        try:
            client.upload_file(str(archive), bucket, key)
        except S3UploadFailedError as exc:
            # boto3's transfer manager wraps the service's error; say that one.
            cause = exc.__cause__ or exc.__context__
            reason = describe_error(cause) if isinstance(cause, ClientError | BotoCoreError) else str(exc)
            raise S3Error(f"cannot upload the model to {uri}: {reason}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise S3Error(f"cannot upload the model to {uri}: {describe_error(exc)}") from exc
    return uri


def describe_error(exc: Exception) -> str:
    """'Code: message' for an AWS error, the way SageMaker words failure reasons."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "ClientError")
        message = error.get("Message") or _S3_CODE_MESSAGES.get(code, "")
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"


# S3 answers HEAD-style and some GET errors without a body, so only the code arrives.
_S3_CODE_MESSAGES = {
    "404": "Not Found",
    "403": "Forbidden",
    "NoSuchBucket": "The specified bucket does not exist",
}
