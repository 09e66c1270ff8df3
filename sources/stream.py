"""Sources that are told rather than asked: a platform's stream (Bluesky's Jetstream,
Mastodon's streaming API) fitted to the daemon's poll loop.

The daemon polls: every ``every`` the poller calls ``fetch``, stores what it got, then
``commit``. A ``StreamSource`` keeps that shape. Its first ``fetch`` starts a reader thread
that holds the connection, reads events and reconnects with exponential backoff and
jitter (the polite HTTP layer's style); what the events change goes into a bounded,
coalescing buffer (post id → the post with its latest counters), and each ``fetch``
hands over the buffer. ``commit`` then saves the subclass's checkpoint taken at that
``fetch`` (a cursor, counters) in the application's ``SourceStore`` and forgets the posts
handed over; a failed store keeps them for the next ``fetch``.

A stream that went down before the previous ``fetch`` and has not come back makes
``fetch`` raise ``StreamDown``: the poller's health bookkeeping and its "blind" ticket
after ``blind_after`` work for streams as for any failing source. ``status`` tells how
the stream is doing (connected, lag behind real time, events per second, reconnects) for
``monitor sources`` and ``/metrics``.

A subclass implements ``connect_and_read`` (one connection, start to end), and, when it
keeps state across restarts, ``restore`` and ``checkpoint``. Its reader thread calls
``connected`` once a connection is open, ``event_seen`` for each event, and
``changed`` (with ``lock`` held) for each post an event changed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sources.base import Source, SourceContext
from sources.errors import SourceError, TransportError
from sources.http import backoff_delay
from sources.post import Post

log = logging.getLogger("sources.stream")
RATE_WINDOW = 10
"""Seconds the events-per-second figure is averaged over."""


class StreamDown(TransportError):
    """The stream has been disconnected since before the last poll and has not come back."""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """How a stream is doing, for ``monitor sources`` and ``/metrics``."""

    connected: bool
    since: datetime | None
    """Connected since (when ``connected``), else down since; None before the first try."""
    lag_seconds: float | None
    """Now minus the time of the last event read (how far behind real time the reader is);
    None before the first event."""
    events_per_second: float
    """Events read per second, over the last ``RATE_WINDOW`` seconds."""
    events: int
    """Events read since the reader started."""
    reconnects: int
    dropped: int
    """Changed posts left out because the buffer was full (the poll loop is not keeping up)."""
    last_error: str

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["since"] = None if self.since is None else self.since.isoformat()
        return found


class StreamSource(Source):
    """A source fed by a long-lived connection (see the module docstring)."""

    max_buffer: ClassVar[int] = 10_000
    """Distinct changed posts held between two polls; past it, new ones are dropped (and
    counted in ``StreamStatus.dropped``) so a stalled database cannot exhaust memory."""
    connect_wait: ClassVar[float] = 10.0
    """Seconds the first ``fetch`` waits for the first connection to open or fail."""
    reconnect_base: ClassVar[float] = 1.0
    reconnect_max: ClassVar[float] = 60.0
    stable_after: ClassVar[float] = 30.0
    """A connection that stayed open this long resets the backoff: the next drop is news,
    not the same outage going on."""
    join_wait: ClassVar[float] = 5.0
    """Seconds ``close`` waits for the reader thread to end."""

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        super().__init__(name, settings, context)
        self.lock = threading.Lock()
        """Guards the buffer and the subclass's state: the reader changes them under it,
        ``fetch`` takes the checkpoint under it, so the two always agree."""
        self._life = threading.Lock()  # start and close, one at a time
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the running reader's: set by ``close``
        self._stopped_late: threading.Thread | None = None  # a reader that outlived ``close``'s wait
        self._outcome = threading.Event()  # the first connection opened or failed
        self._rng = random.Random()
        self._reset()

    def _reset(self) -> None:
        """Forget everything in memory: the next start reads the stored state afresh."""
        self._buffer: dict[str, Post] = {}
        self._pending: tuple[list[Post], Any] | None = None
        self._restored = False
        self._connected = False
        self._connections = 0
        self._since: datetime | None = None
        self._down_mono: float | None = None
        self._last_fetch_mono: float | None = None
        self._last_error = ""
        self._failures = 0
        self._reconnects = 0
        self._events = 0
        self._dropped = 0
        self._reported_dropped = 0
        self._last_event_at: float | None = None
        self._second = 0
        self._second_count = 0
        self._rates: deque[tuple[int, int]] = deque(maxlen=RATE_WINDOW + 1)

    # -- what a subclass implements -----------------------------------------------------------

    @abstractmethod
    def connect_and_read(self, stopping: threading.Event) -> None:
        """One connection, start to end: open it, call ``connected()``, read events until
        the stream ends or ``stopping`` is set (check it at least every second or so).
        Raise (``SourceError``, ``OSError``, the client library's errors) to say why it
        ended; either way the reader reconnects, unless ``stopping`` is set."""

    def restore(self, state: Any) -> None:
        """Take the state ``checkpoint`` returned before (None when nothing is stored).
        Called once before the first connection, from a stored blob that may be of an
        older version or damaged: take what is usable, ignore the rest."""

    def checkpoint(self) -> Any:
        """The state to keep across restarts, JSON-able, as of the posts now in the buffer
        (called with ``lock`` held, at each ``fetch``; saved at ``commit``). None: nothing."""
        return None

    def disconnect(self) -> None:
        """Interrupt the connection being read (called by ``close`` from another thread)."""

    def first_reconnect_wait(self) -> float:
        """Seconds before the first reconnection, doubled for each one after: by default
        ``reconnect_base`` (an SSE stream's server may set it with ``retry:``)."""
        return self.reconnect_base

    def fetch_while_down(self, problem: str) -> list[Post]:
        """``fetch`` while the stream is down since before the last poll: by default the
        poll fails with ``problem`` (a subclass may poll the platform instead)."""
        raise StreamDown(problem)

    # -- what the reader thread calls -----------------------------------------------------------

    def connected(self) -> None:
        """The connection is open (a reconnect when it is not the first)."""
        if not self._current_reader():
            return
        with self.lock:
            self._connected = True
            self._connections += 1
            if self._connections > 1:
                self._reconnects += 1
            self._since = self.context.clock()
            self._down_mono = None
            error = self._last_error
        self._outcome.set()
        if self._failures:
            log.info("source %s: stream connected again after %d failed attempt(s) (%s)", self.name, self._failures, error)

    def event_seen(self, at: float | None) -> None:
        """One event read; ``at`` is its time (seconds since the epoch) when it has one."""
        self._events += 1
        if at is not None:
            self._last_event_at = at
        second = int(time.monotonic())
        if second == self._second:
            self._second_count += 1
        else:
            self._rates.append((self._second, self._second_count))
            self._second, self._second_count = second, 1

    def changed(self, post: Post) -> bool:
        """Put a post's latest state in the buffer (``lock`` must be held). False when the
        buffer is full and the post was not in it: dropped."""
        if post.id not in self._buffer and len(self._buffer) >= self.max_buffer:
            self._dropped += 1
            return False
        self._buffer[post.id] = post
        return True

    def buffered(self, post_id: str) -> Post | None:
        """The post as the buffer holds it now (``lock`` must be held)."""
        return self._buffer.get(post_id)

    # -- the poll loop's side ---------------------------------------------------------------------

    def fetch(self) -> list[Post]:
        self._start()
        problem = self._down_problem()
        if problem is not None:
            return self.fetch_while_down(problem)
        return self.drain()

    def drain(self) -> list[Post]:
        """The changed posts buffered now, and the checkpoint that goes with them."""
        with self.lock:
            posts = list(self._buffer.values())
            self._pending = (posts, self.checkpoint())
            dropped = self._dropped - self._reported_dropped
            self._reported_dropped = self._dropped
        if dropped:
            log.warning("source %s: %d changed post(s) dropped since the last poll: the buffer of %d was full", self.name, dropped, self.max_buffer)
        return posts

    def commit(self) -> None:
        """The posts of the last ``fetch`` are stored: save the checkpoint taken with them,
        and forget them (unless an event changed them since). A store that fails is logged;
        the next commit saves a newer checkpoint."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        posts, state = pending
        with self.lock:
            for post in posts:
                if self._buffer.get(post.id) is post:
                    del self._buffer[post.id]
        if state is None:
            return
        try:
            self.context.store.save(self.name, self.kind, state)
        except Exception as exc:  # the database is away: the state in memory is still whole
            log.warning("source %s: could not save the stream's position, will try again next poll: %s: %s", self.name, exc.__class__.__name__, exc)

    def close(self) -> None:
        """Stop the reader and drop the connection; forget what is in memory (a later
        ``fetch`` starts again from the stored state, which may have moved on meanwhile if
        another replica polled the source)."""
        with self._life:
            thread = self._thread
            if thread is None:
                return
            self._stop.set()
            try:
                self.disconnect()
            except Exception as exc:  # closing a connection that is already broken
                log.debug("source %s: disconnect: %s", self.name, exc)
            thread.join(self.join_wait)
            if thread.is_alive():
                log.warning("source %s: the stream's reader did not stop within %.0fs; left to end on its own", self.name, self.join_wait)
                self._stopped_late = thread
            self._thread = None
            self._outcome = threading.Event()
            with self.lock:
                self._reset()

    @property
    def running(self) -> bool:
        """Whether the reader thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def status(self) -> StreamStatus:
        now_second = int(time.monotonic())
        try:
            rates = tuple(self._rates)
        except RuntimeError:  # the reader appended meanwhile: this figure can wait a scrape
            rates = ()
        recent = [count for second, count in rates if now_second - second <= RATE_WINDOW]
        if now_second - self._second <= RATE_WINDOW:
            recent.append(self._second_count)
        last = self._last_event_at
        lag = None if last is None else max(0.0, self.context.clock().timestamp() - last)
        with self.lock:
            return StreamStatus(
                connected=self._connected, since=self._since, lag_seconds=lag, events_per_second=sum(recent) / RATE_WINDOW,
                events=self._events, reconnects=self._reconnects, dropped=self._dropped, last_error=self._last_error,
            )

    # -- the reader --------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._life:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._stopped_late is not None and self._stopped_late.is_alive():
                raise TransportError(f"{self.describe()}: the previous connection is still closing")
            if not self._restored:
                try:
                    state = self.context.store.load(self.name, self.kind)
                except Exception as exc:  # the database is away: refuse to start from nothing
                    raise TransportError(f"{self.describe()}: could not read the stream's stored position: {exc.__class__.__name__}: {exc}") from None
                with self.lock:
                    self.restore(state)
                    self._restored = True
            with self.lock:
                self._down_mono = time.monotonic()  # down until the first connection opens
                self._since = self.context.clock()
                self._last_error = "not connected yet"
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"stream-{self.name}", daemon=True)
            self._thread.start()
        self._outcome.wait(self.connect_wait)

    def _down_problem(self) -> str | None:
        """Why this poll fails: the stream is down and was already down at the last poll
        (a drop since the last poll gets until the next one to come back)."""
        with self.lock:
            now = time.monotonic()
            last, self._last_fetch_mono = self._last_fetch_mono, now
            down = self._down_mono
            if self._connected or down is None or (last is not None and down > last):
                return None
            since = self._since
            error = self._last_error
        when = "" if since is None else f" since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        return f"{self.describe()}: stream disconnected{when} ({error}); reconnecting"

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            opened = time.monotonic()
            retry_after: float | None = None
            try:
                self.connect_and_read(stopping)
                error = "the server closed the stream"
            except Exception as exc:  # the reader's isolation boundary: any failure is one reconnect
                error = f"{exc.__class__.__name__}: {exc}"[:500]
                retry_after = exc.retry_after if isinstance(exc, SourceError) else None
            self._ended(error, time.monotonic() - opened)
            if stopping.is_set():
                break
            stopping.wait(self.reconnect_wait(retry_after))

    def reconnect_wait(self, retry_after: float | None = None) -> float:
        """Seconds before the next connection attempt: the backoff with jitter, or what the
        server's 429/503 said to wait (``Retry-After``, capped as the HTTP layer caps it),
        whichever is longer: a server shedding load is not asked again in a second."""
        wait = backoff_delay(self._failures, self.first_reconnect_wait(), self.reconnect_max, self._rng)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.context.http.policy.max_retry_after))
        return wait

    def _current_reader(self) -> bool:
        """Whether the calling thread is the running reader. One that outlived ``close``'s
        wait (a connect that would not answer) must not report its news to the reader that
        started after it: its "connected" would count a reconnect that never was, and its
        end would cut short the next start's wait for its first connection."""
        return threading.current_thread() is self._thread

    def _ended(self, error: str, lasted: float) -> None:
        if not self._current_reader():
            return
        with self.lock:
            was_connected = self._connected
            self._connected = False
            if was_connected or self._down_mono is None:
                self._down_mono = time.monotonic()
                self._since = self.context.clock()
            self._last_error = error
        self._outcome.set()
        if self._stop.is_set():  # closed: not news
            return
        if was_connected and lasted >= self.stable_after:
            self._failures = 0
        self._failures += 1
        if self._failures == 1:
            log.warning("source %s: stream disconnected, reconnecting: %s", self.name, error)
        else:
            log.debug("source %s: stream still down (%d): %s", self.name, self._failures, error)
