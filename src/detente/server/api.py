"""The HTTP API (FastAPI): authentication, the routes, and problem+json errors."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from detente.errors import AgreementError, PlanError, TrackError
from detente.feeds import Feed
from detente.interop._values import Invalid as BadValue
from detente.interop._values import instant
from detente.interop.agreement import parse_agreement
from detente.interop.track_records import track_from_record, track_record
from detente.model import TrackReport

from .groups import MAX_GROUP_REQUESTS
from .hotline import NewMessage
from .live import LiveTracks
from .parties import Party
from .plans import Change, WriteResult
from .problems import (
    BadRequest,
    Forbidden,
    Invalid,
    Problem,
    TooLarge,
    Unauthorized,
    plan_error_record,
)
from .store import Store

__all__ = [
    "MAX_BODY_BYTES",
    "add_routes",
    "bearer_key",
    "plan_answer",
    "plan_changes",
    "write_in_thread",
]

#: The largest request body taken, bytes.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: The most track reports one request may carry.
MAX_TRACKS = 10_000
#: The largest page of a listing.
MAX_PAGE = 10_000
#: Threads that plan writes run in, apart from the pool every other call shares (40): a write
#: waits in its thread for its group to commit, and a pool of 40 at 300 writes a second let
#: no more than 40 be under way, so groups stayed small once a pause had filled it. Room for
#: two full groups: one being made while the one before commits.
WRITE_THREADS = 2 * MAX_GROUP_REQUESTS
_PROBLEM = "application/problem+json"
_HEARTBEAT_S = 15.0
_POLL_S = 1.0

FEATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A plan-file Feature (see docs/plan-files.md); `party` is the caller's.",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "id": {"type": "string"},
        "geometry": {"type": "object"},
        "properties": {"type": "object"},
    },
}
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A plan file: a FeatureCollection; a feature replacing an item gives its"
    " `version`.",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": FEATURE_SCHEMA},
    },
}


TRACKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Track reports of the caller's party (see docs/tracks.md).",
    "required": ["tracks"],
    "properties": {
        "tracks": {
            "type": "array",
            "maxItems": MAX_TRACKS,
            "items": {
                "type": "object",
                "required": ["uid", "time", "lon", "lat", "alt_m"],
                "properties": {
                    "uid": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                    "lon": {"type": "number"},
                    "lat": {"type": "number"},
                    "alt_m": {"type": "number"},
                    "course_deg": {"type": "number"},
                    "speed_mps": {"type": "number"},
                    "vertical_mps": {"type": "number"},
                    "stale": {"type": "string", "format": "date-time"},
                    "callsign": {"type": "string"},
                    "plan_id": {"type": "string"},
                    "airborne": {"type": "boolean"},
                },
            },
        }
    },
}

ItemId = Annotated[str, Path(min_length=1, max_length=128)]


class MessageIn(BaseModel):
    """A hotline message: `to` a party, about a `conflict`, or `in_reply_to` a message."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="notice, query, reply, wilco, cantco or ack")
    text: str = Field("", max_length=4000)
    to: str | None = None
    conflict: str | None = Field(None, max_length=64)
    in_reply_to: str | None = Field(None, max_length=64)
    respond_by: str | None = Field(None, description="ISO 8601 instant; notice or query only")


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(
        problem.body(instance), problem.status, media_type=_PROBLEM, headers=headers
    )


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "reason": e.get("msg", "invalid"),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "reason": "invalid"}
        detail = f"{first['field'] or 'request'}: {first['reason']}"
        return problem_response(Invalid(detail, errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(str(exc.detail))
        problem.status, problem.title, problem.slug = exc.status_code, str(exc.detail), "http"
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            Problem("the server failed on this request; nothing was changed"), request.url.path
        )


def bearer_key(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer KEY` header."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send your key as 'Authorization: Bearer KEY'")
    return authorization[7:].strip()


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise BadRequest(f'If-Match must be an item version (e.g. "3"), not {if_match!r}')
    return int(text)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are taken")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(
            f"the body is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _instant(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return instant(value, field)
    except BadValue as exc:
        reason = exc.reason
        raise Invalid(f"{field}: {reason}", errors=[{"field": field, "reason": reason}]) from None


async def current_party(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Party:
    """The party whose key the request carries."""
    store: Store = request.app.state.store
    key = bearer_key(authorization)
    found = store.cached_party(key) or await run_in_threadpool(store.party_for_key, key)
    if found is None:
        raise Unauthorized("this key is unknown or revoked")
    return found


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    store: Store = request.app.state.store
    key = bearer_key(authorization)
    if store.is_admin_key(key):
        return
    if store.party_for_key(key) is None:
        raise Unauthorized("this key is unknown or revoked")
    raise Forbidden("this call needs the admin key")


Caller = Annotated[Party, Depends(current_party)]


async def write_in_thread(
    store: Store, writers: CapacityLimiter, caller: Party, changes: list[Change], source: str
) -> WriteResult:
    """`store.write` in one of the writes' threads (`writers`)."""
    write = functools.partial(store.write, caller, changes, source=source)
    return await to_thread.run_sync(write, limiter=writers)


def plan_answer(result: WriteResult) -> dict[str, Any]:
    """The answer to `POST /v1/plans`."""
    return {
        "dry_run": result.dry_run,
        "items": result.items,
        "conflicts": result.conflicts,
        "resolved": result.resolved,
    }


def add_routes(app: FastAPI, store: Store, live: LiveTracks) -> None:
    """The party and admin routes of `store` and `live` under `/v1`."""
    app.state.store = store
    writers = app.state.writers = CapacityLimiter(WRITE_THREADS)

    async def written(caller: Party, changes: list[Change], source: str) -> WriteResult:
        return await write_in_thread(store, writers, caller, changes, source)

    v1 = APIRouter(prefix="/v1")

    @v1.get("/me", summary="The calling party")
    def me(caller: Caller) -> dict[str, Any]:
        return {"party": caller.name}

    @v1.put(
        "/items/{item_id}",
        summary="Create or replace one plan item",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FEATURE_SCHEMA}},
            }
        },
        responses={409: {"description": "stale If-Match"}, 428: {"description": "If-Match needed"}},
    )
    async def put_item(
        item_id: ItemId,
        request: Request,
        caller: Caller,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        feature = await _json_body(request)
        if not isinstance(feature, dict):
            raise Invalid("the body must be a GeoJSON Feature object")
        change = Change(item_id, feature, _version(if_match))
        result = await written(caller, [change], "body")
        record = result.items[0]
        body = {"item": record, "conflicts": result.conflicts, "resolved": result.resolved}
        status = 201 if record["version"] == 1 else 200
        return JSONResponse(body, status, headers={"ETag": f'"{record["version"]}"'})

    @v1.get("/items", summary="Your plan items (by id; `limit` and `after` page them)")
    def list_items(
        caller: Caller,
        status: Annotated[str, Query(pattern="^(active|withdrawn|expired|all)$")] = "active",
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
        after: Annotated[str | None, Query(max_length=128)] = None,
    ) -> dict[str, Any]:
        found = store.list_items(
            caller, None if status == "all" else status, limit=limit, after=after
        )
        more = limit is not None and len(found) == limit
        return {"items": found, "next": found[-1]["id"] if more else None}

    @v1.get("/items/{item_id}", summary="One of your plan items")
    def get_item(item_id: ItemId, caller: Caller) -> Response:
        record = store.get_item(caller, item_id)
        return JSONResponse(record, headers={"ETag": f'"{record["version"]}"'})

    @v1.delete("/items/{item_id}", summary="Withdraw one of your plan items")
    def delete_item(
        item_id: ItemId, caller: Caller, if_match: Annotated[str | None, Header()] = None
    ) -> Response:
        result = store.write(caller, [Change(item_id, None, _version(if_match))], source="request")
        record = result.items[0]
        body = {"item": record, "resolved": result.resolved}
        return JSONResponse(body, headers={"ETag": f'"{record["version"]}"'})

    @v1.post(
        "/plans",
        summary="Submit a whole plan file atomically (all items or none)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PLAN_SCHEMA}},
            }
        },
    )
    async def post_plan(request: Request, caller: Caller, dry_run: bool = False) -> dict[str, Any]:
        document = await _json_body(request)
        changes = plan_changes(document)
        if dry_run:
            # A dry run writes nothing and waits for no group: the shared pool.
            result = await run_in_threadpool(
                store.write, caller, changes, dry_run=True, source="plan"
            )
        else:
            result = await written(caller, changes, "plan")
        return plan_answer(result)

    @v1.get(
        "/conflicts",
        summary="Your notices, by start (`limit` and `after` page them)",
    )
    def list_conflicts(
        caller: Caller,
        status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
        after: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        found = store.list_conflicts(caller, status, limit=limit, after=_cursor(after))
        more = limit is not None and len(found) == limit
        return {"conflicts": found, "next": found[-1]["cursor"] if more else None}

    @v1.get("/conflicts/{conflict_id}", summary="One notice, with your item whole")
    def get_conflict(conflict_id: str, caller: Caller) -> dict[str, Any]:
        return store.get_conflict(caller, conflict_id)

    @v1.post("/messages", status_code=201, summary="Send a hotline message")
    def post_message(message: MessageIn, caller: Caller) -> dict[str, Any]:
        return store.send(
            caller,
            NewMessage(
                type=message.type,
                text=message.text,
                to=message.to,
                conflict=message.conflict,
                in_reply_to=message.in_reply_to,
                respond_by=_instant(message.respond_by, "respond_by"),
            ),
        )

    @v1.get("/messages", summary="Hotline messages you sent or received")
    def list_messages(
        caller: Caller, thread: str | None = None, conflict: str | None = None
    ) -> dict[str, Any]:
        return {"messages": store.messages(caller, thread=thread, conflict=conflict)}

    @v1.get("/messages/{message_id}", summary="One hotline message")
    def get_message(message_id: str, caller: Caller) -> dict[str, Any]:
        return store.message(caller, message_id)

    @v1.post(
        "/tracks",
        status_code=202,
        summary="Report your live tracks (a batch; all or none)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": TRACKS_SCHEMA}},
            }
        },
    )
    async def post_tracks(request: Request, caller: Caller) -> dict[str, Any]:
        body = await _json_body(request)
        reports = _track_batch(body, caller.name)
        return {"accepted": live.accept(reports)}

    @v1.get("/tracks", summary="Your live tracks (the latest report of each)")
    def list_tracks(caller: Caller) -> dict[str, Any]:
        return {"tracks": [track_record(r) for r in live.tracks(caller.name)]}

    @v1.get("/alerts", summary="The live-track alerts that involve you now")
    def list_alerts(caller: Caller) -> dict[str, Any]:
        return {"alerts": live.alerts(caller.name)}

    @v1.get(
        "/events",
        summary="Your events: Server-Sent Events, or JSON with ?after=N",
        responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
    )
    async def events(
        request: Request,
        caller: Caller,
        after: Annotated[int | None, Query(ge=0)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        if after is not None:
            rows = await run_in_threadpool(store.events_after, caller, after, limit)
            events_ = [{"id": n, **orjson.loads(body)} for n, _kind, body in rows]
            last = rows[-1][0] if rows else after
            return JSONResponse({"events": events_, "last": last})
        start = 0
        if last_event_id:
            if not last_event_id.strip().isdigit():
                raise BadRequest("Last-Event-ID must be an event number")
            start = int(last_event_id)
        return StreamingResponse(
            _stream(
                store, caller, bearer_key(request.headers.get("authorization")), start, request
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    admin_only = [Depends(require_admin)]

    @v1.get("/admin/feeds", dependencies=admin_only, summary="Live-track feeds and counters")
    def admin_feeds(request: Request) -> dict[str, Any]:
        feeds = [
            {"name": s.name, "party": s.party, **dataclasses.asdict(s.stats)}
            for s in getattr(request.app.state, "services", ())
            if isinstance(s, Feed)
        ]
        return {
            "feeds": feeds,
            "tracks": len(live.picture.board),
            "reports_taken": live.accepted,
            "reports_ignored": live.picture.board.ignored,
            "cycles": live.cycles,
        }

    @v1.get("/admin/parties", dependencies=admin_only, summary="All parties (admin)")
    def admin_parties() -> dict[str, Any]:
        return {"parties": [{"name": p.name, "revoked": p.revoked} for p in store.parties()]}

    @v1.post("/admin/parties", status_code=201, dependencies=admin_only, summary="Add a party")
    def admin_add_party(body: PartyIn) -> dict[str, Any]:
        created, key = store.add_party(body.name)
        return {"name": created.name, "key": key}

    @v1.post("/admin/parties/{name}/rotate-key", dependencies=admin_only, summary="New key")
    def admin_rotate(name: str) -> dict[str, Any]:
        return {"name": name, "key": store.rotate_key(name)}

    @v1.post("/admin/parties/{name}/revoke", dependencies=admin_only, summary="Revoke a key")
    def admin_revoke(name: str) -> dict[str, Any]:
        store.revoke(name)
        return {"name": name, "revoked": True}

    @v1.get("/admin/agreement", dependencies=admin_only, summary="The agreement in force")
    def admin_agreement() -> dict[str, Any]:
        return _agreement_record(store)

    @v1.put("/admin/agreement", dependencies=admin_only, summary="Adopt a new agreement")
    async def admin_set_agreement(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise Invalid("the agreement must be a JSON object of its keys")
        toml = "\n".join(f"{k} = {orjson.dumps(v).decode()}" for k, v in body.items())
        try:
            agreement = parse_agreement(toml, "agreement")
        except AgreementError as exc:
            raise Invalid(str(exc), errors=[{"field": exc.key, "reason": exc.reason}]) from None
        open_conflicts = await run_in_threadpool(store.set_agreement, agreement)
        return {**_agreement_record(store), "conflicts": open_conflicts}

    app.include_router(v1)


def _cursor(after: str | None) -> tuple[float, str] | None:
    """A notices cursor (`next` of the previous page): `start|id`."""
    if after is None:
        return None
    start, sep, last = after.partition("|")
    try:
        value = float(start)
    except ValueError:
        value = math.nan
    if not sep or not last or not math.isfinite(value):
        raise BadRequest("`after` must be the `next` cursor of the previous page")
    return value, last


def _track_batch(body: object, party: str) -> list[TrackReport]:
    """Every report of a batch, or `Invalid` listing every bad one (none are taken then)."""
    if not isinstance(body, dict) or not isinstance(body.get("tracks"), list):
        raise Invalid("the body must be an object whose `tracks` is an array of track reports")
    records = body["tracks"]
    extra = sorted(k for k in body if k != "tracks")
    if extra:
        raise Invalid(f"unknown member {extra[0]!r}; the body holds only `tracks`")
    if len(records) > MAX_TRACKS:
        raise TooLarge(f"{len(records)} reports in one request; at most {MAX_TRACKS} are taken")
    reports: list[TrackReport] = []
    errors: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        try:
            reports.append(track_from_record(record, party, index=index, source="tracks"))
        except TrackError as exc:
            errors.append({"index": index, "field": exc.field, "reason": exc.reason})
    if errors:
        first = errors[0]
        where = f"track {first['index']}" + (f": {first['field']}" if first["field"] else "")
        raise Invalid(
            f"{len(errors)} bad track report(s), none taken; {where}: {first['reason']}",
            errors=errors,
        )
    return reports


def _agreement_record(store: Store) -> dict[str, Any]:
    values = dataclasses.asdict(store.agreement())
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()
    }


def plan_changes(document: Any) -> list[Change]:
    """The changes of a plan file (`POST /v1/plans`); `Invalid` if it is not one."""
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise Invalid("a plan is a GeoJSON FeatureCollection object")
    features = document.get("features")
    if not isinstance(features, list):
        raise Invalid(
            "features must be an array",
            errors=[{"field": "features", "reason": "must be an array"}],
        )
    changes: list[Change] = []
    errors: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        item_id = feature.get("id") if isinstance(feature, dict) else None
        version = feature.get("version") if isinstance(feature, dict) else None
        if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > 128:
            errors.append(
                plan_error_record(
                    PlanError(
                        "plan",
                        "id",
                        "every feature needs a string id of 1-128 characters",
                        index=index,
                    )
                )
            )
            continue
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            errors.append(
                plan_error_record(
                    PlanError(
                        "plan",
                        "version",
                        "must be the integer version the feature replaces",
                        index=index,
                        item_id=item_id,
                    )
                )
            )
            continue
        changes.append(Change(item_id, feature, version, index))
    if errors:
        raise Invalid(
            f"{len(errors)} invalid item(s); nothing was stored. First: {errors[0]['message']}",
            errors=errors,
        )
    return changes


async def _stream(
    store: Store, caller: Party, key: str, after: int, request: Request
) -> AsyncIterator[bytes]:
    """Events after `after`, then each new one as it is committed; comments keep the line open.

    The stream ends when the client goes or the key stops working (revoked or rotated).
    """
    yield b"retry: 2000\n\n"
    idle = 0.0
    while True:
        wake = store.bell.listen()
        rows = await run_in_threadpool(store.events_after, caller, after, 500)
        for n, kind, body in rows:
            yield f"id: {n}\nevent: {kind}\ndata: {body}\n\n".encode()
            after = n
        if rows:
            idle = 0.0
            continue
        if await request.is_disconnected():
            return
        try:
            await asyncio.wait_for(wake.wait(), _POLL_S)
        except TimeoutError:
            if await run_in_threadpool(store.party_for_key, key) is None:
                return
            idle += _POLL_S
            if idle >= _HEARTBEAT_S:
                idle = 0.0
                yield b": keep-alive\n\n"
