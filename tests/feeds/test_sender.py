"""The CoT sender to test receivers on loopback: UDP, TCP with a reconnection, mutual TLS."""

from __future__ import annotations

import asyncio

import pytest

from detente.feeds import (
    CotSender,
    CotTcpListener,
    FeedError,
    FeedStats,
    parse_endpoint,
    server_ssl_context,
)
from detente.interop.cot import CotStreamSplitter, alert_event, alert_uid, parse_event
from detente.model import TrackReport

from ._util import NOW, T0, clock, take, until
from .conftest import Pki

ALERT = alert_event(
    alert_uid("blue/V1", "red/R7"),
    level="caution",
    now=T0,
    lon=36.5,
    lat=35.2,
    alt_m=7620.0,
    t_los_s=100.0,
    t_cpa_s=130.0,
    h_cpa_m=2000.0,
    v_cpa_m=0.0,
)


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.got.put_nowait(data)


def test_udp_sends_one_datagram_per_event():
    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        transport, receiver = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        async with CotSender(f"udp://127.0.0.1:{port}") as sender:
            await sender.send(ALERT)
            await sender.send(ALERT)
            got = await take(receiver.got, 2)
        transport.close()
        return got

    assert asyncio.run(scenario()) == [ALERT, ALERT]


def test_tcp_reconnects_when_the_server_dropped_the_connection():
    async def scenario() -> tuple[list[bytes], int, int]:
        events: asyncio.Queue[bytes] = asyncio.Queue()
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            writer.write(b"<event uid='from-the-server'/>")  # a TAK server talks back
            splitter = CotStreamSplitter()
            while chunk := await reader.read(4096):
                pieces = splitter.feed(chunk)
                for piece in pieces:
                    events.put_nowait(piece)  # type: ignore[arg-type]
                if connections == 1 and pieces:
                    break  # drop the first connection after its first event
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with CotSender(f"tcp://127.0.0.1:{port}") as sender:
            await sender.send(ALERT)
            first = await take(events)
            await until(lambda: not sender.connected)
            await sender.send(ALERT)
            second = await take(events)
            sent = sender.sent
        server.close()
        await server.wait_closed()
        return first + second, connections, sent

    got, connections, sent = asyncio.run(scenario())
    body = ALERT[ALERT.index(b"<event") :]  # the receiver's splitter drops the declaration
    assert got == [body, body]
    assert (connections, sent) == (2, 2)


def test_tls_end_to_end_from_sender_to_listener(pki: Pki):
    server = server_ssl_context(pki.server_cert, pki.server_key, pki.ca)

    async def scenario() -> tuple[list[TrackReport], FeedStats]:
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        async with CotTcpListener(
            "127.0.0.1", 0, "tak", got.put_nowait, ssl=server, clock=clock
        ) as listener:
            url = f"tls://127.0.0.1:{listener.port}"
            async with CotSender(
                url, cert=pki.client_cert, key=pki.client_key, ca=pki.ca
            ) as sender:
                await sender.send(ALERT)
                reports = await take(got)
            return reports, listener.stats

    reports, stats = asyncio.run(scenario())
    assert [r.callsign for r in reports] == ["DETENTE CAUTION"]
    assert reports[0] == parse_event(ALERT, "tak", now=NOW)
    assert stats.connections == 1


def test_tls_refuses_a_server_the_ca_did_not_sign(pki: Pki):
    rogue_ca = pki.rogue_cert.parent / "rogue-ca.pem"
    server = server_ssl_context(pki.server_cert, pki.server_key, pki.ca)

    async def scenario() -> str:
        async with CotTcpListener("127.0.0.1", 0, "tak", lambda r: None, ssl=server) as listener:
            url = f"tls://127.0.0.1:{listener.port}"
            async with CotSender(url, cert=pki.client_cert, key=pki.client_key, ca=rogue_ca) as s:
                with pytest.raises(FeedError) as caught:
                    await s.send(ALERT)
                return str(caught.value)

    assert "certificate verify failed" in asyncio.run(scenario())


def test_a_refused_connection_is_a_feed_error():
    async def scenario() -> str:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with CotSender(f"tcp://127.0.0.1:{port}") as sender:
            with pytest.raises(FeedError) as caught:
                await sender.send(ALERT)
            return str(caught.value)

    assert asyncio.run(scenario()).startswith("tcp://127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://tak:80", "scheme must be udp, tcp or tls"),
        ("tcp://tak", "give a host and a port"),
        ("tcp://:8087", "give a host and a port"),
        ("tcp://tak:port", "the port must be a number"),
        ("tcp://tak:99999", "the port must be a number"),
        ("tcp://tak:8087/path", "only scheme://host:port"),
    ],
)
def test_bad_endpoint_urls_say_why(url, reason):
    with pytest.raises(FeedError) as caught:
        parse_endpoint(url)
    assert reason in caught.value.reason


def test_tls_needs_a_client_certificate():
    with pytest.raises(FeedError, match="client certificate and key"):
        CotSender("tls://tak.example.org:8089")


def test_ipv6_endpoints_print_in_brackets():
    assert str(parse_endpoint("udp://[::1]:6969")) == "udp://[::1]:6969"
