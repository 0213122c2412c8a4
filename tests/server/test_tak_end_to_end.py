"""A TAK client's view: CoT in over UDP and TCP, the alert out as CoT, through `detente serve`.

Blue's aircraft reaches the server as CoT over UDP, red's over TCP; blue's TAK endpoint (a UDP
socket here, as a TAK client listens) receives a marker for the red aircraft with the alert.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from detente.geo import GEOD
from detente.interop.cot import parse_event, track_event
from detente.model import TrackReport

from .conftest import free_port


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _detente(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "detente", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def tak_client() -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    yield receiver
    receiver.close()


def test_cot_in_alert_out(store_url: str, tmp_path: Path, tak_client: socket.socket):
    keys = {p: _detente("party", "add", p, "--db", store_url).split()[-1] for p in ("blue", "red")}
    port, udp_in, tcp_in = free_port(), _free_udp_port(), free_port()
    tak_port = tak_client.getsockname()[1]
    command = [sys.executable, "-m", "detente", "serve", "--db", store_url, "--port", str(port)]
    command += ["--cot-udp", f"blue=127.0.0.1:{udp_in}", "--cot-tcp", f"red=127.0.0.1:{tcp_in}"]
    command += ["--tak", f"blue=udp://127.0.0.1:{tak_port}"]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                headers = {"Authorization": f"Bearer {keys['blue']}"}
                if httpx.get(f"{url}/v1/me", headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        now = time.time()
        lon_red = float(GEOD.fwd(36.0, 36.0, 90.0, 40_000.0)[0])
        blue = TrackReport("blue", "VIPER11", now, 36.0, 36.0, 6000.0, 90.0, 200.0, callsign="V 11")
        red = TrackReport("red", "r-17", now, lon_red, 36.0, 6000, 270.0, 200.0, callsign="SOKOL 3")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<event garbage", ("127.0.0.1", udp_in))  # counted, never fatal
            udp.sendto(track_event(blue), ("127.0.0.1", udp_in))
        with socket.create_connection(("127.0.0.1", tcp_in)) as tcp:
            tcp.sendall(track_event(red))
            markers = []
            deadline = time.monotonic() + 15
            while not markers and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    markers.append(tak_client.recv(65536))
        assert markers, "no CoT alert reached the TAK endpoint"
        marker = markers[0]
        assert "Détente CAUTION: separation lost in" in marker.decode()
        seen = parse_event(marker, "blue", now=time.time())
        # At the red aircraft, named by its party only: never red's uid or callsign.
        assert abs(seen.lon - lon_red) < 0.05 and abs(seen.lat - 36.0) < 0.01
        assert b"r-17" not in marker and b"SOKOL" not in marker
        assert seen.callsign == "RED SEPARATION"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['red']}"}) as c:
            events = c.get("/v1/events", params={"after": 0}).json()["events"]
        assert [e["event"] for e in events][:1] == ["alert.raised"]
        log_text = (tmp_path / "serve.log").read_text()
        admin = next(line.split(": ")[1] for line in log_text.splitlines() if "admin key" in line)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as c:
            feeds = {f["name"]: f for f in c.get("/v1/admin/feeds").json()["feeds"]}
        udp_feed = feeds[f"CoT/UDP 127.0.0.1:{udp_in} (blue)"]
        assert (udp_feed["party"], udp_feed["accepted"], udp_feed["malformed"]) == ("blue", 1, 1)
        assert feeds[f"CoT/TCP 127.0.0.1:{tcp_in} (red)"]["accepted"] == 1
    finally:
        server.kill()
        server.wait(30)
        log.close()
