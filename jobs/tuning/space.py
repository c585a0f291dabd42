"""Hyperparameter search spaces and the unit cube that strategies search in.

A :class:`SearchSpace` is the validated form of SageMaker's ``ParameterRanges``. Strategies
never handle raw values: :meth:`SearchSpace.encode` maps a configuration onto
``[0, 1]^dimension`` with each range's scaling already applied, so a step of a given size
means the same on every axis, and :meth:`SearchSpace.decode` maps any point of the cube back
to a valid configuration.

Values leave the process as strings (the database, ``hyperparameters.json`` for the training
program), which is why :func:`format_value` and :meth:`SearchSpace.parse` are exact inverses.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_RANGES = 30
"""SageMaker's limit per kind of range, which it also applies to all kinds counted together."""

MAX_CATEGORICAL_VALUES = 30
MAX_NAME_LENGTH = 256
"""Applies to range names and to categorical values alike, as in SageMaker."""

AUTO_LOG_RATIO = 100.0
"""``Auto`` picks a logarithmic scale once ``max_value / min_value`` reaches this ratio."""

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]+")


class ScalingType(enum.StrEnum):
    AUTO = "Auto"
    LINEAR = "Linear"
    LOGARITHMIC = "Logarithmic"
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"


class ParameterType(enum.StrEnum):
    CONTINUOUS = "Continuous"
    INTEGER = "Integer"
    CATEGORICAL = "Categorical"


class SearchSpaceError(ValueError):
    """A search space, or a value for it, breaks a rule.

    ``parameter`` names the range and ``attribute`` the SageMaker member at fault (``"Name"``,
    ``"MinValue"``, ``"MaxValue"``, ``"ScalingType"`` or ``"Values"``), so that an API or a form
    can point at the field rather than only print the message. Both are ``None`` when the
    space as a whole is wrong.
    """

    def __init__(self, message: str, *, parameter: str | None = None, attribute: str | None = None):
        super().__init__(message)
        self.parameter = parameter
        self.attribute = attribute


@dataclass(frozen=True)
class ContinuousParameterRange:
    name: str
    min_value: float
    max_value: float
    scaling_type: ScalingType = ScalingType.AUTO


@dataclass(frozen=True)
class IntegerParameterRange:
    name: str
    min_value: int
    max_value: int
    scaling_type: ScalingType = ScalingType.AUTO


@dataclass(frozen=True)
class CategoricalParameterRange:
    name: str
    values: tuple[str, ...]


ParameterRange = ContinuousParameterRange | IntegerParameterRange | CategoricalParameterRange
NumericRange = ContinuousParameterRange | IntegerParameterRange
Value = float | int | str

_TYPES: dict[type, ParameterType] = {
    ContinuousParameterRange: ParameterType.CONTINUOUS,
    IntegerParameterRange: ParameterType.INTEGER,
    CategoricalParameterRange: ParameterType.CATEGORICAL,
}
_CLASSES = {parameter_type: cls for cls, parameter_type in _TYPES.items()}
# Required keys of the stored form, with the SageMaker member each one stands for.
_NUMERIC_KEYS = {"name": "Name", "min_value": "MinValue", "max_value": "MaxValue"}
_CATEGORICAL_KEYS = {"name": "Name", "values": "Values"}


def effective_scaling(param_range: NumericRange) -> ScalingType:
    """The scale a numeric range is searched on: its own, or the one ``Auto`` stands for.

    SageMaker only says that ``Auto`` "chooses the best scale". Our rule: Logarithmic when the
    range is positive and spans two orders of magnitude or more (``max_value / min_value >= 100``),
    Linear otherwise. Over ``[1e-4, 1e-1]`` a linear scale would put 99% of the draws above
    ``1e-3``, while learning rates and regularisation weights of that shape matter by their
    order of magnitude. ``Auto`` never means ReverseLogarithmic: nothing in the bounds alone
    says that the values just below 1 are the interesting ones.
    """
    scaling = ScalingType(param_range.scaling_type)
    if scaling is not ScalingType.AUTO:
        return scaling
    low, high = param_range.min_value, param_range.max_value
    if low > 0 and high >= AUTO_LOG_RATIO * low:
        return ScalingType.LOGARITHMIC
    return ScalingType.LINEAR


def format_value(value: Value) -> str:
    """The string a training program receives for a typed value.

    SageMaker passes every hyperparameter as a string. Integers are written without a
    fractional part (``"32"``, never ``"32.0"``) and floats with ``repr``, the shortest text
    that reads back to the same float, so ``parse(format_value(v)) == v`` exactly.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    raise TypeError(f"cannot format {value!r} as a hyperparameter value")


class SearchSpace:
    """An ordered, validated set of parameter ranges.

    Validation follows SageMaker's rules, with two deliberate differences: names are limited
    to ``[A-Za-z0-9_.:-]`` (SageMaker accepts any text, but names end up as keys and flags of
    the training program), and ``MinValue`` must be strictly less than ``MaxValue`` for every
    numeric range (a range with a single value tunes nothing: make it a static hyperparameter).
    Bounds may be numbers or their string forms, since SageMaker's API carries them as strings;
    the space keeps them as ``float`` (Continuous) or ``int`` (Integer).

    Integer ranges are searched as the continuous interval ``[min_value - 0.5, max_value + 0.5]``
    under the range's scaling and rounded to the nearest integer, so on a linear scale every
    integer owns an equal share of the unit interval, including the two end points; on a
    logarithmic scale the shares shrink smoothly as the integers grow.
    """

    def __init__(self, ranges: Sequence[ParameterRange]):
        validated = tuple(_validated(param_range) for param_range in ranges)
        if not validated:
            raise SearchSpaceError("a search space needs at least one parameter range")
        if len(validated) > MAX_RANGES:
            raise SearchSpaceError(f"a search space has at most {MAX_RANGES} parameter ranges (got {len(validated)})")
        seen: set[str] = set()
        for param_range in validated:
            if param_range.name in seen:
                raise _error(param_range.name, "Name", "Name must be unique within the search space")
            seen.add(param_range.name)
        self.ranges: tuple[ParameterRange, ...] = validated
        self.names: tuple[str, ...] = tuple(param_range.name for param_range in validated)

    @classmethod
    def from_dicts(cls, items: Sequence[Mapping[str, Any]]) -> SearchSpace:
        """Build a space from its stored JSON form, as written by :meth:`to_dicts`."""
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise SearchSpaceError(f"parameter ranges must be a list (got {type(items).__name__})")
        return cls([_range_from_dict(item) for item in items])

    def to_dicts(self) -> list[dict[str, Any]]:
        """The JSON-ready form of the space; :meth:`from_dicts` reads it back unchanged."""
        return [_range_to_dict(param_range) for param_range in self.ranges]

    @property
    def dimension(self) -> int:
        """Length of encoded vectors: one coordinate per numeric range, one per category."""
        return sum(_width(param_range) for param_range in self.ranges)

    def parse(self, hyperparameters: Mapping[str, Any]) -> dict[str, Value]:
        """Typed values of the tuned hyperparameters, from their string (or already typed) forms.

        Keys that are not tuned, such as the algorithm's static hyperparameters, are ignored.
        A missing, malformed or out-of-range value raises :class:`SearchSpaceError`.
        """
        typed: dict[str, Value] = {}
        for param_range in self.ranges:
            if param_range.name not in hyperparameters:
                raise _error(param_range.name, None, "no value given")
            typed[param_range.name] = _coerce(param_range, hyperparameters[param_range.name])
        return typed

    def encode(self, hyperparameters: Mapping[str, Any]) -> np.ndarray:
        """The point of ``[0, 1]^dimension`` that :meth:`decode` maps back to these values.

        Categorical ranges are one-hot: categories have no order, so no category should lie
        "between" two others.
        """
        typed = self.parse(hyperparameters)
        parts = []
        for param_range in self.ranges:
            value = typed[param_range.name]
            if isinstance(param_range, CategoricalParameterRange):
                one_hot = np.zeros(len(param_range.values))
                one_hot[param_range.values.index(value)] = 1.0
                parts.append(one_hot)
            else:
                parts.append([_to_unit(param_range, value)])
        return np.concatenate(parts)

    def decode(self, x: np.ndarray) -> dict[str, Value]:
        """The configuration at a point of the unit cube.

        Coordinates outside ``[0, 1]`` are clipped, integers are rounded, and a categorical
        range takes the category with the largest coordinate (the first one on a tie), so that
        an optimiser may return any point and still get a valid configuration.
        """
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dimension,):
            raise ValueError(f"expected a vector of length {self.dimension}, got shape {x.shape}")
        values: dict[str, Value] = {}
        offset = 0
        for param_range in self.ranges:
            width = _width(param_range)
            if isinstance(param_range, CategoricalParameterRange):
                values[param_range.name] = param_range.values[int(np.argmax(x[offset : offset + width]))]
            else:
                values[param_range.name] = _from_unit(param_range, float(x[offset]))
            offset += width
        return values

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        """One configuration drawn uniformly on each range's scale.

        One draw per range, in range order, so the stream of configurations depends only on
        the generator's state and the space.
        """
        values: dict[str, Value] = {}
        for param_range in self.ranges:
            if isinstance(param_range, CategoricalParameterRange):
                values[param_range.name] = param_range.values[int(rng.integers(len(param_range.values)))]
            else:
                values[param_range.name] = _from_unit(param_range, float(rng.random()))
        return values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.ranges == other.ranges

    def __hash__(self) -> int:
        return hash(self.ranges)

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.ranges)!r})"


def _error(parameter: str | None, attribute: str | None, rule: str) -> SearchSpaceError:
    prefix = f"{parameter}: " if parameter else ""
    return SearchSpaceError(f"{prefix}{rule}", parameter=parameter, attribute=attribute)


def _range_from_dict(item: Any) -> ParameterRange:
    if not isinstance(item, Mapping):
        raise SearchSpaceError(f"each parameter range must be an object (got {item!r})")
    name = item.get("name")
    parameter = name if isinstance(name, str) else None
    try:
        parameter_type = ParameterType(item.get("type"))
    except ValueError:
        kinds = ", ".join(kind.value for kind in ParameterType)
        raise _error(parameter, None, f"type must be one of {kinds} (got {item.get('type')!r})") from None

    categorical = parameter_type is ParameterType.CATEGORICAL
    required = _CATEGORICAL_KEYS if categorical else _NUMERIC_KEYS
    allowed = {"type", *required} if categorical else {"type", "scaling_type", *required}
    unexpected = sorted(set(item) - allowed, key=str)
    if unexpected:
        raise _error(parameter, None, f"unexpected keys for a {parameter_type.value} range: {unexpected}")
    for key, attribute in required.items():
        if key not in item:
            raise _error(parameter, attribute, f"{attribute} is required")

    if categorical:
        return CategoricalParameterRange(name, item["values"])
    cls = _CLASSES[parameter_type]
    return cls(name, item["min_value"], item["max_value"], item.get("scaling_type", ScalingType.AUTO))


def _range_to_dict(param_range: ParameterRange) -> dict[str, Any]:
    head = {"name": param_range.name, "type": _TYPES[type(param_range)].value}
    if isinstance(param_range, CategoricalParameterRange):
        return {**head, "values": list(param_range.values)}
    return {
        **head,
        "min_value": param_range.min_value,
        "max_value": param_range.max_value,
        "scaling_type": param_range.scaling_type.value,
    }


def _validated(param_range: ParameterRange) -> ParameterRange:
    """A copy of the range with its bounds and scaling normalised, or SearchSpaceError."""
    if type(param_range) not in _TYPES:
        raise SearchSpaceError(f"not a parameter range: {param_range!r}")
    name = _validated_name(param_range.name)
    if isinstance(param_range, CategoricalParameterRange):
        return CategoricalParameterRange(name, _validated_values(name, param_range.values))

    integral = isinstance(param_range, IntegerParameterRange)
    try:
        scaling = ScalingType(param_range.scaling_type)
    except ValueError:
        kinds = ", ".join(kind.value for kind in ScalingType)
        raise _error(
            name, "ScalingType", f"ScalingType must be one of {kinds} (got {param_range.scaling_type!r})"
        ) from None
    low = _validated_bound(name, "MinValue", param_range.min_value, integral)
    high = _validated_bound(name, "MaxValue", param_range.max_value, integral)
    if not low < high:
        raise _error(name, "MinValue", f"MinValue must be less than MaxValue (got {low!r} >= {high!r})")
    if scaling is ScalingType.LOGARITHMIC and low <= 0:
        raise _error(name, "MinValue", f"Logarithmic scaling needs MinValue > 0 (got {low!r})")
    if scaling is ScalingType.REVERSE_LOGARITHMIC:
        if integral:
            raise _error(name, "ScalingType", "ReverseLogarithmic scaling is only for Continuous ranges")
        if low < 0:
            raise _error(name, "MinValue", f"ReverseLogarithmic scaling needs MinValue >= 0 (got {low!r})")
        if high >= 1:
            raise _error(name, "MaxValue", f"ReverseLogarithmic scaling needs MaxValue < 1 (got {high!r})")
    return type(param_range)(name, low, high, scaling)


def _validated_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise _error(None, "Name", f"Name must be a non-empty string (got {name!r})")
    if len(name) > MAX_NAME_LENGTH:
        # Not prefixed with the name, which is the very thing that is too long to print.
        raise SearchSpaceError(
            f"Name must be at most {MAX_NAME_LENGTH} characters (got {len(name)})", parameter=name, attribute="Name"
        )
    if not _NAME_PATTERN.fullmatch(name):
        raise _error(name, "Name", "Name may contain only letters, digits and the characters _ . : -")
    return name


def _validated_bound(name: str, attribute: str, raw: Any, integral: bool) -> float | int:
    number = _as_float(raw)
    if number is None:
        raise _error(name, attribute, f"{attribute} must be a finite number (got {raw!r})")
    if not integral:
        return number
    if not number.is_integer():
        raise _error(name, attribute, f"{attribute} must be a whole number for an Integer range (got {raw!r})")
    return int(number)


def _validated_values(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise _error(name, "Values", f"Values must be a list of strings (got {values!r})")
    if not 1 <= len(values) <= MAX_CATEGORICAL_VALUES:
        raise _error(
            name, "Values", f"Values must have between 1 and {MAX_CATEGORICAL_VALUES} items (got {len(values)})"
        )
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value:
            raise _error(name, "Values", f"each of Values must be a non-empty string (got {value!r})")
        if len(value) > MAX_NAME_LENGTH:
            raise _error(name, "Values", f"each of Values must be at most {MAX_NAME_LENGTH} characters")
        if value in seen:
            raise _error(name, "Values", f"Values must not repeat ({value!r} appears more than once)")
        seen.add(value)
    return tuple(values)


def _as_float(raw: Any) -> float | None:
    """``raw`` as a finite float when it is a real number or the text of one, else None."""
    if isinstance(raw, str):
        try:
            number = float(raw)
        except ValueError:
            return None
    elif isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        number = float(raw)
    else:
        return None
    return number if math.isfinite(number) else None


def _coerce(param_range: ParameterRange, raw: Any) -> Value:
    name = param_range.name
    if isinstance(param_range, CategoricalParameterRange):
        if raw not in param_range.values:
            raise _error(name, None, f"{raw!r} is not one of {list(param_range.values)}")
        return raw
    number = _as_float(raw)
    if number is None:
        raise _error(name, None, f"{raw!r} is not a finite number")
    if isinstance(param_range, IntegerParameterRange):
        if not number.is_integer():
            raise _error(name, None, f"{raw!r} is not a whole number")
        number = int(number)
    if not param_range.min_value <= number <= param_range.max_value:
        raise _error(name, None, f"{raw!r} is outside [{param_range.min_value!r}, {param_range.max_value!r}]")
    return number


def _width(param_range: ParameterRange) -> int:
    if isinstance(param_range, CategoricalParameterRange):
        return len(param_range.values)
    return 1


def _interval(param_range: NumericRange) -> tuple[float, float]:
    """The continuous interval searched for a range; see :class:`SearchSpace` for integers."""
    if isinstance(param_range, IntegerParameterRange):
        return param_range.min_value - 0.5, param_range.max_value + 0.5
    return float(param_range.min_value), float(param_range.max_value)


def _to_unit(param_range: NumericRange, value: float) -> float:
    low, high = _interval(param_range)
    scaling = effective_scaling(param_range)
    if scaling is ScalingType.LOGARITHMIC:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    if scaling is ScalingType.REVERSE_LOGARITHMIC:
        # Logarithmic in the distance to 1: the unit interval is spent mostly just below 1,
        # where e.g. a momentum of 0.99 and one of 0.999 behave very differently. log1p keeps
        # that distance exact for values very close to 1.
        near, far = math.log1p(-high), math.log1p(-low)
        return 1.0 - (math.log1p(-value) - near) / (far - near)
    return (value - low) / (high - low)


def _from_unit(param_range: NumericRange, u: float) -> float | int:
    low, high = _interval(param_range)
    scaling = effective_scaling(param_range)
    u = min(max(u, 0.0), 1.0)
    if scaling is ScalingType.LOGARITHMIC:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    elif scaling is ScalingType.REVERSE_LOGARITHMIC:
        near, far = math.log1p(-high), math.log1p(-low)
        value = -math.expm1(near + (1.0 - u) * (far - near))
    else:
        value = low + u * (high - low)
    if isinstance(param_range, IntegerParameterRange):
        value = math.floor(value + 0.5)
    return min(max(value, param_range.min_value), param_range.max_value)
