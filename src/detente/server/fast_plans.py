"""`POST /v1/plans`, the busiest call, answered beside the framework's routing.

A plan written through the route costs about half a millisecond of the server's interpreter
in the framework's layers (routing, dependencies, request and response objects) before and
after the write itself. `PlanFastPath` answers the plain case straight from the ASGI messages:
a plan (not a dry run) from a party whose key the store knows already (`Store.cached_party`).
Everything else goes on to the application with the body as it came, so that it meets the
route, and its checks and errors, unchanged: another call, a dry run or any query, a key not
seen in the last second or unknown, a body that is not a plan file. The write, its answer
and its errors (problem+json) are the route's own (`write_in_thread`, `plan_answer`).
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api import (
    MAX_BODY_BYTES,
    bearer_key,
    plan_answer,
    plan_changes,
    problem_response,
    write_in_thread,
)
from .parties import Party
from .problems import Problem, TooLarge
from .store import Store

__all__ = ["PLANS_PATH", "PlanFastPath"]

PLANS_PATH = "/v1/plans"

_JSON_HEADERS = [(b"content-type", b"application/json")]


class PlanFastPath:
    """ASGI middleware: answers plain plan submissions of known parties (see the module)."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PLANS_PATH
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        party = self._known_party(scope)
        if party is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except TooLarge as problem:
            await problem_response(problem, PLANS_PATH)(scope, receive, send)
            return
        if body is None:  # the client left: nothing to answer
            return
        try:
            changes = plan_changes(orjson.loads(body))
        except (orjson.JSONDecodeError, Problem):
            # The route says what is wrong with it.
            await self.app(scope, _replaying(body, receive), send)
            return
        try:
            result = await write_in_thread(
                self.store, scope["app"].state.writers, party, changes, "plan"
            )
        except Problem as problem:
            await problem_response(problem, PLANS_PATH)(scope, receive, send)
            return
        # (Any other error goes up to the application's handler of crashes, as the route's.)
        answer = orjson.dumps(plan_answer(result))
        headers = [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _known_party(self, scope: Scope) -> Party | None:
        """The caller's party if its key is remembered as valid (None: let the route judge)."""
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            return None
        try:
            return self.store.cached_party(bearer_key(header.decode("latin-1")))
        except Problem:
            return None


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body; None if the client left first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives `body` once (as one message), then whatever comes next."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
