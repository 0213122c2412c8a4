"""Errors the server answers with, as RFC 9457 problem details.

The store raises these; the API turns each into `application/problem+json` with the status,
a title, a detail that says what to change, and members of its own (`errors`, `current_version`).
"""

from __future__ import annotations

from typing import Any

from detente.errors import DetenteError, PlanError

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "PreconditionRequired",
    "Problem",
    "TooLarge",
    "Unauthorized",
    "plan_error_record",
]

BASE = "https://detente.invalid/problems/"


class Problem(DetenteError):
    """An error answer: `status`, `title` and a `detail` for the caller."""

    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(Problem):
    status, title, slug = 401, "Not authenticated", "unauthorized"


class Forbidden(Problem):
    status, title, slug = 403, "Not allowed", "forbidden"


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, slug = 409, "Version conflict", "version-conflict"


class Gone(Problem):
    status, title, slug = 410, "Gone", "gone"


class PreconditionRequired(Problem):
    status, title, slug = 428, "If-Match required", "if-match-required"


class TooLarge(Problem):
    status, title, slug = 413, "Request too large", "too-large"


class Invalid(Problem):
    status, title, slug = 422, "Invalid input", "invalid"


def plan_error_record(error: PlanError) -> dict[str, Any]:
    """One invalid feature as a member of a problem's `errors` list."""
    return {
        "index": error.index,
        "item": error.item_id,
        "field": error.field,
        "reason": error.reason,
        "message": error.message,
    }
