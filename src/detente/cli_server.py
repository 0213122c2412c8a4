"""The server's commands: `detente serve`, `detente party ...`, `detente admin-key`.

Server modules are imported inside the commands: `detente check` does not pay for them.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from detente.errors import DetenteError

if TYPE_CHECKING:
    from detente.server.store import Store

__all__ = ["admin_key", "demo", "party_app", "serve"]

EXAMPLES = Path(__file__).parent / "examples"
#: The example plans fly on 2015-10-01; the demo clock starts at 06:10, the first sorties
#: airborne and VIPER11 minutes from crossing r-017.
DEMO_CLOCK = 1443679800.0

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="DETENTE_DB",
        help="Store: a SQLite file path, or postgresql://user@host/db.",
    ),
]
DEFAULT_DB = "detente.db"
#: Seconds a thread holds the interpreter before another may take it (Python's default: 0.005).
SWITCH_INTERVAL_S = 0.0005

party_app = typer.Typer(help="Manage parties and their API keys.", no_args_is_help=True)


def _store(db: str) -> Store:
    from detente.server.store import Store

    try:
        return Store(db).migrate()
    except Exception as exc:  # a store that cannot be opened is the user's to fix
        _fail(f"cannot open the store {db!r}: {type(exc).__name__}: {exc}")
        raise


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def serve(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    clock_start: Annotated[
        str | None,
        typer.Option(
            help="Run an exercise clock that starts at this ISO 8601 instant (items expire by it)."
        ),
    ] = None,
    agreement: Annotated[
        str | None, typer.Option(help="Adopt this agreement file (TOML) before serving.")
    ] = None,
    cycle: Annotated[
        float, typer.Option(help="Seconds between tactical cycles over the live tracks.")
    ] = 1.0,
    cot_udp: Annotated[
        list[str] | None,
        typer.Option(help="Listen for a party's CoT over UDP: PARTY=HOST:PORT (repeatable)."),
    ] = None,
    cot_tcp: Annotated[
        list[str] | None, typer.Option(help="Listen for a party's CoT over TCP: PARTY=HOST:PORT.")
    ] = None,
    cot_tls: Annotated[
        list[str] | None,
        typer.Option(
            help="Listen for a party's CoT over TLS (client certificates): PARTY=HOST:PORT."
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="The TLS listeners' certificate (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The TLS listeners' key (PEM).")] = None,
    tls_ca: Annotated[
        list[str] | None,
        typer.Option(help="CA of a party's client certificates: PARTY=CA.pem, or CA.pem for all."),
    ] = None,
    sbs: Annotated[
        list[str] | None,
        typer.Option(help="Read a party's ADS-B receiver (SBS-1, port 30003): PARTY=HOST:PORT."),
    ] = None,
    tak: Annotated[
        list[str] | None,
        typer.Option(help="Send a party's alerts as CoT: PARTY=udp|tcp|tls://HOST:PORT."),
    ] = None,
    tak_cert: Annotated[
        Path | None, typer.Option(help="Client certificate for tls:// TAK.")
    ] = None,
    tak_key: Annotated[Path | None, typer.Option(help="Client key for tls:// TAK.")] = None,
    tak_ca: Annotated[Path | None, typer.Option(help="CA of tls:// TAK servers.")] = None,
    tile_url: Annotated[
        str | None,
        typer.Option(help="The web page's map tiles under its coastlines: .../{z}/{x}/{y}.png"),
    ] = None,
    timings: Annotated[
        bool,
        typer.Option(
            help="Log on stderr each group of writes' times (pass, turn, commit, flush) and "
            "each SQLite checkpoint's."
        ),
    ] = False,
) -> None:
    """Run the deconfliction server (HTTP API, docs at /docs; live-track feeds if asked)."""
    import uvicorn

    from detente.interop._values import Invalid, instant
    from detente.interop.agreement import load_agreement
    from detente.server.app import create_app
    from detente.server.clock import Clock
    from detente.server.feeds_setup import FeedOptions, build_feeds
    from detente.server.live import LiveTracks

    if timings:
        from detente.server import timings as write_timings

        write_timings.enable()
    store = _store(db)
    if clock_start is not None:
        try:
            store.clock = Clock(instant(clock_start, "--clock-start"))
        except Invalid as exc:
            _fail(f"--clock-start: {exc.reason}")
    if agreement is not None:
        try:
            store.set_agreement(load_agreement(agreement))
        except DetenteError as exc:
            _fail(str(exc))
    if not store.is_admin_key_set():
        print(f"admin key (shown once): {store.new_admin_key()}", flush=True)
    print(
        f"Détente serving {store.db.engine.url.render_as_string()} on http://{host}:{port}",
        flush=True,
    )
    if store.db.autovacuum_off():
        _warn(
            "PostgreSQL's autovacuum is off: the cell index grows with every new version of a"
            " plan and its lookups slow down; turn autovacuum on (or VACUUM the cells table"
            " regularly)"
        )
    short = store.db.short_buffers()
    if short is not None:
        shared, written = (f"{size / 2**20:,.0f} MB" for size in short)
        _warn(
            f"PostgreSQL's shared_buffers ({shared}) is smaller than the tables every write"
            f" reads and writes ({written}): their pages are read from the kernel a system call"
            " at a time; raise shared_buffers above their size"
        )
    if not cycle > 0:
        _fail("--cycle must be a positive number of seconds")
    live = LiveTracks(store)
    options = FeedOptions(
        cot_udp=cot_udp or (),
        cot_tcp=cot_tcp or (),
        cot_tls=cot_tls or (),
        sbs=sbs or (),
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca or (),
        tak=tak or (),
        tak_cert=tak_cert,
        tak_key=tak_key,
        tak_ca=tak_ca,
        parties=[p.name for p in store.parties() if not p.revoked],
    )
    try:
        services = build_feeds(options, live)
    except DetenteError as exc:
        _fail(str(exc))
        raise
    for value in [*options.cot_udp, *options.cot_tcp, *options.cot_tls, *options.sbs]:
        print(f"live tracks: {value}", flush=True)
    app = create_app(store, cycle_s=cycle, live=live, services=services, tile_url=tile_url)
    warmed = store.start_pass_process(warm=True)
    if warmed:
        print(f"{warmed} active items parsed", flush=True)
    _quiet_collector()
    _short_turns()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()


def _quiet_collector() -> None:
    """Fewer, shorter garbage collections for a long-running server: what exists at start
    (modules, the store's tables) and what survives a collection is never scanned again, and
    young objects are collected less often (`detente.server.collector`)."""
    from detente.server import collector

    collector.freeze_after_collections()


def _short_turns() -> None:
    """Threads take turns with the interpreter every `SWITCH_INTERVAL_S`, not every 5 ms: a
    commit's thread holds the store's locks while it waits for its turn between statements, so
    every writer queued behind it waited for the turns of the threads parsing new requests."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@contextmanager
def _user_errors() -> Iterator[None]:
    """A refused request (unknown party, name taken ...) is one line on stderr, exit 2."""
    try:
        yield
    except DetenteError as exc:
        _fail(str(exc))


@party_app.command("add")
def party_add(name: str, db: DbOption = DEFAULT_DB) -> None:
    """Create a party; its API key is printed once, as the last line."""
    with _user_errors():
        party, key = _store(db).add_party(name)
    print(f"party {party.name} added; its API key (shown once):")
    print(key)


@party_app.command("rotate-key")
def party_rotate(name: str, db: DbOption = DEFAULT_DB) -> None:
    """Give a party a new key; the old one stops working. The key is the last line."""
    with _user_errors():
        key = _store(db).rotate_key(name)
    print(f"party {name}: new API key (shown once):")
    print(key)


@party_app.command("revoke")
def party_revoke(name: str, db: DbOption = DEFAULT_DB) -> None:
    """Revoke a party's key (its plans and record stay)."""
    with _user_errors():
        _store(db).revoke(name)
    print(f"party {name}: key revoked")


@party_app.command("list")
def party_list(db: DbOption = DEFAULT_DB) -> None:
    """List the parties."""
    for party in _store(db).parties():
        print(f"{party.name}{'  (revoked)' if party.revoked else ''}")


def admin_key(db: DbOption = DEFAULT_DB) -> None:
    """Make a new admin key (the old one stops working); printed once, as the last line."""
    print("admin key (shown once):")
    print(_store(db).new_admin_key())


def demo(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None, typer.Option("--db", help="Store (default: a new SQLite file in a temp dir).")
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in a browser.")
    ] = True,
    tracks: Annotated[
        bool, typer.Option("--tracks/--no-tracks", help="Fly the example's flights as tracks.")
    ] = True,
    tile_url: Annotated[
        str | None, typer.Option(help="Map tiles under the shipped coastlines: .../{z}/{x}/{y}.png")
    ] = None,
) -> None:
    """Serve the Syria-2015 example: two parties, their plans, their conflicts, live tracks, and
    the web page signed in as the coalition; keys printed."""
    import webbrowser

    import orjson
    import uvicorn

    from detente.model import Flight
    from detente.server.app import create_app
    from detente.server.clock import Clock
    from detente.server.demo_tracks import DemoTracks
    from detente.server.live import LiveTracks
    from detente.server.plans import Change

    url = db or str(Path(tempfile.mkdtemp(prefix="detente-demo-")) / "demo.db")
    store = _store(url)
    store.clock = Clock(DEMO_CLOCK)
    keys: dict[str, str] = {}
    flights: list[Flight] = []
    for name in ("coalition", "russia"):
        party, keys[name] = store.add_party(name)
        document = orjson.loads((EXAMPLES / f"{name}.geojson").read_bytes())
        changes = [Change(f["id"], f, None, k) for k, f in enumerate(document["features"])]
        result = store.write(party, changes, source=f"{name}.geojson")
        print(f"{name}: {len(result.items)} plan items, {len(result.conflicts)} new conflicts")
        flights += [
            item
            for item in store.active_items(("flight",), 0.0, float("inf"), party=party)
            if isinstance(item, Flight)
        ]
    base = f"http://127.0.0.1:{port}"
    page = f"{base}/#key={keys['coalition']}"
    print(f"\nstore: {url} (exercise clock from 2015-10-01T06:10:00Z)")
    for name, key in keys.items():
        print(f"{name} key: {key}")
    print(f"\nthe page, signed in as the coalition:  {page}")
    print(f"as Russia:  {base}/#key={keys['russia']}")
    print(f"API docs: {base}/docs   (Ctrl-C stops)", flush=True)
    live = LiveTracks(store)
    services = [DemoTracks(live, flights)] if tracks else []
    app = create_app(store, live=live, services=services, tile_url=tile_url)
    if open_page:
        threading.Timer(1.0, _open, (webbrowser, page)).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _open(webbrowser: Any, page: str) -> None:
    """Open the page in a graphical browser, where there is one. Never a text browser in the
    terminal: on a machine without a display the URL printed is the way in."""
    import os

    graphical = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not graphical or os.environ.get("CI"):
        return
    try:
        webbrowser.open(page)
    except Exception:  # no browser: the URL is printed
        return
