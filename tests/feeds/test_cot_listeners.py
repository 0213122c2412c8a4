"""CoT listeners over real loopback sockets: UDP, TCP with awkward chunking, mutual TLS."""

from __future__ import annotations

import asyncio
import ssl

from detente.feeds import (
    CotTcpListener,
    CotUdpListener,
    FeedStats,
    client_ssl_context,
    server_ssl_context,
)
from detente.model import TrackReport

from ._util import NOW, WAIT_S, clock, event, take, until
from .conftest import Pki

PING = event("ping", cot_type="t-x-c-t")
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def test_udp_datagrams_become_reports_and_bad_ones_are_counted():
    async def scenario() -> tuple[list[TrackReport], FeedStats]:
        got: asyncio.Queue[TrackReport] = asyncio.Queue()

        def sink(report: TrackReport) -> None:
            if report.uid == "boom":
                raise ValueError("the sink fails on this one")
            got.put_nowait(report)

        async with CotUdpListener("127.0.0.1", 0, "blue", sink, clock=clock) as listener:
            assert listener.port > 0
            loop = asyncio.get_running_loop()
            sender, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("127.0.0.1", listener.port)
            )
            for datagram in (b"\x00garbage", PING, event("boom"), event("A")[:90], event("A")):
                sender.sendto(datagram)
            sender.sendto(DECL + event("B", detail='<__detente plan="p1"/>'))
            reports = await take(got, 2)
            sender.close()
            return reports, listener.stats

    reports, stats = asyncio.run(scenario())
    assert [(r.uid, r.party, r.plan_id) for r in reports] == [
        ("A", "blue", None),
        ("B", "blue", "p1"),
    ]
    assert stats.received == 6
    assert (stats.accepted, stats.ignored, stats.malformed) == (3, 1, 2)
    assert (stats.reports, stats.sink_errors) == (2, 1)
    assert "cut short" in (stats.last_error or "")


def test_a_tcp_stream_in_odd_chunks_with_garbage_and_a_cut_event():
    a, b, c = event("A"), event("B"), event("C")
    chunks = [DECL + a[:10], a[10:50], a[50:] + b + b"junk\r\n" + c[:30], c[30:], b"\n" + a[:40]]

    async def scenario() -> tuple[list[TrackReport], FeedStats]:
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        async with CotTcpListener("127.0.0.1", 0, "red", got.put_nowait, clock=clock) as listener:
            _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0)
            reports = await take(got, 3)
            writer.close()
            await writer.wait_closed()
            await until(lambda: listener.stats.malformed == 2)
            return reports, listener.stats

    reports, stats = asyncio.run(scenario())
    assert [(r.uid, r.party, r.time) for r in reports] == [
        ("A", "red", NOW - 1.0),
        ("B", "red", NOW - 1.0),
        ("C", "red", NOW - 1.0),
    ]
    assert (stats.received, stats.accepted, stats.malformed, stats.connections) == (5, 3, 2, 1)
    assert "cut short" in (stats.last_error or "")


def test_closing_a_listener_drops_its_clients():
    async def scenario() -> bytes:
        listener = CotTcpListener("127.0.0.1", 0, "red", lambda report: None)
        await listener.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        await until(lambda: listener.stats.connections == 1)
        await listener.close()
        rest = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        return rest

    assert asyncio.run(scenario()) == b""


async def _refused(pki: Pki, context: ssl.SSLContext, port: int) -> bool:
    """Whether the server refuses a client with this context (its event unread)."""
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )
        writer.write(event("intruder"))
        await writer.drain()
        refused = await asyncio.wait_for(reader.read(), WAIT_S) == b""
        writer.close()
    except (ssl.SSLError, ConnectionError):
        return True
    except TimeoutError:
        return False  # the server let it in and waits for more
    return refused


def test_tls_lets_in_only_clients_with_a_certificate_from_the_ca(pki: Pki):
    no_certificate = ssl.create_default_context(cafile=pki.ca)
    rogue = client_ssl_context(pki.rogue_cert, pki.rogue_key, pki.ca)
    member = client_ssl_context(pki.client_cert, pki.client_key, pki.ca)
    server = server_ssl_context(pki.server_cert, pki.server_key, pki.ca)
    assert server.verify_mode == ssl.CERT_REQUIRED

    async def scenario() -> tuple[list[bool], list[TrackReport], FeedStats]:
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        async with CotTcpListener(
            "127.0.0.1", 0, "blue", got.put_nowait, ssl=server, clock=clock
        ) as listener:
            refusals = [
                await _refused(pki, no_certificate, listener.port),
                await _refused(pki, rogue, listener.port),
            ]
            _, writer = await asyncio.open_connection(
                "127.0.0.1", listener.port, ssl=member, server_hostname="localhost"
            )
            writer.write(DECL + event("V11"))
            await writer.drain()
            reports = await take(got)
            writer.close()
            return refusals, reports, listener.stats

    refusals, reports, stats = asyncio.run(scenario())
    assert refusals == [True, True]
    assert [(r.uid, r.party) for r in reports] == [("V11", "blue")]
    assert (stats.received, stats.accepted, stats.connections) == (1, 1, 1)
