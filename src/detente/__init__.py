"""Détente: a deconfliction channel for parties that share airspace.

The engine is a library first::

    import detente
    conflicts = detente.check(items, detente.Agreement())
"""

from __future__ import annotations

from .detect import PlanIndex, check
from .errors import AgreementError, DetenteError, PlanError
from .model import (
    Agreement,
    Area,
    Band,
    Closest,
    Conflict,
    ConflictKind,
    Flight,
    Item,
    ItemRef,
    Kind,
    Shape,
)

__all__ = [
    "Agreement",
    "AgreementError",
    "Area",
    "Band",
    "Closest",
    "Conflict",
    "ConflictKind",
    "DetenteError",
    "Flight",
    "Item",
    "ItemRef",
    "Kind",
    "PlanError",
    "PlanIndex",
    "Shape",
    "check",
]
__version__ = "0.1.0"
