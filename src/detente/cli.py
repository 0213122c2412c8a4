"""The `detente` command: arguments in, engine and interop called, exit status out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from detente.cli_replay import replay
from detente.cli_server import admin_key, demo, party_app, serve
from detente.detect import check as check_items
from detente.detect.clip import item_outline
from detente.errors import DetenteError, PlanError
from detente.interop.agreement import load_agreement
from detente.interop.plans import load_plan_files
from detente.interop.results import conflicts_geojson, conflicts_json
from detente.model import Agreement, Conflict

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["app", "main"]

# rich is imported where it is used: a plain JSON run does not pay for it.

EXIT_CLEAR, EXIT_CONFLICTS, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3
# Inputs at least this large get a progress display on a terminal.
LARGE_INPUT_BYTES = 5_000_000

app = typer.Typer(
    name="detente",
    help="Détente: deconfliction between parties that share airspace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


app.command()(serve)
app.add_typer(party_app, name="party")
app.command("admin-key")(admin_key)
app.command()(demo)
app.command()(replay)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    GEOJSON = "geojson"


@contextmanager
def _stages(show: bool) -> Iterator[Callable[[str], None]]:
    """A progress display on stderr (when `show`), advanced by calling the yielded function."""
    if not show:
        yield lambda _stage: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    stderr = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("reading plan files", total=None)
        yield lambda stage: progress.update(task, description=stage)


@app.callback()
def _root() -> None:
    """Détente: deconfliction between parties that share airspace."""


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Plan files (GeoJSON), one or more.")],
    agreement_file: Annotated[
        Path | None,
        typer.Option("--agreement", help="Agreement file (TOML); the defaults when absent."),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="table (default on a terminal), json or geojson."),
    ] = None,
    include_own: Annotated[
        bool, typer.Option("--include-own", help="Also report conflicts within one party.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the result here instead of stdout.")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Skip invalid features with a warning."),
    ] = False,
) -> None:
    """Check plan files against each other. Exit 0: no conflict, 1: conflicts, 2: invalid input."""
    started = time.perf_counter()
    fmt = output_format or (
        OutputFormat.TABLE if output is None and sys.stdout.isatty() else OutputFormat.JSON
    )
    large = sum(_size(f) for f in files) >= LARGE_INPUT_BYTES
    try:
        agreement = load_agreement(agreement_file) if agreement_file else Agreement()
        if include_own:
            agreement = replace(agreement, include_own=True)

        def warn(error: PlanError) -> None:
            _say("warning:", "yellow", f"skipped {error.message}")

        with _stages(large and sys.stderr.isatty()) as stage:
            items = load_plan_files(files, skip_invalid=skip_invalid, warn=warn)
            if not items:
                _say("warning:", "yellow", "the plan files hold no plan items")
            conflicts = check_items(items, agreement, progress=stage)
            stage("writing the result")
            seconds = time.perf_counter() - started
            if fmt is OutputFormat.JSON:
                document = conflicts_json(conflicts, len(items), seconds)
            elif fmt is OutputFormat.GEOJSON:
                by_ref = {item.ref: item for item in items}
                document = conflicts_geojson(conflicts, by_ref, item_outline)
            else:
                document = None
    except DetenteError as error:
        _say("error:", "red", str(error))
        raise typer.Exit(EXIT_INVALID) from None

    if document is None:
        _print_table(conflicts, len(items), seconds, output)
    elif output is None:
        sys.stdout.buffer.write(document + b"\n")
        sys.stdout.flush()
    else:
        output.write_bytes(document + b"\n")
    raise typer.Exit(EXIT_CONFLICTS if conflicts else EXIT_CLEAR)


def _print_table(
    conflicts: Sequence[Conflict], items: int, seconds: float, output: Path | None
) -> None:
    from rich.console import Console

    from detente.console import print_table

    if output is None:
        console = Console()
        print_table(
            console if console.is_terminal else Console(width=140), conflicts, items, seconds
        )
        return
    with output.open("w", encoding="utf-8") as handle:
        print_table(Console(file=handle, width=160), conflicts, items, seconds)


def _say(label: str, style: str, message: str, console: Console | None = None) -> None:
    """One unwrapped line on stderr: a coloured label, then the message as plain text."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console(stderr=True)
    console.print(Text.assemble((label, style), " ", message), soft_wrap=True)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def main() -> None:
    """Entry point of the `detente` command: a failure of Détente itself is one clear line.

    The process ends without tearing down its heap: every result is written and flushed by
    then, and freeing every plan item one by one would cost more than a small check.
    """
    try:
        app()
        status: object = EXIT_CLEAR
    except SystemExit as done:
        status = done.code
    except Exception as error:  # the last line of defence before the user
        _say(
            "internal error:",
            "red",
            f"{type(error).__name__}: {error} (please report it with the command and its input)",
        )
        status = EXIT_INTERNAL
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status if isinstance(status, int) else EXIT_CLEAR if status is None else EXIT_INVALID)
