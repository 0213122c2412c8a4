"""Scalar values of plan files: numbers, strings and ISO 8601 instants, checked fast.

Every checker raises `Invalid(field, reason)`; the plan reader adds the file and the feature.
The batch checkers (`instants`) try a fast path over the whole list first and fall back to a
value-by-value walk only to explain what is wrong, so both paths accept exactly the same input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Invalid",
    "describe",
    "finite_number",
    "instant",
    "instants",
    "optional_number",
    "optional_string",
    "show",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FROMISO = datetime.fromisoformat
# Characters an ISO 8601 instant can hold (calendar or week dates, extended or basic format).
_INSTANT_CHARS = frozenset("0123456789-:+.,TtWZ ")
_EXAMPLE = "'2015-10-01T06:00:00Z'"


class Invalid(ValueError):
    """One value breaks the plan-file contract: `field` is where, `reason` is why."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def describe(value: object) -> str:
    """Name a JSON value's type the way a plan author thinks of it.

    >>> describe(True), describe(3), describe(None), describe([1])
    ('a boolean', 'the number 3', 'null', 'an array')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def show(text: str, limit: int = 60) -> str:
    """Quote a string for a message, shortened when long.

    >>> show("x" * 100, limit=10)
    "'xxxxxxxxxx...'"
    """
    if len(text) > limit:
        return repr(text[:limit])[:-1] + "...'"
    return repr(text)


def finite_number(value: object, field: str) -> float:
    """A finite JSON number (not a boolean) as a float.

    >>> finite_number(3, "alt_upper_m")
    3.0
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(field, f"must be a number, not {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise Invalid(field, f"must be a finite number, not {value!r}")
    return number


def optional_number(props: dict[str, Any], key: str) -> float | None:
    """A finite number property, or None when it is absent or null."""
    value = props.get(key)
    return None if value is None else finite_number(value, key)


def optional_string(props: dict[str, Any], key: str) -> str | None:
    """A string property, or None when it is absent or null."""
    value = props.get(key)
    if value is None or isinstance(value, str):
        return value
    raise Invalid(key, f"must be a string, not {describe(value)}")


def instant(value: object, field: str) -> float:
    """An ISO 8601 instant with a zone, as seconds since the Unix epoch (microseconds kept).

    >>> instant("2015-10-01T06:00:00.25Z", "start")
    1443679200.25
    >>> instant("2015-10-01T08:00:00+02:00", "start")
    1443679200.0
    """
    if not isinstance(value, str):
        raise Invalid(field, f"must be an ISO 8601 time such as {_EXAMPLE}, not {describe(value)}")
    text = value[:-1] + "Z" if value.endswith("z") else value
    if not text[:1].isdigit() or not _INSTANT_CHARS.issuperset(text):
        raise Invalid(field, f"{show(value)} is not an ISO 8601 time such as {_EXAMPLE}")
    try:
        moment = _FROMISO(text)
    except ValueError as exc:
        detail = str(exc)
        extra = "" if detail.startswith("Invalid isoformat") else f" ({detail})"
        raise Invalid(
            field, f"{show(value)} is not an ISO 8601 time such as {_EXAMPLE}{extra}"
        ) from None
    if moment.tzinfo is None:
        raise Invalid(
            field,
            f"{show(value)} has no time zone; give the zone, e.g. {_EXAMPLE} for UTC",
        )
    return (moment - _EPOCH).total_seconds()


def instants(values: Sequence[object], field: str) -> list[float]:
    """`instant` over a list; fields of errors are `field[i]`.

    >>> instants(["2015-10-01T06:00:00Z", "2015-10-01T06:00:01.5Z"], "coordTimes")
    [1443679200.0, 1443679201.5]
    """
    try:
        # Fast path: `fromisoformat` parses them all, a naive time makes the subtraction raise
        # TypeError, and each string holds a 'T' (which can only be the date-time separator).
        seconds = [(_FROMISO(text) - _EPOCH).total_seconds() for text in values]  # type: ignore[arg-type]
        if "".join(values).count("T") == len(values):  # type: ignore[arg-type]
            return seconds
    except (TypeError, ValueError):
        pass
    return [instant(value, f"{field}[{i}]") for i, value in enumerate(values)]
