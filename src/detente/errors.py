"""One error hierarchy: every error a user can cause carries where and why."""

from __future__ import annotations

__all__ = ["AgreementError", "DetenteError", "PlanError", "TrackError"]


class DetenteError(Exception):
    """Base of every error Détente raises on purpose."""


class PlanError(DetenteError):
    """A plan file, or one feature of it, breaks the plan-file contract.

    >>> error = PlanError("a.json", "coordTimes", "must be non-decreasing", index=3, item_id="v1")
    >>> str(error)
    'a.json: feature 3 (id v1): coordTimes: must be non-decreasing'
    """

    def __init__(
        self,
        source: str,
        field: str | None,
        reason: str,
        *,
        index: int | None = None,
        item_id: str | None = None,
    ) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        self.index = index
        self.item_id = item_id
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = [self.source]
        if self.index is not None:
            where.append(
                f"feature {self.index}" + (f" (id {self.item_id})" if self.item_id else "")
            )
        if self.field:
            where.append(self.field)
        return ": ".join([*where, self.reason])


class AgreementError(DetenteError):
    """An agreement file is unreadable or breaks its rules."""

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class TrackError(DetenteError):
    """A track report (a record of a batch, a line of a file, a message of a feed) is malformed.

    >>> str(TrackError("tracks.csv", "lat", "must be within [-90, 90], not 95", index=4))
    'tracks.csv: track 4: lat: must be within [-90, 90], not 95'
    """

    def __init__(
        self, source: str, field: str | None, reason: str, *, index: int | None = None
    ) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        self.index = index
        where = [source]
        if index is not None:
            where.append(f"track {index}")
        if field:
            where.append(field)
        super().__init__(": ".join([*where, reason]))
