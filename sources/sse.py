"""Server-Sent Events: the parser (bytes in, events out) and one connection over httpx.

Written here rather than taken from ``httpx-sse`` (0.4.3, the well-kept one): that package
buffers a line and an event's ``data`` without limit (a server sending one endless line
grows memory until the process dies), takes ``retry: -5`` and ``retry: 1_000`` as numbers,
and dispatches an event with no ``data`` field. The stream is untrusted input, so the
limits come first: a line longer than ``max_line`` or an event's data longer than
``max_event`` is dropped *while it arrives*, never buffered, and counted in ``dropped``.

The parser follows the WHATWG "event stream interpretation": lines end at CRLF, LF or CR
(a CRLF split across two chunks is one ending); a line starting with ``:`` is a comment
(Mastodon's ``:thump`` heartbeat); ``field: value`` loses one space after the colon;
``id`` containing NUL is ignored (as is one that cannot be a header: ``usable_event_id``)
and otherwise persists across events (it is what a
reconnection sends as ``Last-Event-ID``); ``retry`` is ASCII digits only; an empty line
dispatches the event if it has any ``data`` line; a leading BOM is skipped; an event cut
off by the end of the stream is discarded. Work per ``feed`` is linear in the chunk.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import httpx

from sources.errors import Gone, RateLimited, ResponseError, SourceError, TransportError
from sources.http import parse_retry_after

MAX_LINE = 1024 * 1024
"""The longest line kept (bytes). A Mastodon status with a 500-character text is a few kB of
JSON; one with many custom emojis, media and a poll stays well under 100 kB."""
MAX_EVENT = 1024 * 1024
"""The most ``data`` one event may carry (bytes, all its data lines together)."""
MAX_EVENT_ID = 1024
"""The longest ``id`` kept to send back as ``Last-Event-ID`` (bytes)."""
RETRY_BOUNDS = (1.0, 300.0)
"""What a server's ``retry:`` may set the reconnection delay to, in seconds: no faster than
once a second, no slower than five minutes (beyond that the source would be blind)."""

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    """The event type, ``message`` when the server named none."""
    data: str
    id: str
    """The last event id at the time this event was dispatched ("" when none was sent)."""


class SseParser:
    """Incremental: ``feed`` each chunk as it arrives, get the events it completed."""

    def __init__(self, *, max_line: int = MAX_LINE, max_event: int = MAX_EVENT) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self.last_event_id = ""
        self.retry: float | None = None
        """Seconds the server asked a reconnection to wait (``retry:``), within ``RETRY_BOUNDS``."""
        self.dropped = 0
        """Events (or lines) dropped for being over a cap."""
        self.comments = 0
        self._line = bytearray()
        self._overlong = False  # discarding the rest of a line that went over max_line
        self._after_cr = False  # the last chunk ended in CR: a LF opening the next one is part of it
        self._first_line = True
        self._type = ""
        self._data: list[str] = []
        self._size = 0
        self._spoiled = False  # this event lost a line or data to a cap: never dispatched

    def feed(self, chunk: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        start, end = 0, len(chunk)
        if self._after_cr and chunk[:1] == b"\n":
            start = 1
        self._after_cr = False
        # where the next LF and CR are, each found once per occurrence (memchr): a chunk with
        # no CR at all is not rescanned for one at every line, so the work stays linear
        lf, cr = chunk.find(b"\n", start), chunk.find(b"\r", start)
        while start < end:
            if 0 <= lf < start:
                lf = chunk.find(b"\n", start)
            if 0 <= cr < start:
                cr = chunk.find(b"\r", start)
            stop = min(lf, cr) if lf >= 0 and cr >= 0 else max(lf, cr)
            if stop < 0:
                self._keep(chunk, start, end)
                break
            if self._overlong or stop - start + len(self._line) > self.max_line:
                if not self._overlong:
                    self._spoil()
            else:
                raw = chunk[start:stop] if not self._line else bytes(self._line) + chunk[start:stop]
                event = self._line_done(raw)
                if event is not None:
                    events.append(event)
            self._line.clear()
            self._overlong = False
            if stop == cr:  # CR: maybe CRLF, maybe split across chunks
                if stop + 1 == end:
                    self._after_cr = True
                elif stop + 1 == lf:
                    stop += 1
            start = stop + 1
        return events

    def _keep(self, chunk: bytes, start: int, stop: int) -> None:
        """Keep ``chunk[start:stop]``, a line's beginning, unless that makes it too long."""
        if self._overlong or start >= stop:
            return
        if len(self._line) + (stop - start) > self.max_line:
            self._line.clear()
            self._overlong = True
            self._spoil()
            return
        self._line += chunk[start:stop]

    def _spoil(self) -> None:
        if not self._spoiled:
            self.dropped += 1
        self._spoiled = True
        self._data = []
        self._size = 0

    def _line_done(self, raw: bytes) -> SseEvent | None:
        if self._first_line:
            self._first_line = False
            if raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
        if not raw:
            return self._dispatch()
        if raw[:1] == b":":
            self.comments += 1
            return None
        name, colon, value = raw.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            if self._spoiled:
                return None
            self._size += len(value) + 1
            if self._size > self.max_event:
                self._spoil()
                return None
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._type = value.decode("utf-8", "replace")
        elif name == b"id":
            if usable_event_id(value):
                self.last_event_id = value.decode("ascii")
        elif name == b"retry":
            if value and value.isdigit():  # bytes.isdigit: ASCII digits only
                millis = int(value) if len(value) <= 9 else 10**9
                self.retry = min(max(millis / 1000, RETRY_BOUNDS[0]), RETRY_BOUNDS[1])
        return None

    def _dispatch(self) -> SseEvent | None:
        data, kind, spoiled = self._data, self._type, self._spoiled
        self._data, self._type, self._size, self._spoiled = [], "", 0, False
        if spoiled or not data:
            return None
        return SseEvent(kind or "message", "\n".join(data), self.last_event_id)


def usable_event_id(value: bytes) -> bool:
    """Can this ``id`` be sent back as ``Last-Event-ID``? The standard ignores only one
    with NUL; a header also cannot carry a line break, a control or non-ASCII, and a
    hostile server must not make us send it a megabyte, so those are ignored too."""
    return len(value) <= MAX_EVENT_ID and value.isascii() and all(0x20 <= b < 0x7F for b in value)


@dataclass(frozen=True, slots=True)
class SseLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Silence after which the connection is taken for dead (Mastodon sends a heartbeat
    comment every 15 seconds; a server that sends nothing for a minute is gone)."""
    max_line: int = MAX_LINE
    max_event: int = MAX_EVENT


class SseConnection:
    """One GET of an event stream, read event by event; every failure leaves as a
    ``SourceError``. The parser outlives nothing: a new connection starts a new one,
    but ``last_event_id`` and ``retry`` are read from it to carry over."""

    def __init__(self, client: httpx.Client, url: str, *, headers: Mapping[str, str], last_event_id: str = "", limits: SseLimits | None = None) -> None:
        self.client = client
        self.url = url
        self.headers = dict(headers)
        self.limits = limits or SseLimits()
        self.parser = SseParser(max_line=self.limits.max_line, max_event=self.limits.max_event)
        self.parser.last_event_id = last_event_id
        self._response: httpx.Response | None = None
        self._interrupted = False
        self.received = 0
        """Bytes read so far (heartbeats included): proof of life between events."""

    def events(self, opened: Callable[[], None] | None = None) -> Iterator[SseEvent]:
        """The events as they arrive, until the server ends the stream (a clean end is a
        ``TransportError`` too: a stream is not meant to end). ``opened`` is called once
        the server has answered with a stream. Closing the generator closes the connection."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store", "Accept-Encoding": "identity", **self.headers}
        if self.parser.last_event_id:
            headers["Last-Event-ID"] = self.parser.last_event_id
        timeout = httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout)
        try:
            with self.client.stream("GET", self.url, headers=headers, timeout=timeout, follow_redirects=False) as response:
                self._check(response)
                self._response = response
                if self._interrupted:  # ``interrupt`` came before there was a socket to shut
                    raise TransportError(f"{self.url}: stream closed by us")
                if opened is not None:
                    opened()
                for chunk in response.iter_raw():
                    self.received += len(chunk)
                    yield from self.parser.feed(chunk)
        except SourceError:
            raise
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        except httpx.InvalidURL as exc:  # not an HTTPError
            raise ResponseError(f"{self.url}: bad URL ({exc})") from None
        finally:
            self._response = None
        raise TransportError(f"{self.url}: {'stream closed by us' if self._interrupted else 'the server ended the stream'}")

    def _failure(self, exc: httpx.HTTPError) -> SourceError:
        """What went wrong, in our terms, without quoting a header (the token)."""
        if self._interrupted:
            return TransportError(f"{self.url}: stream closed by us")
        if isinstance(exc, httpx.TimeoutException):
            return TransportError(f"{self.url}: stream silent for {self.limits.read_timeout:g}s ({exc.__class__.__name__})")
        if isinstance(exc, httpx.LocalProtocolError):  # its message can quote a header value
            return ResponseError(f"{self.url}: the request could not be sent ({exc.__class__.__name__})")
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ResponseError(f"{self.url}: bad URL ({exc})")
        return TransportError(f"{self.url}: {exc.__class__.__name__}: {exc or 'connection lost'}")

    def interrupt(self) -> None:
        """End the read under way from another thread, now: closing a socket does not wake
        a thread blocked reading it, shutting it down does."""
        self._interrupted = True
        response = self._response
        stream = None if response is None else response.extensions.get("network_stream")
        sock = None if stream is None else stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            raise ResponseError(f"{self.url}: HTTP {status}: the server wants a valid access token for its stream (Mastodon 4.2 and later do)")
        if status == 429 or (status == 503 and "retry-after" in response.headers):
            raise RateLimited(f"{self.url}: HTTP {status} (rate limited)", retry_after=parse_retry_after(response.headers.get("retry-after"), time.time()))
        if status >= 500:
            raise TransportError(f"{self.url}: HTTP {status} from server")
        if status in (404, 410):
            raise Gone(f"{self.url}: HTTP {status}: no such stream here")
        if 300 <= status < 400:  # not followed: the token would go wherever Location says
            where = response.headers.get("location", "")[:200]
            raise ResponseError(f"{self.url}: HTTP {status} redirect to {where!r}, not followed; if that is the streaming server, name it as the source's streaming address")
        if status != 200:
            raise ResponseError(f"{self.url}: HTTP {status}")
        kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "text/event-stream":
            raise ResponseError(f"{self.url}: answered {kind or 'no content type'}, not an event stream")
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        if coding not in ("", "identity"):
            raise ResponseError(f"{self.url}: stream sent with content-encoding {coding[:40]!r}, which was not asked for")
