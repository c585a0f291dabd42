"""Reading a JSON request body, with a bound on how deeply it nests.

Python's JSON decoder recurses once per level, as does any code that walks
the result (the NUL check, serializers, the SageMaker shape validator): a
body of a few thousand `[` would end in a RecursionError, a 500. No request
Tuneboard answers nests anywhere near MAX_DEPTH, so deeper is refused as bad
input, by the REST API, the trainer endpoints and /sagemaker alike.
"""

import json
from collections.abc import Callable

MAX_DEPTH = 64


class JSONBodyError(ValueError):
    """The body is not JSON, or nests too deeply; the message says which, for the client."""


TOO_DEEP = f"The JSON body nests more than {MAX_DEPTH} levels deep."


def loads(raw: bytes | str):
    def decode():
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JSONBodyError(f"The request body is not valid JSON: {exc}.") from None

    return bounded(decode)


def bounded(decode: Callable[[], object]):
    """What `decode()` returns, unless it nests deeper than MAX_DEPTH (decoding included): then a JSONBodyError."""
    try:
        value = decode()
    except RecursionError:
        raise JSONBodyError(TOO_DEEP) from None
    if _deeper_than(value, MAX_DEPTH):
        raise JSONBodyError(TOO_DEEP)
    return value


def _deeper_than(value, limit: int) -> bool:
    """Whether `value` has containers nested more than `limit` deep, found level by level without recursing.

    Decoded JSON holds plain dicts and lists, so exact type tests do; they keep
    the walk of a 10,000-sample metric batch to a few milliseconds (docs/benchmarks.md).
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in (dict, list)
        ]
    return False
