"""The exact 4-D conflict engine: broad phase, narrow phase, and the incremental index."""

from __future__ import annotations

from .engine import DuplicateItemError, PlanIndex, check

__all__ = ["DuplicateItemError", "PlanIndex", "check"]
