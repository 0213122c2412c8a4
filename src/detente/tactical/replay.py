"""Replay recorded tracks through the tactical cycle, as fast as the machine goes.

The reports are taken in time order; a cycle runs every `step_s` of recorded time, on the
reports received by then, against the plan items given (zones and strikes for intrusions,
flights for conformance, everything of the other parties for the areas of non-conforming
tracks). The result is the same sequence of cycles the server would have run live.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from detente.model import Agreement, Area, Flight, Item, TrackReport

from .alerts import DEFAULT_HOLD_S
from .board import DEFAULT_MAX_AGE_S
from .links import link_plans
from .picture import Cycle, TacticalPicture

__all__ = ["replay"]


def replay(
    reports: Iterable[TrackReport],
    agreement: Agreement,
    *,
    items: Sequence[Item] = (),
    step_s: float = 1.0,
    hold_s: float = DEFAULT_HOLD_S,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> Iterator[Cycle]:
    """The cycles over the recorded `reports`, from the first report's time to the last's.

    >>> a = TrackReport("blue", "a", 0.0, 36.0, 35.0, 9000.0, 90.0, 220.0)
    >>> b = TrackReport("red", "b", 0.0, 36.4, 35.0, 9000.0, 270.0, 220.0)
    >>> [(c.at, len(c.separation)) for c in replay([a, b], Agreement())]
    [(0.0, 1)]
    """
    if not step_s > 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    ordered = sorted(reports, key=lambda r: r.time)
    if not ordered:
        return
    picture = TacticalPicture(agreement, hold_s=hold_s, max_age_s=max_age_s)
    areas = [item for item in items if isinstance(item, Area)]
    flights = [item for item in items if isinstance(item, Flight)]

    def near(probes: Sequence[Area]) -> list[Item]:
        # Every item of the window: the engine's broad phase and party rule sort them out.
        lo = min(p.start for p in probes)
        hi = max(p.end for p in probes)
        return [item for item in items if item.start < hi and item.end > lo]

    first, last = ordered[0].time, ordered[-1].time
    t = math.floor(first / step_s) * step_s
    k = 0
    while True:
        t = max(t, first)
        while k < len(ordered) and ordered[k].time <= t:
            picture.accept(ordered[k])
            k += 1
        live_areas = [a for a in areas if a.start < t + agreement.lookahead_s and a.end > t]
        plans = link_plans(picture.board.reports, flights)
        yield picture.cycle(t, areas=live_areas, plans=plans, near=near)
        if t >= last:
            return
        t += step_s
