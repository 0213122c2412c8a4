"""`detente replay`: recorded tracks through the tactical cycle, for after-action review."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from detente.errors import DetenteError, TrackError
from detente.interop._cot_stream import CotStreamSplitter
from detente.interop._files import Unreadable, read_bytes
from detente.interop._tracks import NotATrackError
from detente.interop.agreement import load_agreement
from detente.interop.cot import parse_event
from detente.interop.plans import load_plan_files
from detente.interop.results import format_instant
from detente.interop.track_records import read_track_csv
from detente.model import Agreement, Item, TrackReport
from detente.tactical.alerts import AlertChange, Level
from detente.tactical.picture import Cycle
from detente.tactical.replay import replay as run_replay

__all__ = ["replay"]

EXIT_CLEAR, EXIT_ALERTS, EXIT_INVALID = 0, 1, 2


class ReplayFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def replay(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Track files: CSV (with a party column), or PARTY=FILE for a CoT log"
            " (concatenated <event> documents) of one party."
        ),
    ],
    plans: Annotated[
        list[Path] | None,
        typer.Option("--plans", help="Plan files (zones, strikes, flights to conform to)."),
    ] = None,
    agreement_file: Annotated[
        Path | None, typer.Option("--agreement", help="Agreement file (TOML).")
    ] = None,
    step: Annotated[float, typer.Option(help="Seconds of recorded time between cycles.")] = 1.0,
    hold: Annotated[float, typer.Option(help="Seconds an alert holds before it lowers.")] = 5.0,
    max_age: Annotated[
        float, typer.Option(help="Seconds a report without a stale time counts.")
    ] = 60.0,
    output_format: Annotated[
        ReplayFormat, typer.Option("--format", help="text, or json (one change per line).")
    ] = ReplayFormat.TEXT,
) -> None:
    """Replay recorded tracks and print every alert change. Exit 0: no alert, 1: alerts."""
    started = time.perf_counter()
    try:
        if not step > 0 or not hold >= 0 or not max_age > 0:
            raise DetenteError("--step and --max-age must be positive, --hold at least 0")
        agreement = load_agreement(agreement_file) if agreement_file else Agreement()
        items: list[Item] = load_plan_files(plans) if plans else []
        reports = [r for spec in files for r in _read(spec)]
        raised = 0
        cycles = 0
        span = (0.0, 0.0)
        for cycle in run_replay(
            reports, agreement, items=items, step_s=step, hold_s=hold, max_age_s=max_age
        ):
            cycles += 1
            span = (span[0] or cycle.at, cycle.at)
            for kind, change in _changes(cycle):
                raised += change.change.value == "raised"
                _print(kind, change, cycle, output_format)
    except DetenteError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_INVALID) from None
    seconds = time.perf_counter() - started
    recorded = span[1] - span[0]
    speed = f", {recorded / seconds:,.0f}x real time" if seconds > 0 and recorded > 0 else ""
    print(
        f"{len(reports)} reports, {cycles} cycles over {recorded:,.0f} s of recorded time,"
        f" {raised} alert(s) raised, in {seconds:.2f} s{speed}",
        file=sys.stderr,
    )
    raise typer.Exit(EXIT_ALERTS if raised else EXIT_CLEAR)


def _read(spec: str) -> Iterator[TrackReport]:
    party, sep, name = spec.partition("=")
    if not sep:
        if spec.lower().endswith((".cot", ".xml")):
            raise TrackError(spec, None, "a CoT log is given as PARTY=FILE (it names no party)")
        yield from read_track_csv(spec)
        return
    if not party.strip():
        raise TrackError(spec, None, "the party before '=' is empty")
    try:
        data = read_bytes(Path(name))
    except Unreadable as exc:
        raise TrackError(name, None, exc.reason) from None
    splitter = CotStreamSplitter()
    pieces = splitter.feed(data) + list(splitter.finish())
    for n, piece in enumerate(pieces):
        if isinstance(piece, TrackError):
            raise TrackError(name, None, f"event {n}: {piece}")
        try:
            yield parse_event(piece, party.strip(), now=math.inf)
        except NotATrackError:
            continue
        except TrackError as exc:
            raise TrackError(name, None, f"event {n}: {exc}") from None


def _changes(cycle: Cycle) -> Iterator[tuple[str, AlertChange[Any, Any]]]:
    groups: list[tuple[str, list[Any]]] = [
        ("separation", cycle.separation),
        ("intrusion", cycle.intrusion),
        ("plan-area", cycle.plan_area),
        ("conformance", cycle.conformance),
    ]
    for kind, changes in groups:
        for change in changes:
            yield kind, change


def _name(key: Any) -> str:
    if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
        return f"{key[0]}/{key[1]}"
    if isinstance(key, tuple):
        return " x ".join(_name(k) for k in key)
    party, ident = getattr(key, "party", None), getattr(key, "id", None)
    return f"{party}/{ident}" if party is not None else str(key)


def _level(kind: str, level: int | None) -> str | None:
    if level is None:
        return None
    if kind == "conformance":
        return "nonconforming"
    return Level(level).name.lower()


def _print(kind: str, change: AlertChange[Any, Any], cycle: Cycle, fmt: ReplayFormat) -> None:
    d = change.details
    facts: dict[str, Any] = {}
    for name in ("t_los", "t_cpa", "h_cpa_m", "v_cpa_m", "t_entry", "rule"):
        value = getattr(d, name, None)
        if value is not None:
            facts[name] = round(value, 1) if isinstance(value, float) else value
    for name in ("lateral_m", "vertical_m", "time_s"):
        value = getattr(d, name, None)
        if value is not None:
            facts[f"off_{name}"] = round(value, 1)
    record = {
        "at": format_instant(cycle.at),
        "type": kind,
        "change": change.change.value,
        "level": _level(kind, change.level),
        "what": _name(change.key),
        **facts,
    }
    if fmt is ReplayFormat.JSON:
        sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        return
    level = record["level"] or "-"
    extra = " ".join(f"{k}={v}" for k, v in facts.items())
    print(
        f"{record['at']}  {kind:<11} {change.change.value:<9} {level:<13} {record['what']}  {extra}"
    )
