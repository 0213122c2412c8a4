"""Live track feeds over the network: CoT listeners (UDP, TCP, mutual TLS), an SBS-1 client, and
a CoT sender for alerts to TAK.

Feeds parse with `detente.interop` and hand each `TrackReport` to a sink (any callable taking a
report); malformed messages are counted in the feed's `FeedStats` and logged (logger
`detente.feeds`), never fatal. Everything runs on asyncio.
"""

from __future__ import annotations

from detente.feeds._intake import Clock, Feed, FeedError, FeedStats, TrackSink
from detente.feeds.cot import CotTcpListener, CotUdpListener
from detente.feeds.sbs import SBS_PORT, SbsClient
from detente.feeds.sender import CotSender, Endpoint, parse_endpoint
from detente.feeds.tls import client_ssl_context, server_ssl_context

__all__ = [
    "SBS_PORT",
    "Clock",
    "CotSender",
    "CotTcpListener",
    "CotUdpListener",
    "Endpoint",
    "Feed",
    "FeedError",
    "FeedStats",
    "SbsClient",
    "TrackSink",
    "client_ssl_context",
    "parse_endpoint",
    "server_ssl_context",
]
