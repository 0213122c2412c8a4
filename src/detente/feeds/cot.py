"""Cursor-on-Target listeners: UDP datagrams and TCP (or mutual-TLS) streams of events.

Every report a listener reads belongs to the listener's one `party`: the network cannot say
whose aircraft an event describes, so each party gets its own listener (its own port and, with
TLS, its own certificate authority, so that only that party's clients get in). Start and stop a
listener with `start()`/`close()` or `async with`; `port` is the port bound (ask for port 0 to
get a free one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as _ssl
import time

from detente.feeds._intake import Clock, Feed, Intake, TrackSink
from detente.interop.cot import MAX_EVENT_BYTES, CotStreamSplitter, TrackFormatError

__all__ = ["CotTcpListener", "CotUdpListener"]

logger = logging.getLogger("detente.feeds")

_READ_BYTES = 65_536


class _Listener(Feed):
    """A feed that listens on host:port."""

    host: str
    _port: int

    @property
    def port(self) -> int:
        """The port bound (valid once started)."""
        return self._port


class CotUdpListener(_Listener):
    """Read CoT events of `party` from UDP datagrams (one event per datagram) on host:port."""

    def __init__(
        self,
        host: str,
        port: int,
        party: str,
        sink: TrackSink,
        *,
        clock: Clock = time.time,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.host = host
        self._port = port
        self.max_event_bytes = max_event_bytes
        self._intake = Intake(f"CoT/UDP {host}:{port} ({party})", party, sink, clock)
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """Bind the socket and start reading."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self.host, self._port)
        )
        self._transport = transport
        self._port = transport.get_extra_info("sockname")[1]
        self._intake.name = f"CoT/UDP {self.host}:{self._port} ({self._intake.party})"
        logger.info("%s: listening", self._intake.name)

    async def close(self) -> None:
        """Stop reading and release the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _datagram(self, data: bytes) -> None:
        splitter = CotStreamSplitter(self.max_event_bytes)
        for piece in splitter.feed(data):
            if isinstance(piece, TrackFormatError):
                self._intake.malformed(piece)
            else:
                self._intake.cot(piece)
        for error in splitter.finish():
            self._intake.malformed(error)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: CotUdpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.listener._datagram(data)

    def error_received(self, exc: Exception) -> None:
        self.listener._intake.failed(f"socket error: {exc}")


class CotTcpListener(_Listener):
    """Read CoT event streams of `party` from TCP clients on host:port.

    With `ssl` (see `detente.feeds.tls.server_ssl_context`) only clients showing a certificate
    the context trusts get in. Each connection's stream is cut into events by a
    `CotStreamSplitter`; garbage and broken events are counted, never fatal.
    """

    def __init__(
        self,
        host: str,
        port: int,
        party: str,
        sink: TrackSink,
        *,
        ssl: _ssl.SSLContext | None = None,
        clock: Clock = time.time,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.host = host
        self._port = port
        self.ssl = ssl
        self.max_event_bytes = max_event_bytes
        scheme = "TLS" if ssl is not None else "TCP"
        self._intake = Intake(f"CoT/{scheme} {host}:{port} ({party})", party, sink, clock)
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        """Bind the socket and start accepting clients."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port, ssl=self.ssl)
        self._port = self._server.sockets[0].getsockname()[1]
        scheme = "TLS" if self.ssl is not None else "TCP"
        self._intake.name = f"CoT/{scheme} {self.host}:{self._port} ({self._intake.party})"
        logger.info("%s: listening", self._intake.name)

    async def close(self) -> None:
        """Stop accepting, drop every client, release the socket."""
        if self._server is None:
            return
        self._server.close()
        for writer in self._clients.values():
            writer.transport.abort()  # the client's handler sees the end of its stream
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients[task] = writer
        intake = self._intake
        intake.stats.connections += 1
        peer = writer.get_extra_info("peername")
        logger.info("%s: client %s connected %s", intake.name, peer, _subject(writer))
        splitter = CotStreamSplitter(self.max_event_bytes)
        try:
            while chunk := await reader.read(_READ_BYTES):
                for piece in splitter.feed(chunk):
                    if isinstance(piece, TrackFormatError):
                        intake.malformed(piece)
                    else:
                        intake.cot(piece)
            for error in splitter.finish():
                intake.malformed(error)
        except OSError as error:  # reset, TLS failure after the handshake
            intake.failed(f"client {peer}: {error}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if task is not None:
                self._clients.pop(task, None)
            logger.info("%s: client %s gone", intake.name, peer)


def _subject(writer: asyncio.StreamWriter) -> str:
    """The client certificate's common name, for the log."""
    cert = writer.get_extra_info("peercert")
    if not cert:
        return ""
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return f"as {value!r}"
    return ""
