"""One JSON shape for every API error, and domain errors mapped to HTTP in one place.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"max_training_jobs": ["..."]}}}

`fields` is present when the error concerns named input fields. A service's
django ValidationError is a 400 naming the fields; an object the caller may
not see is a 404, whether or not it exists.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    response.data = {"error": _error_body(exc, response)}
    return response


def _error_body(exc, response) -> dict:
    body = {"status": response.status_code, "code": _code(exc), "message": _message(exc)}
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body["fields"] = _flatten(fields)
        body["message"] = "Invalid input: " + "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in body["fields"].items()
        )
    return body


def _code(exc) -> str:
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    return codes if isinstance(codes, str) else "invalid"


def _message(exc) -> str:
    detail = getattr(exc, "detail", None)
    return str(detail) if isinstance(detail, str) else str(exc)


def _flatten(detail, prefix="") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"a.b[0].c": [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or str(key).isdigit():
                name = f"{prefix}[{key}]"  # DRF keys list items by index
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        flat[prefix or "non_field_errors"] = [str(item) for item in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                flat.update(_flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat
