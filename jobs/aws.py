"""boto3 clients as settings configure them: region, endpoint URL and retries in one place.

The sagemaker backend, the SageMaker import and s3:// channels all get their
clients here, so pointing Tuneboard at LocalStack, moto or MinIO is a setting,
never a code change.
"""

import boto3
from botocore.config import Config
from django.conf import settings


def client(service_name: str):
    """A new client for `service_name`; boto3 clients are thread-safe but sessions are not."""
    endpoint_url = settings.TUNEBOARD_AWS_ENDPOINT_URL or None
    if service_name == "s3" and settings.TUNEBOARD_S3_ENDPOINT_URL:
        endpoint_url = settings.TUNEBOARD_S3_ENDPOINT_URL
    return boto3.session.Session().client(
        service_name,
        region_name=settings.TUNEBOARD_AWS_REGION,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": settings.TUNEBOARD_AWS_MAX_ATTEMPTS}),
    )
