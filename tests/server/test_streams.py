"""Event streams end when their key stops working."""

from __future__ import annotations

import threading

from .conftest import Live


def test_revoking_a_key_ends_its_open_stream(live: Live) -> None:
    lines: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        with live.client("green") as client, client.stream("GET", "/v1/events") as response:
            assert response.status_code == 200
            opened.set()
            lines.extend(response.iter_lines())

    listener = threading.Thread(target=listen)
    listener.start()
    assert opened.wait(10)
    live.store.revoke("green")
    listener.join(15)
    assert not listener.is_alive(), "the stream outlived its revoked key"
    assert lines[0] == "retry: 2000"
