"""Agreement files: the separation rules the parties accepted, as TOML.

Known keys and their defaults are those of `detente.model.Agreement`; a key that is not given
keeps its default.

>>> rules = parse_agreement("horizontal_m = 5556\\ninclude_own = true", "rules.toml")
>>> rules.horizontal_m, rules.vertical_m, rules.include_own
(5556.0, 304.8, True)
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from detente.errors import AgreementError
from detente.interop._files import Unreadable, read_bytes
from detente.model import Agreement

__all__ = ["load_agreement", "parse_agreement"]

#: Separation minima: numbers greater than 0.
MINIMA = ("horizontal_m", "vertical_m")
#: Buffers: numbers of at least 0.
BUFFERS = ("ground_buffer_m", "time_buffer_s", "notice_margin_s")
#: Live-track settings: numbers greater than 0.
TACTICAL = (
    "lookahead_s",
    "advisory_s",
    "caution_s",
    "warning_s",
    "conformance_lateral_m",
    "conformance_vertical_m",
    "conformance_time_s",
)
#: Switches: booleans.
SWITCHES = ("include_own",)

#: Upper bounds: beyond these a value is a mistake (and would ask the grid for absurd sizes).
MAXIMA = {
    "horizontal_m": 500_000.0,
    "vertical_m": 30_000.0,
    "ground_buffer_m": 500_000.0,
    "time_buffer_s": 7 * 86_400.0,
    "notice_margin_s": 86_400.0,
    "lookahead_s": 3_600.0,
    "advisory_s": 3_600.0,
    "caution_s": 3_600.0,
    "warning_s": 3_600.0,
    "conformance_lateral_m": 500_000.0,
    "conformance_vertical_m": 30_000.0,
    "conformance_time_s": 86_400.0,
}

_KNOWN = tuple(f.name for f in dataclasses.fields(Agreement))


def load_agreement(path: str | Path) -> Agreement:
    """Read and check an agreement file (UTF-8 TOML)."""
    source = str(path)
    try:
        raw = read_bytes(Path(path))
    except Unreadable as exc:
        raise AgreementError(source, None, exc.reason) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError(source, None, f"not UTF-8 text (byte {exc.start})") from None
    return parse_agreement(text, source)


def parse_agreement(text: str, source: str = "<agreement>") -> Agreement:
    """Check an agreement given as TOML text; `source` names it in errors."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message ends with "(at line L, column C)".
        raise AgreementError(source, None, f"not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in SWITCHES:
            if not isinstance(value, bool):
                raise AgreementError(source, key, f"must be true or false, not {value!r}")
            values[key] = value
        elif key in MINIMA or key in BUFFERS or key in TACTICAL:
            values[key] = _number(source, key, value)
        else:
            known = ", ".join(_KNOWN)
            raise AgreementError(source, key, f"unknown key; the known keys are {known}")
    agreement = Agreement(**values)
    if not agreement.warning_s <= agreement.caution_s <= agreement.advisory_s:
        raise AgreementError(
            source, "warning_s", "alert times must satisfy warning_s <= caution_s <= advisory_s"
        )
    return agreement


def _number(source: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AgreementError(source, key, f"must be a number, not {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise AgreementError(source, key, f"must be a finite number, not {value!r}")
    if key in MINIMA and not number > 0.0:
        raise AgreementError(
            source, key, f"a separation minimum must be greater than 0, not {value!r}"
        )
    if key in TACTICAL and not number > 0.0:
        raise AgreementError(source, key, f"must be greater than 0, not {value!r}")
    if key in BUFFERS and not number >= 0.0:
        raise AgreementError(source, key, f"a buffer must be 0 or more, not {value!r}")
    if number > MAXIMA[key]:
        raise AgreementError(source, key, f"must be at most {MAXIMA[key]:g}, not {value!r}")
    return number
