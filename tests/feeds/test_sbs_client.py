"""The SBS-1 client against a test receiver on loopback: lines merged, bad ones counted,
connections lost and made again."""

from __future__ import annotations

import asyncio

import pytest

from detente.feeds import FeedStats, SbsClient
from detente.model import TrackReport

from ._util import T0, take, until

CALLSIGN = "MSG,1,1,1,4CA2D6,1,2015/10/01,06:00:00.000,2015/10/01,06:00:00.000,RYR7GX,,,,,,,,,,,0"
POSITION = (
    "MSG,3,1,1,4CA2D6,1,2015/10/01,06:00:01.000,2015/10/01,06:00:01.000,"
    ",35000,,,35.2,36.5,,,0,0,0,0"
)
MOVED = POSITION.replace("06:00:01.000", "06:00:09.000").replace("36.5,", "36.6,")


class Receiver:
    """A stand-in for dump1090's port 30003: each connection gets the next batch of lines,
    then is closed unless it is the last batch."""

    def __init__(self, batches: list[list[bytes]]) -> None:
        self.batches = batches
        self.served = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        batch = self.batches[min(self.served, len(self.batches) - 1)]
        self.served += 1
        for line in batch:
            writer.write(line)
            await writer.drain()
        if self.served < len(self.batches):
            writer.close()
        else:
            await reader.read()  # hold the last connection open until the client leaves
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def test_lines_become_reports_across_a_reconnection():
    first = [
        (CALLSIGN + "\r\n").encode(),
        b"\r\n",
        b"MSG,3,1,1,NOTHEX,1\r\n",
        b"STA,,1,1,4CA2D6,1,2015/10/01,06:00:03.000,2015/10/01,06:00:03.000,RM\r\n",
        (POSITION[:40]).encode(),
        (POSITION[40:] + "\r\n").encode(),
    ]
    second = [(MOVED + "\n").encode()]

    async def scenario() -> tuple[list[TrackReport], FeedStats]:
        receiver = Receiver([first, second])
        port = await receiver.start()
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        client = SbsClient(
            "127.0.0.1", port, "blue", got.put_nowait, reconnect_s=0.01, clock=lambda: T0 + 60
        )
        async with client:
            reports = await take(got, 2)
            assert client.connected
            stats = client.stats
        assert not client.connected
        await receiver.close()
        return reports, stats

    (position, moved), stats = asyncio.run(scenario())
    assert (position.uid, position.party, position.callsign, position.lon) == (
        "4CA2D6",
        "blue",
        "RYR7GX",
        36.5,
    )
    assert position.alt_m == pytest.approx(35000 * 0.3048)
    assert (moved.lon, moved.callsign, moved.time) == (36.6, "RYR7GX", T0 + 9.0)
    assert stats.connections == 2
    assert (stats.received, stats.accepted, stats.ignored, stats.malformed) == (5, 3, 1, 1)
    assert stats.reports == 2
    assert "the receiver closed the connection" in (stats.last_error or "")


def test_an_absent_receiver_is_retried_until_it_answers():
    async def scenario() -> tuple[TrackReport, FeedStats, str]:
        receiver = Receiver([[(POSITION + "\n").encode()]])
        port = await receiver.start()
        await receiver.close()  # nobody listens there now
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        async with SbsClient("127.0.0.1", port, "blue", got.put_nowait, reconnect_s=0.01) as client:
            await until(lambda: client.stats.last_error is not None)
            first_error = client.stats.last_error or ""
            await receiver.start(port)
            (report,) = await take(got)
            stats = client.stats
        await receiver.close()
        return report, stats, first_error

    report, stats, first_error = asyncio.run(scenario())
    assert "cannot connect" in first_error
    assert report.uid == "4CA2D6"
    assert stats.connections == 1


def test_an_overlong_line_is_counted_and_skipped():
    async def scenario() -> tuple[list[TrackReport], FeedStats]:
        receiver = Receiver([[b"MSG," + b"9" * 10_000 + b"\n", (POSITION + "\n").encode()]])
        port = await receiver.start()
        got: asyncio.Queue[TrackReport] = asyncio.Queue()
        async with SbsClient("127.0.0.1", port, "blue", got.put_nowait) as client:
            reports = await take(got)
            stats = client.stats
        await receiver.close()
        return reports, stats

    reports, stats = asyncio.run(scenario())
    assert [r.uid for r in reports] == ["4CA2D6"]
    assert stats.malformed >= 1  # the line, and maybe the rest of it as a second one
