"""The stream machinery every stream kind shares (sources/stream.py), on a stream fed from
a queue in this process: buffering and coalescing, the checkpoint saved only once the
posts are stored, "down since before the last poll" failing the poll, close and restart,
the database store, and an App that keeps a stream across a reload that leaves it as it
was and closes one a reload replaces."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from conftest import BASE_CONFIG, FakeClock, wait_until, write_config

from monitor.app import App
from monitor.config import load_config
from monitor.detect.matching import TokenizerFactory
from monitor.storage.db import make_engine, migrate
from monitor.storage.memory import SourceMemory
from sources import Engagement, PoliteHttp, Post, SourceContext, source_kinds
from sources.base import MemoryStore
from sources.errors import RateLimited, TransportError
from sources.stream import StreamDown, StreamSource

DROP = object()


class QueueStream(StreamSource):
    """Each queued item is a post id (its like count goes up by one), ``DROP`` (the
    connection breaks), or an exception (the next connection attempt fails with it)."""

    kind: ClassVar[str] = "queuestream"
    reconnect_base: ClassVar[float] = 0.01
    reconnect_max: ClassVar[float] = 0.05
    max_buffer: ClassVar[int] = 5

    def __init__(self, name: str, settings: dict[str, Any], context: SourceContext) -> None:
        super().__init__(name, settings, context)
        self.events: queue.Queue[Any] = queue.Queue()
        self.likes: dict[str, int] = {}
        self.restored: list[Any] = []
        self.refuse: Exception | None = None
        self.hold: threading.Event | None = None
        """When set, a connection waits for it before it opens (and ``held`` says it is waiting),
        deaf to ``stopping`` like a connect that does not answer."""
        self.held = threading.Event()
        self.attempts = 0

    def connect_and_read(self, stopping: threading.Event) -> None:
        self.attempts += 1
        if self.refuse is not None:
            raise self.refuse
        hold = self.hold
        if hold is not None:
            self.held.set()
            hold.wait(10)
        self.connected()
        while not stopping.is_set():
            try:
                item = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is DROP:
                raise ConnectionResetError("connection reset by peer")
            self.event_seen(self.context.clock().timestamp())
            if not self.context.wanted(item):
                continue
            with self.lock:
                self.likes[item] = self.likes.get(item, 0) + 1
                self.changed(Post("test", item, f"https://example.org/{item}", item, engagement=Engagement(likes=self.likes[item])))

    def restore(self, state: Any) -> None:
        self.restored.append(state)
        self.likes = dict(state["likes"]) if isinstance(state, dict) else {}

    def checkpoint(self) -> Any:
        return {"likes": dict(self.likes)}


class FailingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def save(self, source: str, kind: str, state: Any) -> None:
        if self.fail:
            raise OSError("database is away")
        super().save(source, kind, state)


@pytest.fixture
def make_stream() -> Iterator[Callable[..., QueueStream]]:
    made: list[QueueStream] = []
    clients: list[httpx.Client] = []

    def build(store: Any = None, wanted: Callable[[str], bool] | None = None) -> QueueStream:
        client = httpx.Client()
        clients.append(client)
        context = SourceContext(http=PoliteHttp(client), store=store or MemoryStore(), wanted=wanted or (lambda text: True))
        stream = QueueStream("q", {}, context)
        made.append(stream)
        return stream

    yield build
    for stream in made:
        stream.close()
    for client in clients:
        client.close()


def likes_of(posts: list[Post]) -> dict[str, int | None]:
    return {p.id: p.engagement.likes for p in posts}


def test_a_fetch_hands_over_each_changed_post_once_with_its_latest_counters(make_stream: Callable[..., QueueStream]) -> None:
    stream = make_stream()
    assert stream.fetch() == []  # connects; nothing has happened yet
    for item in ("acme-1", "acme-1", "acme-2", "acme-1"):
        stream.events.put(item)
    wait_until(lambda: stream.status().events == 4)
    assert likes_of(stream.fetch()) == {"acme-1": 3, "acme-2": 1}
    stream.commit()
    assert stream.fetch() == []
    assert stream.context.store.load("q", "queuestream") == {"likes": {"acme-1": 3, "acme-2": 1}}
    status = stream.status()
    assert status.connected and status.events == 4 and status.reconnects == 0 and status.lag_seconds is not None


def test_posts_the_application_does_not_want_never_reach_the_buffer(make_stream: Callable[..., QueueStream]) -> None:
    stream = make_stream(wanted=lambda text: "acme" in text)
    stream.fetch()
    for item in ("cats", "acme-1", "dogs"):
        stream.events.put(item)
    wait_until(lambda: stream.status().events == 3)
    assert [p.id for p in stream.fetch()] == ["acme-1"]


def test_a_failed_store_loses_nothing_and_saves_the_newer_position_next_time(make_stream: Callable[..., QueueStream]) -> None:
    store = FailingStore()
    stream = make_stream(store)
    stream.fetch()
    stream.events.put("acme-1")
    wait_until(lambda: stream.status().events == 1)
    assert likes_of(stream.fetch()) == {"acme-1": 1}
    # the pipeline failed: commit is not called, the next fetch hands the post over again
    stream.events.put("acme-1")
    wait_until(lambda: stream.status().events == 2)
    assert likes_of(stream.fetch()) == {"acme-1": 2}
    store.fail = True
    stream.commit()  # the posts are stored but the position is not: logged, not raised
    assert store.load("q", "queuestream") is None
    store.fail = False
    stream.events.put("acme-2")
    wait_until(lambda: stream.status().events == 3)
    assert likes_of(stream.fetch()) == {"acme-2": 1}
    stream.commit()
    assert store.load("q", "queuestream") == {"likes": {"acme-1": 2, "acme-2": 1}}


def test_a_full_buffer_drops_new_posts_but_keeps_counting_the_ones_it_holds(make_stream: Callable[..., QueueStream]) -> None:
    stream = make_stream()
    stream.fetch()
    for i in range(8):
        stream.events.put(f"acme-{i}")
    stream.events.put("acme-0")
    wait_until(lambda: stream.status().events == 9)
    posts = stream.fetch()
    assert len(posts) == QueueStream.max_buffer == 5
    assert likes_of(posts)["acme-0"] == 2
    assert stream.status().dropped == 3


def test_a_drop_since_the_last_poll_is_forgiven_once_and_a_longer_outage_fails_the_poll(make_stream: Callable[..., QueueStream]) -> None:
    stream = make_stream()
    stream.fetch()
    stream.events.put("acme-1")
    wait_until(lambda: stream.status().events == 1)
    stream.refuse = ConnectionRefusedError("connection refused")
    stream.events.put(DROP)
    wait_until(lambda: not stream.status().connected)
    # down since after the last poll: this poll still hands over what was read before the drop
    assert likes_of(stream.fetch()) == {"acme-1": 1}
    stream.commit()
    with pytest.raises(StreamDown) as failed:
        stream.fetch()
    assert "stream disconnected since" in str(failed.value) and "ConnectionRefusedError" in str(failed.value)
    assert "\n" not in str(failed.value)
    stream.refuse = None
    wait_until(lambda: stream.status().connected)
    assert stream.status().reconnects == 1
    assert stream.fetch() == []


def test_a_stream_that_never_connects_fails_its_first_poll(make_stream: Callable[..., QueueStream]) -> None:
    stream = make_stream()
    stream.refuse = ConnectionRefusedError("connection refused")
    with pytest.raises(StreamDown, match="ConnectionRefusedError"):
        stream.fetch()


def test_close_stops_the_reader_and_a_later_fetch_starts_from_the_stored_state(make_stream: Callable[..., QueueStream]) -> None:
    store = MemoryStore()
    stream = make_stream(store)
    stream.fetch()
    stream.events.put("acme-1")
    wait_until(lambda: stream.status().events == 1)
    stream.fetch()
    stream.commit()
    stream.events.put("acme-1")  # read but never handed over: not in the stored state
    wait_until(lambda: stream.status().events == 2)
    stream.close()
    assert not stream.running and not any(t.name == "stream-q" for t in threading.enumerate())
    stream.close()  # twice is harmless
    assert stream.fetch() == []
    assert stream.restored == [None, {"likes": {"acme-1": 1}}]
    assert stream.likes == {"acme-1": 1}


def test_a_reader_that_outlives_close_leaves_the_next_start_alone(make_stream: Callable[..., QueueStream], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QueueStream, "join_wait", 0.05)
    stream = make_stream()
    stream.fetch()
    hold = stream.hold = threading.Event()
    stream.events.put(DROP)  # the reconnection hangs, like a connect nobody answers
    wait_until(stream.held.is_set)
    stream.close()
    with pytest.raises(TransportError, match="still closing"):
        stream.fetch()
    stream.hold = None
    hold.set()  # the late reader's connection opens after its close, and it ends
    wait_until(lambda: not any(t.name == "stream-q" for t in threading.enumerate()))
    assert stream.fetch() == []  # waits for its own connection: not failed by the late one's news
    status = stream.status()
    assert status.connected and status.reconnects == 0  # the late reader's connection is not this one's


def test_a_server_that_says_retry_after_is_not_asked_again_sooner(make_stream: Callable[..., QueueStream]) -> None:
    stream, control = make_stream(), make_stream()
    stream.refuse = RateLimited("HTTP 429 (rate limited)", retry_after=120.0)
    control.refuse = ConnectionRefusedError("connection refused")
    with pytest.raises(StreamDown, match="429"):
        stream.fetch()
    with pytest.raises(StreamDown, match="refused"):
        control.fetch()
    wait_until(lambda: control.attempts >= 4)  # a refused connection is tried again within the 0.01-0.05 s backoff...
    assert stream.attempts == 1  # ...one told to come back in two minutes is not
    assert stream.reconnect_wait(120.0) == 120.0
    assert stream.reconnect_wait(10**9) == stream.context.http.policy.max_retry_after  # a hostile Retry-After is capped
    assert stream.reconnect_wait(None) <= QueueStream.reconnect_max


def test_the_database_store_keeps_a_blob_per_source_and_kind(make_app: Callable[[Path], App], tmp_path: Path) -> None:
    app = make_app(write_config(tmp_path))
    memory = SourceMemory(app.writer, app.read_sessions, app.clock)
    assert memory.load("q", "queuestream") is None
    memory.save("q", "queuestream", {"cursor": 1767416549047266, "likes": {"at://x": 3}, "text": "艾克美"})
    memory.save("q", "queuestream", {"cursor": 1767416549047267, "likes": {"at://x": 4}, "text": "艾克美"})
    assert memory.load("q", "queuestream") == {"cursor": 1767416549047267, "likes": {"at://x": 4}, "text": "艾克美"}
    assert memory.load("q", "jetstream") is None  # a source given another kind starts afresh


def test_a_reload_keeps_an_unchanged_stream_and_closes_a_replaced_one(tmp_path: Path, clock: FakeClock, tokenizers: TokenizerFactory) -> None:
    kinds = {**source_kinds(), "queuestream": QueueStream}
    stream_a = '\n[[sources]]\nname = "a"\nkind = "queuestream"\nevery = "1m"\n'
    stream_b = '\n[[sources]]\nname = "b"\nkind = "queuestream"\nevery = "1m"\n'
    config = load_config(write_config(tmp_path, stream_a, stream_b), kinds)
    engine = make_engine(config.monitor.database)
    migrate(engine)
    client = httpx.Client()
    app = App(config, engine=engine, http=PoliteHttp(client), kinds=kinds, clock=clock, tokenizers=tokenizers)
    try:
        first_a, first_b = app.sources["a"], app.sources["b"]
        assert isinstance(first_a, QueueStream) and isinstance(first_b, QueueStream)
        app.poll_all()
        assert first_a.running and first_b.running
        assert not first_a.context.wanted("hello there") and first_a.context.wanted("Acme leaks")
        more_keywords = BASE_CONFIG.replace('keywords = ["艾克美", "Acme"]', 'keywords = ["艾克美", "Acme", "hello"]')
        app.apply(load_config(write_config(tmp_path, stream_a, stream_b.replace('"1m"', '"2m"'), base=more_keywords), kinds))
        assert app.sources["a"] is first_a and first_a.running  # the same stream: its connection stays
        assert first_a.context.wanted("hello there")  # and it is handed the new keywords
        app.apply(load_config(write_config(tmp_path, stream_b), kinds))
        assert "a" not in app.sources and not first_a.running  # removed: closed
        assert app.memory.load("a", "queuestream") is None
    finally:
        app.close()
        engine.dispose()
        client.close()
    assert not first_b.running
