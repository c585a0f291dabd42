"""Checking a request body against botocore's SageMaker service model, as SageMaker does.

This is the one shape check of every SageMaker request body Tuneboard reads:
the /sagemaker endpoint's, the create_tuning_job command's and launch_demo's
(jobs.sagemaker.shapes.parse_create_tuning_job). Tuneboard's own rules come
after it, worded the same way.

Messages follow SageMaker's: "2 validation errors detected: Value 'x' at
'hyperParameterTuningJobName' failed to satisfy constraint: Member must
satisfy regular expression pattern: ...; Value null at ...". Member paths are
lowerCamelCase and list items are "<list>.<n>.member", 1-based, as AWS writes
them, so a message names the member a boto3 user passed.
"""

import functools
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.session
import re2
from botocore.model import ServiceModel, Shape

MAX_REPORTED_ERRORS = 10


@functools.cache
def service_model() -> ServiceModel:
    """botocore's SageMaker model: the same file boto3 clients serialize requests with."""
    return botocore.session.get_session().get_service_model("sagemaker")


def member_path(parent: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{parent}.{member}" if parent else member


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return f"'{json.dumps(value, separators=(',', ':'))[:200]}'"
    return f"'{value}'"


@dataclass(frozen=True)
class Violation:
    """One way a body breaks its shape: the member's value, its path as AWS writes it, and the constraint."""

    value: Any
    path: str
    constraint: str

    def __str__(self) -> str:
        return f"Value {show_value(self.value)} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def violation(value: Any, path: str, constraint: str) -> str:
    """One error of a ValidationException's message, in SageMaker's words."""
    return str(Violation(value, path, constraint))


class _Collector:
    def __init__(self):
        self.violations: list[Violation] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.violations.append(Violation(value, path, constraint))


def violations(shape: Shape, body: Any) -> list[Violation]:
    """Every way `body` breaks `shape` (empty when it fits)."""
    collector = _Collector()
    _check(shape, body, "", collector)
    return collector.violations


def validate(shape: Shape, body: Any) -> list[str]:
    """Every way `body` breaks `shape`, as SageMaker words them (empty when it fits)."""
    return [str(found) for found in violations(shape, body)]


def value_at(body: Any, path: str) -> Any:
    """The value at a member path as AWS writes it ("a.b.2.member.c"); None where there is none."""
    value = body
    for step in path.split("."):
        if step == "member":
            continue
        if isinstance(value, list) and step.isdigit():
            index = int(step) - 1
            value = value[index] if 0 <= index < len(value) else None
        elif isinstance(value, dict):
            value = next((item for key, item in value.items() if member_path("", key) == step), None)
        else:
            return None
    return value


def error_message(errors: list[str]) -> str:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors[:MAX_REPORTED_ERRORS])


def _check(shape: Shape, value: Any, path: str, collector: _Collector) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, collector)
    elif kind == "list":
        if not isinstance(value, list):
            collector.fail(value, path, "Member must be a list")
            return
        _check_bounds(shape, value, len(value), "length", path, collector)
        for index, item in enumerate(value, start=1):
            item_path = f"{path}.{index}.member"
            if item is None:
                collector.fail(item, item_path, "Member must not be null")
            else:
                _check(shape.member, item, item_path, collector)
    elif kind == "map":
        if not isinstance(value, dict):
            collector.fail(value, path, "Member must be a map")
            return
        _check_bounds(shape, value, len(value), "length", path, collector)
        for key, item in value.items():
            key_errors = [found.constraint for found in violations(shape.key, key)]
            if key_errors:
                collector.fail(key, path, f"Map keys must satisfy constraint: [{', '.join(key_errors)}]")
            item_errors = (
                [found.constraint for found in violations(shape.value, item)]
                if item is not None
                else ["Member must not be null"]
            )
            if item_errors:
                collector.fail(item, path, f"Map value must satisfy constraint: [{', '.join(item_errors)}]")
    elif kind == "string":
        if not isinstance(value, str):
            collector.fail(value, path, "Member must be a string")
            return
        _check_bounds(shape, value, len(value), "length", path, collector)
        _check_pattern(shape, value, path, collector)
        if shape.enum and value not in shape.enum:
            collector.fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            collector.fail(value, path, f"Member must be an {kind}")
            return
        _check_bounds(shape, value, value, "value", path, collector)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            collector.fail(value, path, "Member must be a number")
            return
        _check_bounds(shape, value, value, "value", path, collector)
    elif kind == "boolean":
        if not isinstance(value, bool):
            collector.fail(value, path, "Member must be a boolean")
    elif kind == "timestamp":
        if parse_timestamp(value) is None:
            collector.fail(value, path, "Member must be a timestamp (seconds since the epoch)")
    elif kind == "blob" and not isinstance(value, str):
        collector.fail(value, path, "Member must be base64-encoded")


def _check_structure(shape: Shape, value: Any, path: str, collector: _Collector) -> None:
    if not isinstance(value, dict):
        collector.fail(value, path or "(body)", "Member must be a structure")
        return
    if shape.metadata.get("document"):
        return
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            collector.fail(None, member_path(path, name), "Member must not be null")
    for name, item in value.items():
        item_path = member_path(path, name)
        if name not in members:
            collector.fail(item, item_path, "Member is not part of the SageMaker API")
        elif item is not None:
            _check(members[name], item, item_path, collector)
    if shape.metadata.get("union") and sum(item is not None for item in value.values()) != 1:
        collector.fail(value, path or "(body)", "Member must set exactly one of its members")


def _check_bounds(shape: Shape, value: Any, measure: float, what: str, path: str, collector: _Collector) -> None:
    """The shape's min/max, which botocore's model gives for a string's or list's length and for a number's value."""
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if maximum is not None and measure > maximum:
        collector.fail(value, path, f"Member must have {what} less than or equal to {maximum}")
    if minimum is not None and measure < minimum:
        collector.fail(value, path, f"Member must have {what} greater than or equal to {minimum}")


def _check_pattern(shape: Shape, value: str, path: str, collector: _Collector) -> None:
    pattern = shape.metadata.get("pattern")
    regex = _compile(pattern) if pattern else None
    if regex is not None and not regex.fullmatch(value):
        collector.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")


@functools.cache
def _compile(pattern: str):
    """The model's Java regex in Python; RE2 for Unicode classes such as \\p{L} (Tag keys), which Python's
    re cannot read; None for what neither reads (those go unchecked)."""
    try:
        return re.compile(pattern)
    except re.error:
        pass
    try:
        return re2.compile(pattern)
    except re2.error:
        return None


def parse_timestamp(value: Any) -> datetime | None:
    """A timestamp member as botocore sends it on the JSON protocol: seconds since the epoch."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
