"""SigV4 verification against botocore's own signer: what boto3 signs, Tuneboard accepts, and nothing else."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jobs.sagemaker.api import sigv4
from jobs.sagemaker.api.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

KEY_ID = "AKIAEXAMPLEEXAMPLE00"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BODY = json.dumps({"HyperParameterTuningJobName": "tj-1"}).encode()


def signed(url="http://tuneboard:8000/sagemaker", body=BODY, secret=SECRET, service="sagemaker", region="us-east-1"):
    """A request as boto3 sends one: signed by botocore's SigV4Auth, now."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SageMaker.DescribeHyperParameterTuningJob",
        },
    )
    SigV4Auth(Credentials(KEY_ID, secret), service, region).add_auth(request)
    return request


def received(request: AWSRequest, **changes) -> sigv4.SignedRequest:
    """What a server reads from `request` (the path as sent, query decoded, headers lower-cased)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(request.url)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers.setdefault("host", parts.netloc)
    values = {
        "method": request.method,
        "path": parts.path,
        "query": parse_qsl(parts.query, keep_blank_values=True),
        "headers": headers,
        "body": request.body,
    }
    values.update(changes)
    return sigv4.SignedRequest(**values)


def secret_for(access_key_id):
    return SECRET if access_key_id == KEY_ID else None


def test_a_request_botocore_signed_is_accepted():
    assert sigv4.verify(received(signed()), secret_for) == KEY_ID


@pytest.mark.parametrize(
    "url",
    [
        "http://tuneboard:8000/sagemaker",
        "http://tuneboard:8000/sagemaker/",
        "http://tuneboard:8000/",
        "http://tuneboard:8000/prefix/sagemaker?b=2&a=1&a=0&empty=",
        "http://tuneboard:8000/a%20b/c%2Fd/./e/../sagemaker",
        "https://tuneboard/sagemaker?q=x%2By%20z~",
    ],
)
def test_the_canonical_request_is_botocores(url):
    request = signed(url=url)
    arrived = received(request)
    authorization = request.headers["Authorization"]
    del request.headers["Authorization"]
    botocores = SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").canonical_request(request)
    ours = sigv4.canonical_request(
        arrived,
        sigv4.parse_authorization(authorization).signed_headers,
        hashlib.sha256(request.body).hexdigest(),
    )
    assert ours == botocores
    assert sigv4.verify(arrived, secret_for) == KEY_ID


def test_an_unsigned_request_is_missing_its_token():
    request = received(signed())
    del request.headers["authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as error:
        sigv4.verify(request, secret_for)
    assert (error.value.status, error.value.message) == (403, "Missing Authentication Token")


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("AWS AKIA:abc", "Unsupported AWS 'algorithm': 'AWS'"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab", "requires 'Credential' parameter"),
        (f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/sagemaker/aws4_request", "'Signature'"),
        ("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=ab", "exactly 5 slash-delimited"),
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(authorization, expected):
    request = received(signed())
    request.headers["authorization"] = authorization
    with pytest.raises(IncompleteSignatureException) as error:
        sigv4.verify(request, secret_for)
    assert expected in error.value.message
    assert error.value.status == 400


def test_a_key_nobody_issued_is_unrecognized():
    with pytest.raises(UnrecognizedClientException) as error:
        sigv4.verify(received(signed()), lambda key: None)
    assert error.value.message == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda r: received(r, body=r.body + b" "), "does not match the signature you provided"),
        (lambda r: received(r, method="PUT"), "does not match the signature you provided"),
        (lambda r: received(r, path="/other"), "does not match the signature you provided"),
        (
            lambda r: received(r, headers={**received(r).headers, "x-amz-target": "SageMaker.StopTrainingJob"}),
            "does not match the signature you provided",
        ),
        (
            lambda r: received(r, headers={**received(r).headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
            "'x-amz-content-sha256' header does not match",
        ),
    ],
)
def test_a_changed_request_fails_the_signature(tamper, expected):
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(tamper(signed()), secret_for)
    assert expected in error.value.message
    assert error.value.status == 403


def test_the_wrong_secret_fails_the_signature():
    with pytest.raises(InvalidSignatureException):
        sigv4.verify(received(signed(secret="not-the-secret")), secret_for)


def test_a_signature_for_another_service_is_refused():
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(received(signed(service="s3")), secret_for)
    assert "scoped to correct service: 'sagemaker'" in error.value.message


def test_any_region_the_client_chose_is_accepted():
    assert sigv4.verify(received(signed(region="eu-west-3")), secret_for) == KEY_ID


def test_a_signature_older_or_newer_than_five_minutes_is_refused():
    request = received(signed())
    signed_at = datetime.strptime(request.headers["x-amz-date"], sigv4.AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    assert sigv4.verify(request, secret_for, now=signed_at + timedelta(minutes=4)) == KEY_ID
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(request, secret_for, now=signed_at + timedelta(minutes=6))
    assert error.value.message.startswith(f"Signature expired: {request.headers['x-amz-date']} is now earlier than")
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(request, secret_for, now=signed_at - timedelta(minutes=6))
    assert error.value.message.startswith("Signature not yet current")


def test_the_scope_date_must_be_the_request_date():
    request = received(signed())
    stamp = request.headers["x-amz-date"]
    request.headers["x-amz-date"] = "20200101" + stamp[8:]
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(request, secret_for, now=datetime(2020, 1, 1, int(stamp[9:11]), tzinfo=UTC))
    assert "Date in Credential scope does not match" in error.value.message


def test_a_request_without_x_amz_date_is_incomplete():
    request = received(signed())
    del request.headers["x-amz-date"]
    with pytest.raises(IncompleteSignatureException):
        sigv4.verify(request, secret_for)


def test_host_must_be_signed():
    request = received(signed())
    request.headers["authorization"] = request.headers["authorization"].replace("host;", "")
    with pytest.raises(InvalidSignatureException) as error:
        sigv4.verify(request, secret_for)
    assert "'host' must be a 'SignedHeader'" in error.value.message


class SignerSkippingTheTarget(SigV4Auth):
    """A custom client that leaves X-Amz-Target out of the signed headers, as some hand-written signers do."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        del headers["x-amz-target"]
        return headers


def test_x_amz_target_must_be_signed_so_a_describe_cannot_be_replayed_as_a_stop():
    request = AWSRequest(
        method="POST",
        url="http://tuneboard:8000/sagemaker",
        data=BODY,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SageMaker.DescribeHyperParameterTuningJob",
        },
    )
    SignerSkippingTheTarget(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    assert "SignedHeaders=content-type;host;x-amz-date," in request.headers["Authorization"]
    replayed = received(request)
    replayed.headers["x-amz-target"] = "SageMaker.StopHyperParameterTuningJob"
    for attempt in (received(request), replayed):
        with pytest.raises(InvalidSignatureException) as error:
            sigv4.verify(attempt, secret_for)
        assert "'x-amz-target' must be a 'SignedHeader'" in error.value.message
