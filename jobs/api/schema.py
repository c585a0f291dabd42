"""The API's error responses in the OpenAPI schema: one Error component, declared where it can occur.

drf-spectacular documents what each view returns on success. Errors come from
one exception handler (jobs.api.exceptions) in one shape, so they are declared
here in one place, by rule, instead of on every view: a client generated from
the schema then knows the error body as well as the success body.
"""

ERROR_COMPONENT = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Each bad input field, by path (`samples[3].epoch`), with its reasons.",
                },
            },
            "required": ["status", "code", "message"],
        }
    },
    "required": ["error"],
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _statuses(path: str, method: str) -> dict[str, str]:
    statuses = {
        "400": "Invalid input; `fields` names each bad field and why.",
        "401": "No credentials, or credentials that are not valid.",
        "403": "Authenticated, but not allowed (a viewer writing, a job token on another job, no permission to write).",
        "429": "Throttled; retry after the `Retry-After` header's seconds.",
    }
    statuses["404"] = "No such object, one the caller may not see, or a page past the last."
    if method in ("post", "put", "patch"):
        statuses["415"] = "A body in a media type the endpoint does not take."
    if "/trainer/" in path or path.endswith("/stop/"):
        statuses["409"] = "The job has ended; nothing more is accepted, nothing is left to stop."
    if path.endswith("/metrics/") and method == "post":
        statuses["413"] = "Too many samples in one batch; the message says the limit."
    return statuses


def add_error_responses(result, generator, request, public):
    """A drf-spectacular postprocessing hook: the Error component, and each operation's possible errors."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in _statuses(path, method).items():
                responses.setdefault(status, _error(description))
    return result
