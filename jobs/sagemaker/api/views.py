"""The /sagemaker endpoint: AWS JSON 1.1 in, SigV4 checked, one operation, AWS JSON 1.1 out.

Sessions and CSRF play no part: every request carries its own signature,
and a browser's cookies must never act for it.
"""

import json
import math
import uuid
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.throttling import SimpleRateThrottle

from jobs import jsonbody, services
from jobs.models import AccessKey
from jobs.sagemaker.api import sigv4
from jobs.sagemaker.api.errors import (
    RequestTooLarge,
    SageMakerError,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
    ValidationException,
)
from jobs.sagemaker.api.operations import OPERATIONS, Caller
from jobs.sagemaker.validation import error_message, service_model, validate
from jobs.services.access_keys import decrypt_secret

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."


def _wire(value):
    """AWS JSON 1.1's encodings: timestamps in seconds since the epoch, non-finite doubles as strings."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


def _response(body: dict, status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(_wire(body), allow_nan=False), status=status, content_type=CONTENT_TYPE)
    response["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _path_as_sent(request: HttpRequest) -> str:
    """The percent-encoded path the client signed: ASGI servers keep it; otherwise re-encode the decoded one."""
    raw = getattr(request, "scope", {}).get("raw_path")
    if raw:
        return raw.decode("latin-1").split("?", 1)[0]
    return quote(request.path, safe="/~")


def _authenticate(request: HttpRequest) -> Caller:
    keys: dict[str, AccessKey] = {}

    def secret_for(access_key_id: str) -> str | None:
        key = (
            AccessKey.objects.select_related("user", "team")
            .filter(access_key_id=access_key_id, revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if key is None:
            return None
        keys[access_key_id] = key
        return decrypt_secret(key.encrypted_secret)

    signed = sigv4.SignedRequest(
        method=request.method,
        path=_path_as_sent(request),
        query=[(key, value) for key, values in request.GET.lists() for value in values],
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
    )
    access_key_id = sigv4.verify(signed, secret_for)
    key = keys[access_key_id]
    services.access_key_mark_used(access_key_id=access_key_id)
    return Caller(user=key.user, team=key.team, access_key_id=access_key_id)


class AccessKeyRateThrottle(SimpleRateThrottle):
    """Requests per access key, counted in the shared cache (Redis), so every web process counts the same."""

    scope = "sagemaker"

    def get_rate(self):
        return settings.TUNEBOARD_SAGEMAKER_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": view.access_key_id}


def _throttle(request: HttpRequest, caller: Caller) -> None:
    # SimpleRateThrottle only reads the view for get_cache_key: the caller stands in for one.
    if not AccessKeyRateThrottle().allow_request(request, caller):
        raise ThrottlingException("Rate exceeded")


def _operation_name(request: HttpRequest) -> str:
    target = request.headers.get("X-Amz-Target", "")
    name = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
    if name not in OPERATIONS:
        supported = ", ".join(sorted(OPERATIONS))
        raise UnknownOperationException(
            f"Unknown operation {target or '(no X-Amz-Target header)'}. Tuneboard answers: {supported}."
        )
    return name


def _body(request: HttpRequest) -> dict:
    content_type = request.content_type or ""
    if content_type not in (CONTENT_TYPE, "application/x-amz-json-1.0", "application/json"):
        raise SerializationException(f"Expected Content-Type {CONTENT_TYPE}, got {content_type or 'none'}.")
    if not request.body:
        return {}
    try:
        body = jsonbody.loads(request.body)
    except jsonbody.JSONBodyError as exc:
        raise SerializationException(str(exc)) from None
    if not isinstance(body, dict):
        raise SerializationException("The request body must be a JSON object.")
    return body


def _read_body(request: HttpRequest) -> None:
    """Read the body once, here, so that one over DATA_UPLOAD_MAX_MEMORY_SIZE is an AWS error, not Django's page."""
    try:
        request.body  # noqa: B018 (reading it is the point: Django refuses one too large here)
    except RequestDataTooBig:
        raise RequestTooLarge(
            f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes this endpoint accepts."
        ) from None


@csrf_exempt
def endpoint(request: HttpRequest) -> HttpResponse:
    try:
        if request.method != "POST":
            raise UnknownOperationException("The SageMaker API takes POST requests.")
        _read_body(request)
        caller = _authenticate(request)
        _throttle(request, caller)
        name = _operation_name(request)
        body = _body(request)
        errors = validate(service_model().operation_model(name).input_shape, body)
        if errors:
            raise ValidationException(error_message(errors))
        return _response(OPERATIONS[name](caller, body))
    except SageMakerError as error:
        return _response(error.body(), status=error.status)
