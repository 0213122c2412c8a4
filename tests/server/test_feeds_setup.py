"""`detente serve`'s feed options: each one is followed or refused with the option and why."""

from __future__ import annotations

import pytest

from detente.feeds import CotTcpListener, CotUdpListener, SbsClient
from detente.server.feeds_setup import FeedOptions, FeedSetupError, build_feeds
from detente.server.live import LiveTracks
from detente.server.store import Store
from detente.server.tak import TakOut


@pytest.fixture
def store_url(tmp_path) -> str:
    """SQLite only (overrides the two-backend fixture of conftest): no store work here."""
    return str(tmp_path / "detente.db")


def test_each_option_makes_its_feed(store: Store):
    live = LiveTracks(store)
    options = FeedOptions(
        cot_udp=["blue=127.0.0.1:0"],
        cot_tcp=["red=:0"],
        sbs=["blue=adsb.local:30003"],
        tak=["blue=udp://127.0.0.1:4242"],
        parties=["blue", "red"],
    )
    services = build_feeds(options, live)
    kinds = [type(s) for s in services]
    assert kinds == [CotUdpListener, CotTcpListener, SbsClient, TakOut]
    assert live.sinks == [services[-1]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (FeedOptions(cot_udp=["white=127.0.0.1:1"]), "no party 'white'"),
        (FeedOptions(cot_udp=["127.0.0.1:1"]), "give PARTY=HOST:PORT"),
        (FeedOptions(cot_tcp=["blue=host:port"]), "HOST:PORT"),
        (FeedOptions(cot_tcp=["blue=host:70000"]), "0-65535"),
        (FeedOptions(cot_tls=["blue=:8089"]), "needs --tls-cert and --tls-key"),
        (FeedOptions(tak=["blue=http://x:1"]), "--tak"),
        (FeedOptions(tak=["blue=tls://x:1"]), "client certificate"),
    ],
)
def test_a_bad_option_is_refused(store: Store, options: FeedOptions, message: str):
    options.parties = ["blue", "red"]
    with pytest.raises(FeedSetupError) as caught:
        build_feeds(options, LiveTracks(store))
    assert message in str(caught.value)
