"""The track feeds and TAK endpoints of a server, from `detente serve`'s options.

Each option names a party: `PARTY=HOST:PORT` for a listener or an SBS receiver,
`PARTY=URL` (udp://, tcp://, tls://) for a TAK endpoint. Tracks a listener receives are that
party's; the party must exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detente.errors import DetenteError
from detente.feeds import (
    CotSender,
    CotTcpListener,
    CotUdpListener,
    SbsClient,
    server_ssl_context,
)

from .app import Service
from .live import LiveTracks
from .tak import TakOut

__all__ = ["FeedOptions", "FeedSetupError", "build_feeds"]


class FeedSetupError(DetenteError):
    """A feed option that cannot be followed: which option, which value, why."""

    def __init__(self, option: str, value: str, reason: str) -> None:
        super().__init__(f"{option} {value!r}: {reason}")


@dataclass
class FeedOptions:
    cot_udp: Sequence[str] = ()
    cot_tcp: Sequence[str] = ()
    cot_tls: Sequence[str] = ()
    sbs: Sequence[str] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Sequence[str] = ()
    tak: Sequence[str] = ()
    tak_cert: Path | None = None
    tak_key: Path | None = None
    tak_ca: Path | None = None
    parties: Sequence[str] = field(default_factory=list)


def build_feeds(options: FeedOptions, live: LiveTracks) -> list[Service]:
    """The listeners, SBS clients and TAK sender the options ask for (not started yet)."""
    store = live.store
    sink, clock = live.accept_one, store.clock
    known = set(options.parties)
    services: list[Service] = []
    for value in options.cot_udp:
        party, host, port = _listen("--cot-udp", value, known)
        services.append(CotUdpListener(host, port, party, sink, clock=clock))
    for value in options.cot_tcp:
        party, host, port = _listen("--cot-tcp", value, known)
        services.append(CotTcpListener(host, port, party, sink, clock=clock))
    cas = _cas(options.tls_ca, known)
    for value in options.cot_tls:
        party, host, port = _listen("--cot-tls", value, known)
        if options.tls_cert is None or options.tls_key is None:
            raise FeedSetupError("--cot-tls", value, "needs --tls-cert and --tls-key")
        ca = cas.get(party) or cas.get("")
        if ca is None:
            raise FeedSetupError("--cot-tls", value, f"needs --tls-ca {party}=CA.pem (or CA.pem)")
        context = server_ssl_context(options.tls_cert, options.tls_key, ca)
        services.append(CotTcpListener(host, port, party, sink, ssl=context, clock=clock))
    for value in options.sbs:
        party, host, port = _listen("--sbs", value, known)
        services.append(SbsClient(host, port, party, sink, clock=clock))
    senders: dict[str, list[CotSender]] = {}
    for value in options.tak:
        party, _, url = value.partition("=")
        _party("--tak", value, party, known)
        try:
            sender = CotSender(url, cert=options.tak_cert, key=options.tak_key, ca=options.tak_ca)
        except DetenteError as exc:
            raise FeedSetupError("--tak", value, str(exc)) from None
        senders.setdefault(party, []).append(sender)
    if senders:
        tak = TakOut(senders)
        live.sinks.append(tak)
        services.append(tak)
    return services


def _listen(option: str, value: str, known: set[str]) -> tuple[str, str, int]:
    party, sep, address = value.partition("=")
    if not sep:
        raise FeedSetupError(option, value, "give PARTY=HOST:PORT")
    _party(option, value, party, known)
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise FeedSetupError(option, value, "the address must be HOST:PORT, PORT in 0-65535")
    return party, host.strip("[]") or "0.0.0.0", int(port)


def _party(option: str, value: str, party: str, known: set[str]) -> None:
    if party not in known:
        names = ", ".join(sorted(known)) or "none yet; add one with `detente party add`"
        raise FeedSetupError(option, value, f"no party {party!r} (parties: {names})")


def _cas(values: Sequence[str], known: set[str]) -> dict[str, Path]:
    cas: dict[str, Path] = {}
    for value in values:
        party, sep, path = value.partition("=")
        if not sep:
            cas[""] = Path(value)
            continue
        _party("--tls-ca", value, party, known)
        cas[party] = Path(path)
    return cas
