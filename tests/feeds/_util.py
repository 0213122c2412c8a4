"""Helpers for the loopback feed tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

T0 = 1443679200.0  # 2015-10-01T06:00:00Z
NOW = T0 + 1.0
WAIT_S = 10.0  # a safety net against hanging, never a measured duration


def clock() -> float:
    return NOW


def event(uid: str, *, cot_type: str = "a-f-A-M-F", detail: str = "") -> bytes:
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g"'
        ' time="2015-10-01T06:00:00Z" start="2015-10-01T06:00:00Z"'
        ' stale="2015-10-01T06:00:30Z"><point lat="35.2" lon="36.5" hae="7620" ce="10" le="10"/>'
        f"<detail>{detail}</detail></event>"
    ).encode()


async def until(condition: Callable[[], bool]) -> None:
    """Wait (yielding to the loop) until `condition()` holds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_S)


async def take(queue: asyncio.Queue, count: int = 1) -> list:
    return [await asyncio.wait_for(queue.get(), WAIT_S) for _ in range(count)]
