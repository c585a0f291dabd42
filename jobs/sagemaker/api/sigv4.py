"""AWS Signature Version 4, checked on the receiving side.

The client (botocore) builds a canonical request, hashes it into a string to
sign, and HMACs that with a key derived from its secret, the date, the region
and the service. This module rebuilds the same canonical request from what
arrived and compares signatures; it knows nothing of Django, so it is tested
directly against botocore's signer.

Error codes and messages are AWS's, so that code written against SageMaker
recognises them.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from jobs.sagemaker.api.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# AWS refuses a signature made more than five minutes before or after its own clock:
# a captured request cannot be replayed later.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# botocore signs every one of these; a custom client must too.
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date", "x-amz-target")


@dataclass(frozen=True)
class SignedRequest:
    """What arrived: the path as sent (still percent-encoded), decoded query pairs, lower-cased headers, the body."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


def parse_authorization(header: str) -> Authorization:
    """Read `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'. Use {ALGORITHM}.")
    params = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            params[key] = value
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not params.get(name)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={header}"
        )
    credential = params["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{params['Credential']}'"
        )
    if credential[4] != TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{credential[4]}'."
        )
    return Authorization(
        access_key_id=credential[0],
        date=credential[1],
        region=credential[2],
        service=credential[3],
        signed_headers=params["SignedHeaders"].split(";"),
        signature=params["Signature"],
    )


def canonical_path(sent: str) -> str:
    """The path as botocore signs it: dot and empty segments removed, then the sent (encoded) path encoded again.

    SigV4 outside S3 encodes the already-encoded path a second time, which is
    why this needs the path as sent: "%2F" and "/" differ there, and a server
    that decoded the path can no longer tell them apart.
    """
    segments: list[str] = []
    for segment in sent.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normalized = "/" + "/".join(segments)
    if segments and sent.endswith("/"):
        normalized += "/"
    return quote(normalized, safe="/~")


def canonical_query(query: list[tuple[str, str]]) -> str:
    pairs = sorted((quote(key, safe="-_.~"), quote(value, safe="-_.~")) for key, value in query)
    return "&".join(f"{key}={value}" for key, value in pairs)


def canonical_request(request: SignedRequest, signed_headers: list[str], payload_hash: str) -> str:
    headers = "".join(f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in sorted(signed_headers))
    return "\n".join(
        [
            request.method.upper(),
            canonical_path(request.path),
            canonical_query(request.query),
            headers,
            ";".join(sorted(signed_headers)),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, auth: Authorization, amz_date: str, canonical: str) -> str:
    key = signing_key(secret, auth.date, auth.region, auth.service)
    return hmac.new(key, string_to_sign(amz_date, auth.scope, canonical).encode(), hashlib.sha256).hexdigest()


def verify(request: SignedRequest, secret_for: Callable[[str], str | None], now: datetime | None = None) -> str:
    """Check the request's SigV4 signature; return the access key id that signed it.

    `secret_for(access_key_id)` gives the key's secret, or None if there is
    no such active key. Raises the AWS authentication error that fits.
    """
    now = now or datetime.now(UTC)
    header = request.headers.get("authorization")
    if not header:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    auth = parse_authorization(header)
    amz_date = request.headers.get("x-amz-date")
    if not amz_date:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}"
        )
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    # The operation travels in X-Amz-Target, outside the body: unsigned, a captured
    # Describe could be replayed as a Stop within the clock-skew window.
    for required in REQUIRED_SIGNED_HEADERS:
        if required not in auth.signed_headers:
            raise InvalidSignatureException(f"'{required}' must be a 'SignedHeader' in the AWS Authorization.")
    if auth.service != SERVICE:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if auth.date != amz_date[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if signed_at < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + 5 min.)"
        )
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    payload_hash = hashlib.sha256(request.body).hexdigest()
    claimed = request.headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != payload_hash:
        # UNSIGNED-PAYLOAD lands here too: the body of an API call is always signed.
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    expected = signature(secret, auth, amz_date, canonical_request(request, auth.signed_headers, payload_hash))
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details."
        )
    return auth.access_key_id
