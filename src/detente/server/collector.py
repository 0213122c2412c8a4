"""The cyclic garbage collector in the server's two long-running processes.

Both keep what they parse for long (items, their pieces, the store's tables), and few of their
objects form cycles: reference counting frees nearly everything. Left to its defaults, the
collector moves what survives a collection into its older generations and, every few minutes,
scans all of it at once: in the pass process, a quarter of a second a time with 50,000 items
cached, every write waiting behind it. So what survives a collection is frozen (never scanned
again; still freed by reference counting when it goes), and every collection scans only the
objects made since the last one.

The server's process freezes after each collection. Its requests in flight at that moment are
frozen too, and a cycle among them that dies later is never collected; measured under load,
that was 14 objects in a minute of 300 writes a second. The pass process collects between
passes, when nothing of a pass is alive, and leaks nothing.
"""

from __future__ import annotations

import gc
from typing import Any

__all__ = ["YOUNG_OBJECTS", "collect_young", "freeze_after_collections", "settle"]

#: Objects made (less those freed) before a collection, as by default (700) but less often: a
#: request's garbage is freed by reference counting anyway.
YOUNG_OBJECTS = 20_000


def settle() -> None:
    """Collect once and freeze what exists (modules, the store's tables, the warmed items):
    none of it is scanned again."""
    gc.collect()
    gc.freeze()


def freeze_after_collections() -> None:
    """From now on, collect after `YOUNG_OBJECTS` new objects and freeze what survives."""
    settle()
    gc.set_threshold(YOUNG_OBJECTS)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def collect_young() -> bool:
    """Where the collector is off (`gc.disable`) and called at quiet moments: once there are
    `YOUNG_OBJECTS` new objects, collect them and freeze the survivors. Whether it did."""
    if gc.get_count()[0] <= YOUNG_OBJECTS:
        return False
    gc.collect(0)
    gc.freeze()
    return True


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop":
        gc.freeze()
