"""Turn training log lines into metric records, the way SageMaker reads training logs.

An algorithm reports metrics by printing them. Each metric definition is a name and a
regex whose first capture group is the value; SageMaker *searches* every log line with
every definition, so one line may carry several metrics and the regex need not match
the whole line. We keep those semantics so algorithms and metric definitions written
for SageMaker work here unchanged.

The regexes are RE2's, not Python's: RE2 matches in time linear in the line, so
no expression, however written, can hang a worker on a line crafted (or printed by
accident) to make a backtracking engine explode, such as `(a+)+$` on "aaa...ab".
The price is RE2's syntax: no backreferences and no lookaround, refused when the
algorithm is registered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import re2

# An expression RE2 refuses is reported to the user as a field error; RE2's own log
# line on stderr would only be noise in the worker's log.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False

# A line that names its epoch wins over counting: a program that logs only every few
# epochs, or resumes from a checkpoint, still lands its values on the right epoch.
_EPOCH_RE = re2.compile(r"\bepoch=(\d+)\b", options=_RE2_OPTIONS)


@dataclass(frozen=True)
class MetricDefinition:
    """SageMaker's `MetricDefinitions` entry: `{"Name": ..., "Regex": ...}`."""

    name: str
    regex: str


@dataclass(frozen=True)
class MetricRecord:
    metric_name: str
    epoch: int
    value: float
    timestamp: datetime  # timezone-aware UTC: when the line was read


class MetricDefinitionError(ValueError):
    """A metric definition that cannot work, tied to the field to blame.

    `index` and `attribute` ("Name" or "Regex") let a form or API error point at the
    exact field instead of rejecting the whole list.
    """

    def __init__(self, message: str, *, index: int, attribute: str):
        super().__init__(f"MetricDefinitions[{index}].{attribute}: {message}")
        self.index = index
        self.attribute = attribute


def compile_metric_definitions(
    definitions: Sequence[MetricDefinition],
) -> list[tuple[str, re2._Regexp]]:
    """Validate definitions and compile their regexes, in order.

    Checked up front so that a bad definition is refused when the algorithm is
    registered, not discovered as silently missing metrics in the middle of a job.
    """
    compiled: list[tuple[str, re2._Regexp]] = []
    seen: set[str] = set()
    for index, definition in enumerate(definitions):
        name = definition.name
        if not name.strip():
            raise MetricDefinitionError("must not be empty", index=index, attribute="Name")
        if "\x00" in name:
            raise MetricDefinitionError("must not contain NUL characters", index=index, attribute="Name")
        if name in seen:
            raise MetricDefinitionError(f"duplicate metric name {name!r}", index=index, attribute="Name")
        seen.add(name)
        if not definition.regex:
            raise MetricDefinitionError(f"metric {name!r}: must not be empty", index=index, attribute="Regex")
        if "\x00" in definition.regex:
            raise MetricDefinitionError(
                f"metric {name!r}: must not contain NUL characters", index=index, attribute="Regex"
            )
        try:
            pattern = re2.compile(definition.regex, options=_RE2_OPTIONS)
        except re2.error as exc:
            raise MetricDefinitionError(
                f"metric {name!r}: invalid regex: {_re2_message(exc)} (metric regexes are RE2's: "
                "no backreferences or lookaround)",
                index=index,
                attribute="Regex",
            ) from exc
        if pattern.groups < 1:
            raise MetricDefinitionError(
                f"metric {name!r}: needs a capture group around the value, e.g. {name}=(\\S+)",
                index=index,
                attribute="Regex",
            )
        compiled.append((name, pattern))
    return compiled


def _re2_message(exc: re2.error) -> str:
    message = exc.args[0] if exc.args else "cannot compile"
    return message.decode("utf-8", errors="replace") if isinstance(message, bytes) else str(message)


class MetricParser:
    """Matches each log line against every definition as it arrives.

    The first capture group is the value. The epoch is the n-th value seen for that
    metric (1-based), unless the line also carries `epoch=N` (then N).

    A value that is not a float (a regex matching too much, a half-printed line) is
    skipped rather than raised: one odd log line must not fail a training job.
    "nan" and "inf" are floats and are kept, because a diverging job is a result the
    tuner has to see.
    """

    def __init__(self, definitions: Sequence[MetricDefinition]):
        self._definitions = compile_metric_definitions(definitions)
        self._counts: Counter[str] = Counter()

    def parse_line(self, line: str, now: datetime) -> list[MetricRecord]:
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        values = []
        for name, pattern in self._definitions:
            match = pattern.search(line)
            if match is None or match.group(1) is None:
                continue
            try:
                values.append((name, float(match.group(1))))
            except ValueError:
                continue
        if not values:
            return []
        epoch_match = _EPOCH_RE.search(line)
        records = []
        for name, value in values:
            self._counts[name] += 1
            epoch = int(epoch_match.group(1)) if epoch_match else self._counts[name]
            records.append(MetricRecord(name, epoch, value, now))
        return records
