"""The server application: the API, a body size guard, and the background sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detente import __version__

from .api import MAX_BODY_BYTES, add_error_handlers, add_routes, problem_response
from .fast_plans import PlanFastPath
from .live import LiveTracks
from .problems import NotFound, TooLarge
from .store import Store

__all__ = ["Service", "create_app"]

#: The web page's files.
WEB = Path(__file__).resolve().parent.parent / "web" / "static"
#: The page runs only its own scripts and talks only to its own server (tiles aside).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: https: http:;"
    " style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_log = logging.getLogger("detente.server")


def create_app(
    store: Store,
    *,
    sweep_s: float = 1.0,
    cycle_s: float = 1.0,
    live: LiveTracks | None = None,
    services: Sequence[Service] = (),
    tile_url: str | None = None,
) -> FastAPI:
    """The ASGI application over `store`, and the web page at `/`.

    Every `sweep_s` it expires items and deadlines; every `cycle_s` it runs the tactical cycle
    of `live` (live tracks); `services` (track feeds) run while the application does. The page's
    map draws the coastlines shipped with it, over the tiles of `tile_url` if given.
    """
    live = live if live is not None else LiveTracks(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if sweep_s > 0:
            tasks.append(asyncio.create_task(_every(store.sweep, sweep_s, stop, "sweep")))
        if cycle_s > 0:
            tasks.append(asyncio.create_task(_every(live.run_cycle, cycle_s, stop, "cycle")))
        started: list[Service] = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                await service.close()
            # Not cancelled: work under way finishes (and gives back its connection) before
            # the application ends and the store may be closed.
            stop.set()
            await asyncio.gather(*tasks)

    app = FastAPI(
        title="Détente",
        version=__version__,
        description="Deconfliction channel: plans, notices with minimum disclosure, hotline,"
        " events. Every call takes `Authorization: Bearer KEY`; errors are RFC 9457"
        " problem details.",
        lifespan=lifespan,
    )
    add_error_handlers(app)
    add_routes(app, store, live)
    app.state.live = live
    app.state.services = list(services)
    add_page(app, store, tile_url)
    app.add_middleware(PlanFastPath, store=store)
    app.add_middleware(BodyLimit)
    return app


def add_page(app: FastAPI, store: Store, tile_url: str | None) -> None:
    """The web page: `/` and its files under `/static/`, and what the page asks of the server."""
    app.mount("/static", StaticFiles(directory=WEB, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        index = WEB / "index.html"
        if not index.is_file():
            raise NotFound("the web page is not installed with this copy of Détente")
        return FileResponse(index, headers=PAGE_HEADERS)

    @app.get("/v1/config", include_in_schema=False)
    def config() -> dict[str, Any]:
        # The server's clock (an exercise clock may run in another year): the page runs on it.
        return {"tile_url": tile_url, "version": __version__, "now": store.clock()}


class Service(Protocol):
    """Something that runs beside the API (a track feed)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def _every(
    work: Callable[[], object], every_s: float, stop: asyncio.Event, name: str
) -> None:
    while not stop.is_set():
        try:
            await run_in_threadpool(work)
        except Exception:  # a failed run is logged and tried again at the next tick
            _log.exception("%s failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


class BodyLimit:
    """Refuses bodies over `MAX_BODY_BYTES` (by Content-Length, or as they stream in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES:
                    raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
            return message

        await self.app(scope, limited, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    problem = TooLarge(f"the body is over {MAX_BODY_BYTES} bytes; send smaller plans")
    response = problem_response(problem, scope.get("path"))
    await response(scope, receive, send)
