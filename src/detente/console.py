"""Conflicts as a table for people: worst first, UTC times, NM and ft beside metres."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from detente.interop.results import format_instant
from detente.model import Conflict

__all__ = ["conflicts_table", "summary_line"]

METRES_PER_NM = 1852.0
METRES_PER_FT = 0.3048


def _clock(t: float) -> str:
    """`HH:MM:SS.s` of an instant (the date is in the title).

    >>> _clock(1443679924.26)
    '06:12:04.3'
    """
    tenths = round(t * 10)
    return f"{format_instant(tenths // 10)[11:19]}.{tenths % 10}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def conflicts_table(conflicts: Sequence[Conflict]) -> Table:
    """A rich table of `conflicts`, worst (least horizontal distance) first."""
    days = sorted({format_instant(c.start)[:10] for c in conflicts})
    table = Table(
        title=f"{len(conflicts)} conflict(s), worst first — times UTC on {', '.join(days)}",
        title_justify="left",
    )
    table.add_column("kind", no_wrap=True)
    table.add_column("a", overflow="fold", min_width=12)
    table.add_column("b", overflow="fold", min_width=12)
    table.add_column("when", no_wrap=True)
    table.add_column("worst at", no_wrap=True)
    table.add_column("horizontal", justify="right", no_wrap=True)
    table.add_column("vertical", justify="right", no_wrap=True)
    for c in sorted(conflicts, key=lambda c: c.sort_key):
        p = c.closest
        table.add_row(
            c.kind.value,
            f"{c.a.party}\n{c.a.id}",
            f"{c.b.party}\n{c.b.id}",
            f"{_clock(c.start)}\n{_clock(c.end)}\n{_duration(c.end - c.start)}",
            f"{_clock(p.time)}\n{p.lon:.4f} {p.lat:.4f}\n{p.alt_m:,.0f} m",
            f"{p.horizontal_m:,.0f} m\n{p.horizontal_m / METRES_PER_NM:.2f} NM",
            f"{p.vertical_m:,.0f} m\n{p.vertical_m / METRES_PER_FT:,.0f} ft",
        )
    return table


def summary_line(items: int, conflicts: int, seconds: float) -> str:
    return f"{items} plan item(s) checked, {conflicts} conflict(s), in {seconds:.2f} s"


def print_table(
    console: Console, conflicts: Sequence[Conflict], items: int, seconds: float
) -> None:
    if conflicts:
        console.print(conflicts_table(conflicts))
    console.print(summary_line(items, len(conflicts), seconds))
