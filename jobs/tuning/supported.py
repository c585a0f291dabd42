"""The hyperparameters an algorithm accepts: SageMaker's ``SupportedHyperParameters``.

An algorithm that declares them (as SageMaker's built-in algorithms and
``CreateAlgorithm`` do) turns a tuning job that names an unknown hyperparameter,
or asks for values the program cannot take, into a field error at creation,
instead of a whole budget spent on a knob the program ignores. An algorithm that
declares none accepts any name, as before: its program is the only judge.

The declared form is SageMaker's own, so a ``DescribeAlgorithm`` answer can be
pasted as it is::

    {"Name": "learning_rate", "Type": "Continuous", "IsTunable": true, "IsRequired": false,
     "Range": {"ContinuousParameterRangeSpecification": {"MinValue": "0", "MaxValue": "1"}},
     "DefaultValue": "0.001", "Description": "..."}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobs.tuning.space import CategoricalParameterRange, IntegerParameterRange, ParameterRange

TYPES = ("Integer", "Continuous", "Categorical", "FreeText")
_SPECIFICATIONS = {
    "Integer": "IntegerParameterRangeSpecification",
    "Continuous": "ContinuousParameterRangeSpecification",
    "Categorical": "CategoricalParameterRangeSpecification",
}
_KNOWN_KEYS = {"Name", "Type", "Description", "Range", "IsTunable", "IsRequired", "DefaultValue"}


class SupportedHyperParameterError(ValueError):
    """A declaration breaks SageMaker's shape for ``SupportedHyperParameters``."""


@dataclass(frozen=True)
class SupportedHyperParameter:
    name: str
    type: str
    is_tunable: bool = False
    is_required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[str, ...] | None = None
    default_value: str | None = None
    description: str = ""

    def value_error(self, raw: Any) -> str | None:
        """Why `raw` is not a valid value of this hyperparameter; None when it is."""
        text = str(raw)
        if self.type == "FreeText":
            return None
        if self.type == "Categorical":
            if self.values is not None and text not in self.values:
                return f"{text!r} is not one of {', '.join(self.values)}"
            return None
        number = _number(text)
        if number is None or (self.type == "Integer" and number != int(number)):
            return f"{text!r} is not {'an integer' if self.type == 'Integer' else 'a number'}"
        return self.bound_error(number)

    def describe(self) -> str:
        """The valid values, as a form's hint says them: "Continuous, 1e-05 to 1"."""
        if self.values is not None:
            return f"{self.type}: {', '.join(self.values)}"
        if self.min_value is not None or self.max_value is not None:
            low = "-inf" if self.min_value is None else _plain(self.min_value)
            high = "inf" if self.max_value is None else _plain(self.max_value)
            return f"{self.type}, {low} to {high}"
        return self.type

    def bound_error(self, number: float) -> str | None:
        """Why `number` is outside the declared range; None when inside (or none is declared)."""
        if self.min_value is not None and number < self.min_value:
            return f"{_plain(number)} is below its minimum {_plain(self.min_value)}"
        if self.max_value is not None and number > self.max_value:
            return f"{_plain(number)} is above its maximum {_plain(self.max_value)}"
        return None


def parse_supported(items: Any) -> list[SupportedHyperParameter]:
    """SageMaker's declaration list, checked; raises SupportedHyperParameterError naming the entry."""
    if not isinstance(items, list):
        raise SupportedHyperParameterError("Give a list of SageMaker HyperParameterSpecification objects.")
    parsed: dict[str, SupportedHyperParameter] = {}
    for index, item in enumerate(items):
        where = f"entry {index + 1}"
        if not isinstance(item, dict):
            raise SupportedHyperParameterError(f"{where}: give an object with Name and Type.")
        name = item.get("Name")
        if not isinstance(name, str) or not name:
            raise SupportedHyperParameterError(f"{where}: Name must be a non-empty string.")
        where = f"{name!r}"
        unknown = sorted(set(item) - _KNOWN_KEYS)
        if unknown:
            raise SupportedHyperParameterError(f"{where}: unknown member(s) {', '.join(unknown)}.")
        if name in parsed:
            raise SupportedHyperParameterError(f"{where} is declared twice.")
        kind = item.get("Type")
        if kind not in TYPES:
            raise SupportedHyperParameterError(f"{where}: Type must be one of {', '.join(TYPES)}.")
        flags = {key: item.get(key, False) for key in ("IsTunable", "IsRequired")}
        for key, flag in flags.items():
            if not isinstance(flag, bool):
                raise SupportedHyperParameterError(f"{where}: {key} must be true or false.")
        if flags["IsTunable"] and kind == "FreeText":
            raise SupportedHyperParameterError(f"{where}: a FreeText hyperparameter cannot be tunable.")
        default = item.get("DefaultValue")
        if default is not None and not isinstance(default, str):
            raise SupportedHyperParameterError(f"{where}: DefaultValue must be a string.")
        description = item.get("Description", "")
        if not isinstance(description, str):
            raise SupportedHyperParameterError(f"{where}: Description must be a string.")
        low, high, values = _range(where, kind, item.get("Range"))
        declared = SupportedHyperParameter(
            name=name,
            type=kind,
            is_tunable=flags["IsTunable"],
            is_required=flags["IsRequired"],
            min_value=low,
            max_value=high,
            values=values,
            default_value=default,
            description=description,
        )
        if default is not None and (problem := declared.value_error(default)):
            raise SupportedHyperParameterError(f"{where}: DefaultValue {problem}.")
        parsed[name] = declared
    return list(parsed.values())


def range_errors(ranges: Iterable[ParameterRange], supported: Sequence[SupportedHyperParameter]) -> list[str]:
    """What is wrong with tuning `ranges` on an algorithm that declares `supported` (none: nothing)."""
    if not supported:
        return []
    by_name = {declared.name: declared for declared in supported}
    tunable = ", ".join(declared.name for declared in supported if declared.is_tunable) or "none"
    errors = []
    for param_range in ranges:
        declared = by_name.get(param_range.name)
        if declared is None:
            errors.append(
                f"{param_range.name} is not a hyperparameter of this algorithm (its tunable ones: {tunable})."
            )
        elif not declared.is_tunable:
            errors.append(f"{param_range.name} cannot be tuned on this algorithm (its tunable ones: {tunable}).")
        else:
            errors.extend(f"{param_range.name}: {problem}." for problem in _range_problems(param_range, declared))
    return errors


def static_errors(static_hyperparameters: Mapping[str, str], supported: Sequence[SupportedHyperParameter]) -> list[str]:
    """What is wrong with static values given to an algorithm that declares `supported` (none: nothing)."""
    if not supported:
        return []
    by_name = {declared.name: declared for declared in supported}
    known = ", ".join(by_name)
    errors = []
    for name, value in static_hyperparameters.items():
        declared = by_name.get(name)
        if declared is None:
            errors.append(f"{name} is not a hyperparameter of this algorithm (it has: {known}).")
        elif problem := declared.value_error(value):
            errors.append(f"{name}: {problem}.")
    return errors


def missing_required(given: Iterable[str], supported: Sequence[SupportedHyperParameter]) -> list[str]:
    """The required hyperparameters without a default that neither a static value nor a range sets."""
    given = set(given)
    return [d.name for d in supported if d.is_required and d.default_value is None and d.name not in given]


def _range_problems(param_range: ParameterRange, declared: SupportedHyperParameter) -> list[str]:
    if isinstance(param_range, CategoricalParameterRange):
        # SageMaker lets a categorical range list numbers for a numeric hyperparameter.
        return [problem for value in param_range.values if (problem := declared.value_error(value))]
    wanted = "Integer" if isinstance(param_range, IntegerParameterRange) else "Continuous"
    if declared.type != wanted and not (declared.type == "Continuous" and wanted == "Integer"):
        return [f"a {wanted} range cannot tune a {declared.type} hyperparameter"]
    problems = []
    for bound in (param_range.min_value, param_range.max_value):
        if problem := declared.bound_error(float(bound)):
            problems.append(problem)
    return problems


def _range(where: str, kind: str, raw: Any) -> tuple[float | None, float | None, tuple[str, ...] | None]:
    if raw is None:
        return None, None, None
    expected = _SPECIFICATIONS.get(kind)
    if not isinstance(raw, dict) or expected is None or set(raw) != {expected}:
        if expected is None:
            raise SupportedHyperParameterError(f"{where}: a {kind} hyperparameter has no Range.")
        raise SupportedHyperParameterError(f"{where}: Range must be {{{expected!r}: ...}} for Type {kind}.")
    specification = raw[expected]
    if not isinstance(specification, dict):
        raise SupportedHyperParameterError(f"{where}: {expected} must be an object.")
    if kind == "Categorical":
        values = specification.get("Values")
        if set(specification) != {"Values"} or not isinstance(values, list) or not values:
            raise SupportedHyperParameterError(f"{where}: {expected} must be {{'Values': [non-empty list]}}.")
        if not all(isinstance(value, str) for value in values):
            raise SupportedHyperParameterError(f"{where}: Values must be strings.")
        return None, None, tuple(values)
    if set(specification) != {"MinValue", "MaxValue"}:
        raise SupportedHyperParameterError(f"{where}: {expected} must give MinValue and MaxValue.")
    low, high = (_number(specification[key]) for key in ("MinValue", "MaxValue"))
    if low is None or high is None:
        raise SupportedHyperParameterError(f"{where}: MinValue and MaxValue must be numbers given as strings.")
    if kind == "Integer" and (low != int(low) or high != int(high)):
        raise SupportedHyperParameterError(f"{where}: an Integer range has integer bounds.")
    if low > high:
        raise SupportedHyperParameterError(f"{where}: MinValue is greater than MaxValue.")
    return low, high, None


def _number(raw: Any) -> float | None:
    if not isinstance(raw, str):
        return None
    try:
        number = float(raw)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _plain(number: float) -> str:
    return f"{number:g}"
