"""Send CoT events (alerts, tracks) to a TAK endpoint: `udp://`, `tcp://` or `tls://host:port`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from os import PathLike
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from detente.feeds._intake import FeedError
from detente.feeds.tls import client_ssl_context

__all__ = ["CotSender", "Endpoint", "parse_endpoint"]

logger = logging.getLogger("detente.feeds")

_SCHEMES = frozenset({"udp", "tcp", "tls"})
_MAX_DATAGRAM = 65_507
_DRAIN_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to send: `scheme` (udp, tcp, tls), `host`, `port`."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """Read a TAK endpoint URL.

    >>> parse_endpoint("tls://tak.example.org:8089")
    Endpoint(scheme='tls', host='tak.example.org', port=8089)
    >>> parse_endpoint("http://tak:80")
    Traceback (most recent call last):
    detente.feeds._intake.FeedError: http://tak:80: the scheme must be udp, tcp or tls
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise FeedError(url, "the scheme must be udp, tcp or tls")
    try:
        port = parts.port
    except ValueError:
        raise FeedError(url, "the port must be a number from 0 to 65535") from None
    if not parts.hostname or port is None:
        raise FeedError(url, "give a host and a port, as in tcp://tak.example.org:8087")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise FeedError(url, "a TAK endpoint is only scheme://host:port")
    return Endpoint(scheme, parts.hostname, port)


class CotSender:
    """Send CoT events to one TAK endpoint (a TAK server's input, a TAK client, a mesh group).

    UDP sends one datagram per event. TCP and TLS connect on the first `send`, read and discard
    whatever the server sends back, and reconnect once when the connection is found broken; a
    send that still fails raises `FeedError`. TLS shows the client certificate `cert` (with
    `key`) and trusts servers signed by `ca` (the system's authorities when None), checking
    that the server's certificate names `server_hostname` (the URL's host by default); or pass
    a ready `ssl_context`.
    """

    def __init__(
        self,
        url: str,
        *,
        cert: str | PathLike[str] | None = None,
        key: str | PathLike[str] | None = None,
        ca: str | PathLike[str] | None = None,
        server_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = parse_endpoint(url)
        self.server_hostname = server_hostname or self.endpoint.host
        self.connect_timeout_s = connect_timeout_s
        self._ssl: ssl.SSLContext | None = None
        if self.endpoint.scheme == "tls":
            if ssl_context is not None:
                self._ssl = ssl_context
            elif cert is None or key is None:
                raise FeedError(url, "tls:// needs a client certificate and key (cert=, key=)")
            else:
                self._ssl = client_ssl_context(cert, key, ca)
        self._datagrams: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._drain: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.sent = 0

    @property
    def connected(self) -> bool:
        """Whether a TCP or TLS connection is open and not known to be broken."""
        return (
            self._writer is not None
            and not self._writer.is_closing()
            and self._drain is not None
            and not self._drain.done()
        )

    async def send(self, event: bytes) -> None:
        """Send one event."""
        async with self._lock:
            if self.endpoint.scheme == "udp":
                await self._send_datagram(event)
            else:
                try:
                    await self._send_stream(event)
                except OSError:
                    await self._disconnect()
                    try:
                        await self._send_stream(event)
                    except OSError as error:
                        await self._disconnect()
                        raise FeedError(str(self.endpoint), f"cannot send ({error})") from None
            self.sent += 1

    async def close(self) -> None:
        """Close the connection or socket."""
        async with self._lock:
            await self._disconnect()
            if self._datagrams is not None:
                self._datagrams.close()
                self._datagrams = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send_datagram(self, event: bytes) -> None:
        if len(event) > _MAX_DATAGRAM:
            raise FeedError(str(self.endpoint), f"an event of {len(event)} bytes is too long")
        if self._datagrams is None:
            loop = asyncio.get_running_loop()
            try:
                self._datagrams, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol,
                    remote_addr=(self.endpoint.host, self.endpoint.port),
                )
            except OSError as error:
                raise FeedError(str(self.endpoint), f"cannot open ({error})") from None
        self._datagrams.sendto(event)

    async def _send_stream(self, event: bytes) -> None:
        writer = self._writer
        if writer is None or not self.connected:
            await self._disconnect()
            writer = await self._connect()
        writer.write(event)
        await writer.drain()

    async def _connect(self) -> asyncio.StreamWriter:
        endpoint = self.endpoint
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    endpoint.host,
                    endpoint.port,
                    ssl=self._ssl,
                    server_hostname=self.server_hostname if self._ssl else None,
                ),
                self.connect_timeout_s,
            )
        except TimeoutError:
            raise FeedError(str(endpoint), "no connection within the timeout") from None
        except OSError as error:  # refused, unreachable, TLS verification failed
            raise FeedError(str(endpoint), f"cannot connect ({error})") from None
        logger.info("CoT sender %s: connected", endpoint)
        self._writer = writer
        self._drain = asyncio.create_task(_discard(reader))
        return writer

    async def _disconnect(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read and drop what the server sends (a TAK server relays other clients' traffic)."""
    with contextlib.suppress(OSError):
        while await reader.read(_DRAIN_BYTES):
            pass
