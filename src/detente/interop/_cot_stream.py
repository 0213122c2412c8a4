"""Cut a Cursor-on-Target TCP stream (concatenated `<event>` documents) into whole events."""

from __future__ import annotations

import re
from typing import Final

from detente.interop._tracks import TrackFormatError

__all__ = ["MAX_EVENT_BYTES", "CotStreamSplitter"]

MAX_EVENT_BYTES: Final = 65_536
"""The largest CoT event Détente reads (a UDP datagram cannot hold more)."""


def _fail(field: str | None, reason: str) -> TrackFormatError:
    return TrackFormatError("CoT", field, reason)


_OPEN = b"<event"
_CLOSE = b"</event"
_NAME_END = frozenset(b" \t\r\n/>")
_BETWEEN = re.compile(rb"(?:\s|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)


class CotStreamSplitter:
    """Cut a CoT byte stream (concatenated `<event>` documents) into whole events.

    `feed` takes whatever the socket gave and returns, in order, each complete event (bytes)
    and a `TrackFormatError` for each piece dropped: garbage between events (XML declarations,
    comments and whitespace are not garbage), an event cut short by the start of the next, an
    event longer than `max_event_bytes`. It never raises on input.

    >>> splitter = CotStreamSplitter()
    >>> for piece in splitter.feed(b'<?xml version="1.0"?><event uid="a"/>junk<event uid="b">'):
    ...     print(piece)
    b'<event uid="a"/>'
    CoT event: garbage between events: 4 bytes
    >>> splitter.feed(b'<point/></event>')
    [b'<event uid="b"><point/></event>']
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside an oversized event: drop until the next start tag

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for the rest of an event."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes | TrackFormatError]:
        """Add `chunk` to the stream; return the events it completes and the pieces dropped."""
        buf = self._buffer
        buf += chunk
        out: list[bytes | TrackFormatError] = []
        pos = 0
        while True:
            start = _next_open(buf, pos)
            if start < 0:
                if self._skipping or len(buf) - pos > self.max_event_bytes:
                    keep = max(pos, len(buf) - len(_OPEN) + 1)
                    if not self._skipping:
                        out.append(_garbage(keep - pos))
                    pos = keep
                break
            if self._skipping:
                self._skipping = False
            elif not _BETWEEN.fullmatch(buf, pos, start):
                out.append(_garbage(start - pos))
            end = self._event_end(buf, start, out)
            if end is None:  # incomplete: wait for more
                pos = start
                break
            pos = end
        del buf[:pos]
        return out

    def finish(self) -> list[TrackFormatError]:
        """End of stream: what is held back, if anything but whitespace, was cut short."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        skipping, self._skipping = self._skipping, False
        if skipping or _BETWEEN.fullmatch(rest):
            return []
        if _next_open(bytearray(rest), 0) >= 0:
            return [_fail(None, "is cut short by the end of the stream")]
        return [_garbage(len(rest))]

    def _event_end(
        self, buf: bytearray, start: int, out: list[bytes | TrackFormatError]
    ) -> int | None:
        """Where to resume after the event starting at `start`; None if it is not complete yet."""
        body = start + len(_OPEN)
        following = _next_open(buf, body, confirmed=True)
        end = _complete_end(buf, body, following if following >= 0 else len(buf))
        if end < 0:
            if following >= 0:
                out.append(_fail(None, "is truncated: the next event began before </event>"))
                return following
            return self._wait_or_drop(buf, start, out)
        if end - start > self.max_event_bytes:
            out.append(_fail(None, f"is longer than {self.max_event_bytes} bytes"))
        else:
            out.append(bytes(buf[start:end]))
        return end

    def _wait_or_drop(
        self, buf: bytearray, start: int, out: list[bytes | TrackFormatError]
    ) -> int | None:
        if len(buf) - start <= self.max_event_bytes:
            return None
        out.append(_fail(None, f"is longer than {self.max_event_bytes} bytes"))
        self._skipping = True
        return start + 1


def _garbage(size: int) -> TrackFormatError:
    return _fail(None, f"garbage between events: {size} bytes")


def _next_open(buf: bytearray, pos: int, *, confirmed: bool = False) -> int:
    """Index of the next `<event` start tag at or after `pos`, or -1.

    Unless `confirmed`, a `<event` cut by the end of the buffer counts as one.
    """
    while True:
        i = buf.find(_OPEN, pos)
        if i < 0:
            return -1
        after = i + len(_OPEN)
        if (after == len(buf) and not confirmed) or (after < len(buf) and buf[after] in _NAME_END):
            return i
        pos = i + 1


def _complete_end(buf: bytearray, body: int, stop: int) -> int:
    """End (exclusive) of the event whose start tag's attributes begin at `body`, if it ends
    before `stop`; else -1."""
    gt = _tag_end(buf, body, stop)
    if gt < 0:
        return -1
    if buf[gt - 1] == 0x2F:  # <event .../>
        return gt + 1
    close = buf.find(_CLOSE, gt, stop)
    if close < 0:
        return -1
    gt = buf.find(b">", close + len(_CLOSE), stop)
    return gt + 1 if gt >= 0 else -1


def _tag_end(buf: bytearray, pos: int, stop: int) -> int:
    """Index of the `>` closing the start tag whose attributes begin at `pos`, or -1."""
    quote = 0
    for i in range(pos, stop):
        byte = buf[i]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):  # " '
            quote = byte
        elif byte == 0x3E:  # >
            return i
    return -1
