"""kind = "jetstream": Bluesky's firehose from a Jetstream on 127.0.0.1 (tests/jetstream_loopback.py),
fed real frames (../shared/fixtures/real/streams/) re-dated to the test's clock and pointed
at an invented brand post, plus invented frames for what the real ones lack (a brand
post, replies, quotes, hostile frames).

What a user notices: a brand post on the stream becomes a ticket with its bsky.app link
and its like and repost counts; a restart and a dropped connection resume from the cursor
without losing or double-counting an event; a stream down for ``blind_after`` is a blind
ticket; `monitor sources` and /metrics show the stream's health; garbage on the wire is
ignored within bounds."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import FakeClock, wait_until, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jetstream_loopback import FakeJetstream, compress, pick, real_frames
from prometheus_client import generate_latest
from sqlalchemy import select

import sources.jetstream as jetstream_module
from monitor.app import App, Elsewhere
from monitor.cli.commands import cli
from monitor.metrics import Metrics
from monitor.storage.models import PostRow
from monitor.tickets.actions import list_tickets, ticket_detail
from sources import PoliteHttp, SourceContext
from sources.base import MemoryStore
from sources.jetstream import LIKE, MAX_FRAME, POST, REPOST, REWIND_US, JetstreamSource, ws_url_problem
from sources.stream import StreamDown

AUTHOR = "did:plc:acmecustomer00000000000"
RKEY = "3mbacmeburn2k"
BRAND_URI = f"at://{AUTHOR}/{POST}/{RKEY}"
BRAND_LINK = f"https://bsky.app/profile/{AUTHOR}/post/{RKEY}"
COMPLAINT = "My Acme thermos leaked boiling water on my son, a burn injury. Never again."


@pytest.fixture(autouse=True)
def _fast_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JetstreamSource, "reconnect_base", 0.02)
    monkeypatch.setattr(JetstreamSource, "reconnect_max", 0.1)


@pytest.fixture
def server() -> Iterator[FakeJetstream]:
    fake = FakeJetstream().start()
    yield fake
    fake.stop()


def us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def iso(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Frames:
    """Real frames re-dated and re-pointed: a brand post, likes and reposts of it."""

    def __init__(self, real: list[dict[str, Any]], start_us: int) -> None:
        self.real = real
        self.time_us = start_us
        self.n = 0

    def _next(self, frame: dict[str, Any], did: str | None = None, rkey: str | None = None) -> dict[str, Any]:
        self.n += 1
        self.time_us += 1_000_000  # one event a second: a 5 s rewind replays five of them
        frame["time_us"] = self.time_us
        frame["did"] = did or f"did:plc:fan{self.n:020d}"
        frame["commit"]["rkey"] = rkey or f"3mbfan{self.n:07d}"
        frame["commit"]["record"]["createdAt"] = iso(self.time_us - 300_000)
        return frame

    def post(self, text: str = COMPLAINT, did: str = AUTHOR, rkey: str = RKEY, **record: Any) -> dict[str, Any]:
        frame = self._next(pick(self.real, POST), did, rkey)  # the real post: images with empty alt texts, langs
        frame["commit"]["record"]["text"] = text
        frame["commit"]["record"].update(record)
        return frame

    def like(self, subject: str = BRAND_URI, via: bool = False) -> dict[str, Any]:
        frame = self._next(pick(self.real, LIKE, via))
        frame["commit"]["record"]["subject"]["uri"] = subject
        return frame

    def repost(self, subject: str = BRAND_URI, via: bool = True) -> dict[str, Any]:
        frame = self._next(pick(self.real, REPOST, via))
        frame["commit"]["record"]["subject"]["uri"] = subject
        return frame

    def noise(self) -> list[dict[str, Any]]:
        """Every real frame as it was recorded (other people's likes and posts, a follow), re-dated."""
        out = []
        for frame in self.real:
            self.time_us += 1000
            out.append({**json.loads(json.dumps(frame)), "time_us": self.time_us})
        return out


def jetstream_config(tmp_path: Path, url: str, options: str = "", blind_after: str | None = None) -> Path:
    config = write_config(tmp_path, f'\n[[sources]]\nname = "bsky"\nkind = "jetstream"\nurl = "{url}"\nevery = "30s"\n{options}')
    if blind_after:
        config.write_text(config.read_text().replace('outbox = "outbox"', f'outbox = "outbox"\nblind_after = "{blind_after}"'))
    return config


def source_of(app: App) -> JetstreamSource:
    source = app.sources["bsky"]
    assert isinstance(source, JetstreamSource)
    return source


def read_all(app: App, events: int) -> None:
    """Poll until the stream has read ``events`` events, then once more to hand them over."""
    source = source_of(app)
    app.poll("bsky")  # the first poll connects
    wait_until(lambda: source.status().events >= events)
    app.poll("bsky")


def brand_ticket(app: App) -> dict[str, Any]:
    with app.sessions() as session:
        [ticket] = [t for t in list_tickets(session) if t.brand != "monitor"]
        return ticket_detail(session, ticket)


def engagement(app: App) -> dict[str, Any]:
    [post] = [p for p in brand_ticket(app)["posts"] if p["url"] == BRAND_LINK]
    return post["engagement"]


def test_a_brand_post_on_the_stream_becomes_a_ticket_with_its_link_and_counts(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    real = real_frames()
    frames = Frames(real, us(clock()) - 120_000_000)
    server.add(*frames.noise(), frames.post(), frames.like(), frames.like(via=True), frames.repost(via=True), frames.repost(via=False), frames.like(), *frames.noise())
    app = make_app(jetstream_config(tmp_path, server.url))
    read_all(app, 2 * len(real) + 6)

    ticket = brand_ticket(app)
    assert ticket["brand"] == "艾克美" and ticket["severity"] == "urgent" and "safety" in ticket["categories"]
    assert ticket["urls"] == [BRAND_LINK]
    [post] = ticket["posts"]
    assert post["text"].startswith(COMPLAINT) and post["author"] == AUTHOR
    assert post["engagement"]["likes"] == 3 and post["engagement"]["reposts"] == 2
    # the real post in Japanese names no brand: never handed over, never stored
    with app.sessions() as session:
        assert session.scalars(select(PostRow.url)).all() == [BRAND_LINK]

    # likes as they happen raise the counts at the next poll
    server.add(frames.like(), frames.like())
    wait_until(lambda: source_of(app).status().events >= 2 * len(real) + 8)
    app.poll("bsky")
    assert engagement(app)["likes"] == 5
    assert server.queries[0]["wantedCollections"] == [POST, LIKE, REPOST] and server.queries[0]["maxMessageSizeBytes"] == [str(MAX_FRAME)]
    assert "cursor" not in server.queries[0]  # nothing stored yet: the live tail


def test_a_restart_resumes_from_the_stored_cursor_without_losing_or_double_counting(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 600_000_000)
    server.add(frames.post(), *(frames.like() for _ in range(3)), frames.repost())
    config = jetstream_config(tmp_path, server.url)
    first = make_app(config)
    read_all(first, 5)
    assert engagement(first) | {"at": None} == {"likes": 3, "reposts": 1, "comments": 0, "views": None, "at": None}
    stored_cursor = frames.time_us
    # two more likes are read but the daemon stops before its next poll stores them
    server.add(frames.like(), frames.like())
    wait_until(lambda: source_of(first).status().events >= 7)
    first.close()

    server.add(frames.like(), frames.repost())  # and two more happen while it is down
    second = make_app(config)
    read_all(second, 5 + 2 + 2)  # 5 replayed within the rewind (3 of them counted before), then 4 new
    assert server.queries[-1]["cursor"] == [str(stored_cursor - REWIND_US)]
    assert engagement(second)["likes"] == 6 and engagement(second)["reposts"] == 2


def test_a_dropped_connection_reconnects_rewound_and_counts_each_event_once(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 600_000_000)
    server.drop_after = 4  # the post and three likes, then the connection drops
    server.add(frames.post(), *(frames.like() for _ in range(6)), frames.repost())
    app = make_app(jetstream_config(tmp_path, server.url))
    app.poll("bsky")
    wait_until(lambda: len(server.queries) == 2 and source_of(app).status().connected)
    fourth = frames.time_us - 4_000_000  # the time of the last event read before the drop
    assert server.queries[1]["cursor"] == [str(fourth - REWIND_US)]
    wait_until(lambda: source_of(app).status().events >= 4 + 8)  # 4, then all 8 again from the rewound cursor
    app.poll("bsky")
    assert engagement(app)["likes"] == 6 and engagement(app)["reposts"] == 1
    assert source_of(app).status().reconnects == 1


def test_a_stream_down_for_blind_after_raises_a_blind_ticket(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 60_000_000)
    server.add(frames.post(text="Acme is fine"))
    app = make_app(jetstream_config(tmp_path, server.url, blind_after="30m"))
    read_all(app, 1)
    assert app.health["bsky"].state == "ok"
    server.stop()  # the Jetstream is gone: connections are refused from now on
    wait_until(lambda: not source_of(app).status().connected)
    app.poll("bsky")  # went down since the last poll: not yet a failure
    assert app.health["bsky"].failures == 0
    clock.advance(seconds=30)
    app.poll("bsky")
    health = app.health["bsky"]
    assert health.failures == 1 and "stream disconnected since" in health.last_error and "\n" not in health.last_error

    def blind() -> list[str]:
        with app.sessions() as session:
            return [t.title for t in list_tickets(session) if t.brand == "monitor"]

    clock.advance(minutes=29)
    app.poll("bsky")
    assert blind() == []
    clock.advance(minutes=2)
    app.poll("bsky")
    assert any("blind on bsky" in title for title in blind())

    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "config.toml"), "sources", "--json"])
    [row] = json.loads(result.output)
    assert row["state"] == "failing" and row["stream"]["connected"] is False and row["stream"]["reconnects"] == 0
    assert "DOWN since" in CliRunner().invoke(cli, ["-c", str(tmp_path / "config.toml"), "sources"]).output


def test_monitor_sources_and_metrics_show_the_streams_health(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 3_000_000)
    server.add(*frames.noise())
    config = jetstream_config(tmp_path, server.url)
    app = make_app(config)
    read_all(app, 9)
    metrics = Metrics()
    metrics.watch_streams(lambda: app.sources)
    scraped = generate_latest(metrics.registry).decode()
    assert 'monitor_stream_connected{source="bsky"} 1.0' in scraped
    assert 'monitor_stream_events_total{source="bsky"} 9.0' in scraped
    lag = float(next(line for line in scraped.splitlines() if line.startswith("monitor_stream_lag_seconds")).split()[-1])
    assert 0 <= lag < 60  # the last event is ~3 s before the test's clock

    [row] = json.loads(CliRunner().invoke(cli, ["-c", str(config), "sources", "--json"]).output)
    assert row["kind"] == "jetstream" and row["stream"]["connected"] is True and row["stream"]["events"] == 9
    table = CliRunner().invoke(cli, ["-c", str(config), "sources"]).output
    assert "connected since" in table and "events/s" in table


def test_compressed_frames_are_read_with_jetstreams_dictionary(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 60_000_000)
    server.add(frames.post(), frames.like(), frames.repost())
    app = make_app(jetstream_config(tmp_path, server.url, "compress = true\n"))
    read_all(app, 3)
    assert server.queries[0]["compress"] == ["true"]
    assert engagement(app)["likes"] == 1 and engagement(app)["reposts"] == 1


# -- the source on its own: frames, hostile input, state ----------------------------------------------


@pytest.fixture
def make_source() -> Iterator[Callable[..., JetstreamSource]]:
    made: list[JetstreamSource] = []
    client = httpx.Client()

    def build(url: str = "ws://127.0.0.1:9/subscribe", wanted: Callable[[str], bool] = lambda text: "acme" in text.lower(), **settings: Any) -> JetstreamSource:
        context = SourceContext(http=PoliteHttp(client), wanted=wanted, store=MemoryStore())
        source = JetstreamSource("bsky", {"url": url, "compress": False, **settings}, context)
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()
    client.close()


def test_replies_quotes_and_alt_texts_count_and_match(make_source: Callable[..., JetstreamSource]) -> None:
    frames = Frames(real_frames(), us(datetime.now(UTC)))
    source = make_source()
    alt_only = frames.post(text="look at this", did="did:plc:alttext0000000000000000", rkey="3mbalt")
    alt_only["commit"]["record"]["embed"]["images"][0]["alt"] = "an ACME kettle with a cracked lid"
    source.take(json.dumps(alt_only))
    source.take(json.dumps(frames.post()))
    reply = frames.post(text="so sorry to hear that", did="did:plc:replier000000000000000", rkey="3mbreply", reply={"parent": {"uri": BRAND_URI, "cid": "x"}, "root": {"uri": BRAND_URI, "cid": "x"}})
    quote = frames.post(text="this is bad", did="did:plc:quoter0000000000000000", rkey="3mbquote", embed={"$type": "app.bsky.embed.record", "record": {"uri": BRAND_URI, "cid": "x"}})
    for frame in (reply, quote, reply, quote):  # each delivered twice: counted once
        source.take(json.dumps(frame))
    posts = {p.id: p for p in source.drain()}
    alt_uri = "at://did:plc:alttext0000000000000000/app.bsky.feed.post/3mbalt"
    assert "cracked lid" in posts[alt_uri].text
    brand = posts[BRAND_URI]
    assert brand.engagement.comments == 1 and brand.engagement.reposts == 1 and brand.url == BRAND_LINK
    # the quote carries the quoted complaint's text, so its own words are matched with it
    quote_uri = "at://did:plc:quoter0000000000000000/app.bsky.feed.post/3mbquote"
    assert posts[quote_uri].repost_of == BRAND_URI and COMPLAINT in posts[quote_uri].text
    assert "at://did:plc:replier000000000000000/app.bsky.feed.post/3mbreply" not in posts  # names no brand


def test_deletes_updates_unknown_collections_and_other_kinds_change_nothing(make_source: Callable[..., JetstreamSource]) -> None:
    frames = Frames(real_frames(), us(datetime.now(UTC)))
    source = make_source()
    source.take(json.dumps(frames.post()))
    source.drain()
    source.commit()
    t = frames.time_us
    odd = [
        {"did": "did:plc:x", "time_us": t + 1, "kind": "commit", "commit": {"rev": "r", "operation": "delete", "collection": LIKE, "rkey": "3mbfan0000001"}},
        {"did": "did:plc:x", "time_us": t + 2, "kind": "commit", "commit": {"operation": "update", "collection": POST, "rkey": RKEY, "record": {"text": "edited"}}},
        {"did": "did:plc:x", "time_us": t + 3, "kind": "commit", "commit": {"operation": "create", "collection": "app.bsky.graph.block", "rkey": "k", "record": {"subject": BRAND_URI}}},
        {"did": "did:plc:x", "time_us": t + 4, "kind": "identity", "identity": {"did": "did:plc:x", "handle": "x.bsky.social", "seq": 1, "time": "2026-01-01T00:00:00Z"}},
        {"did": "did:plc:x", "time_us": t + 5, "kind": "account", "account": {"active": True, "did": "did:plc:x", "seq": 2, "time": "2026-01-01T00:00:00Z"}},
        {"did": "did:plc:x", "time_us": t + 6, "kind": "commit", "commit": {"operation": "create", "collection": LIKE, "rkey": "k2", "record": {"subject": "not a uri"}}},
    ]
    for frame in odd:
        source.take(json.dumps(frame))
    assert source.drain() == []
    assert source.status().events == 1 + len(odd) and source.checkpoint()["cursor"] == t + 6


def test_hostile_frames_stay_within_bounds(make_source: Callable[..., JetstreamSource], monkeypatch: pytest.MonkeyPatch, server: FakeJetstream, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(jetstream_module, "MAX_FOLLOWED", 50)
    monkeypatch.setattr(jetstream_module, "MAX_KEYS", 100)
    monkeypatch.setattr(JetstreamSource, "max_buffer", 40)
    frames = Frames(real_frames(), us(datetime.now(UTC)) - 3_600_000_000)
    bomb = compress(b"[" * 10 + b" " * (4 * MAX_FRAME) + b"]" * 10)
    server.first = [
        "x" * (MAX_FRAME + 10),  # over the cap: the client closes the connection (and reconnects)
    ]
    hostile: list[tuple[int, str | bytes]] = [
        (1, "not json"), (2, b"\xff\xfe\x00"), (3, "[1, 2, 3]"), (4, '{"time_us": "soon"}'), (5, '{"time_us": true, "kind": "commit"}'),
        (6, '{"time_us": 7, "kind": "commit", "commit": []}'), (7, "[" * 100_000 + "]" * 100_000), (8, bomb), (9, b"\x28\xb5\x2f\xfd" + b"\x00" * 50),
        (10, '{"time_us": 99, "did": 5, "kind": "commit", "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": {}, "record": "x"}}'),
    ]
    server.add(*hostile)
    flood = [frames.post(text=f"acme post {i}", did=f"did:plc:flood{i:019d}", rkey=f"3mbflood{i}") for i in range(120)]
    likes = [frames.like(subject=f"at://did:plc:flood{i % 120:019d}/{POST}/3mbflood{i % 120}") for i in range(400)]
    server.add(*flood, *likes, frames.post(text="acme at the end", did="did:plc:last0000000000000000000", rkey="3mblast"))
    source = make_source(server.url)
    with contextlib.suppress(StreamDown):  # starts it; the oversized frame may already have closed the first connection
        source.fetch()
    wait_until(lambda: source.status().events >= len(hostile) + 521, timeout=30)
    status = source.status()
    assert status.connected and status.reconnects >= 1, status  # the oversized frame closed the connection; it reconnected
    assert any("1009" in record.getMessage() for record in caplog.records), caplog.text
    assert len(source._followed) <= 50 and len(source._counted) <= 100
    posts = source.drain()
    assert len(posts) <= 40 and source.status().dropped > 0
    # after all of it, the stream still reads, and its saved state is bounded
    state = source.checkpoint()
    assert len(state["followed"]) <= 50 and len(state["counted"]) <= 100 and state["cursor"] == frames.time_us



def test_the_saved_state_stays_small_whatever_length_a_server_gives_ids(make_source: Callable[..., JetstreamSource]) -> None:
    """The store refuses a state over 16 MB, and a refused state is a cursor never saved
    again: DIDs of 238 characters and record keys of 500 must not get it there."""
    frames = Frames(real_frames(), us(datetime.now(UTC)) - 4 * 3_600_000_000)  # 9,000 frames a second apart, all in the past
    source = make_source()
    long_did = lambda i: f"did:web:{i:010d}" + "a" * 220  # noqa: E731
    for i in range(6_000):
        source.take(json.dumps(frames.post(text=f"acme post {i}", did=long_did(i), rkey=f"{i:010d}" + "r" * 490)))
    followed = list(source._followed)
    for i in range(3_000):
        like = frames.like(subject=followed[i % len(followed)])
        like["did"], like["commit"]["rkey"] = long_did(i), f"{i:010d}" + "k" * 490
        source.take(json.dumps(like))
    state = source.checkpoint()
    saved = len(json.dumps(state, separators=(",", ":")))
    assert saved < 6 * 1024 * 1024, saved  # 6,000 such posts would be 5 MB of URIs alone, their likes' keys 780 bytes each
    assert len(state["followed"]) < 6_000 and state["followed"][-1][0] == followed[-1]  # the oldest let go, the newest kept
    assert {len(key) for key, _ in state["counted"]} == {24}  # digests (those of the last minute: one like a second here)
    again = make_source()
    again.restore(state)
    like = frames.like(subject=followed[-1])
    like["did"], like["commit"]["rkey"] = long_did(2_999), f"{2_999:010d}" + "k" * 490  # a replay of a counted like
    again.take(json.dumps(like))
    assert again.checkpoint()["followed"] == state["followed"]  # counted once, before the restart

KEYS = ["did", "time_us", "kind", "commit", "operation", "collection", "rkey", "record", "subject", "uri", "text", "embed", "reply", "parent", "images", "alt", "x"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=30,
)


def _or_junk(*valid: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(valid) | json_values


near_events = st.fixed_dictionaries({
    "did": _or_junk(AUTHOR, "did:plc:fan00000000000000000001"),
    "time_us": st.integers(1, 2**62) | json_values,
    "kind": _or_junk("commit", "identity", "account"),
    "commit": st.fixed_dictionaries({
        "operation": _or_junk("create", "update", "delete"),
        "collection": _or_junk(POST, LIKE, REPOST),
        "rkey": _or_junk(RKEY, "3mbfan0000001", "3mbfan0000002"),
        "record": st.fixed_dictionaries({
            "text": _or_junk("Acme burned me", "hello") | st.text(max_size=50),
            "createdAt": _or_junk("2026-01-03T05:02:28.717Z", "9999-99-99", ""),
            "subject": st.fixed_dictionaries({"uri": _or_junk(BRAND_URI, f"at://{AUTHOR}/{POST}/other")}),
            "reply": st.fixed_dictionaries({"parent": st.fixed_dictionaries({"uri": _or_junk(BRAND_URI)})}),
            "embed": json_values | st.fixed_dictionaries({"record": st.fixed_dictionaries({"uri": _or_junk(BRAND_URI)}), "images": st.lists(st.fixed_dictionaries({"alt": json_values}), max_size=3)}),
        }),
    }),
})


@given(st.lists(near_events | json_values | st.binary(max_size=200), max_size=20))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_frame_is_read_or_ignored_never_raised(make_source: Callable[..., JetstreamSource], values: list[Any]) -> None:
    source = make_source(wanted=lambda text: True)
    for value in values:
        frame = value if isinstance(value, bytes) else json.dumps(value)
        source.take(frame)
        source.take(frame, compressed=True)
    for post in source.drain():
        assert post.url.startswith("https://bsky.app/profile/did:") and post.platform == "bluesky"
    json.dumps(source.checkpoint())  # whatever came in, the state saves


def test_a_damaged_stored_state_is_taken_for_what_it_is_worth(make_source: Callable[..., JetstreamSource]) -> None:
    source = make_source()
    key = "0123456789abcdef01234567"
    source.restore({"cursor": "x", "followed": [[BRAND_URI, 1, 2, 3, 4], ["not a uri", 1, 1, 1, 1], [BRAND_URI, -1], 7], "counted": [[key, 5], ["k", 5], [key + "x", 5], ["j", "x"], None]})
    assert source.checkpoint() == {"cursor": None, "followed": [[BRAND_URI, 1, 2, 3, 4]], "counted": [[key, 5]]}
    source.restore([1, 2, 3])
    assert source.checkpoint() == {"cursor": None, "followed": [], "counted": []}


def test_the_url_must_be_a_websocket_address() -> None:
    assert ws_url_problem("wss://jetstream2.us-east.bsky.network/subscribe") is None
    assert ws_url_problem("ws://127.0.0.1:6008/subscribe") is None
    assert "ws:// or wss://" in str(ws_url_problem("https://jetstream2.us-east.bsky.network/subscribe"))
    assert ws_url_problem("wss://exa mple.org/") is not None and ws_url_problem(5) is not None


def test_monitor_check_names_a_bad_url(tmp_path: Path) -> None:
    config = jetstream_config(tmp_path, "https://jetstream.example.org/subscribe")
    result = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert result.exit_code == 2 and "sources[0].url" in result.output and "ws://" in result.output


def test_a_stream_that_cannot_connect_fails_the_poll_with_one_line(make_source: Callable[..., JetstreamSource], server: FakeJetstream) -> None:
    port = server.port
    server.stop()
    source = make_source(f"ws://127.0.0.1:{port}/subscribe")
    with pytest.raises(StreamDown) as failed:
        source.fetch()
    assert "stream disconnected" in str(failed.value) and "\n" not in str(failed.value)
    source.close()
    assert not any(t.name == "stream-bsky" for t in threading.enumerate())


def test_close_drops_the_connection_and_a_later_fetch_resumes_from_the_saved_position(make_source: Callable[..., JetstreamSource], server: FakeJetstream) -> None:
    frames = Frames(real_frames(), us(datetime.now(UTC)) - 60_000_000)
    server.add(frames.post(), frames.like())
    source = make_source(server.url)
    source.fetch()
    wait_until(lambda: source.status().events >= 2)
    assert {p.id: p.engagement.likes for p in source.fetch()} == {BRAND_URI: 1}
    source.commit()
    source.close()
    assert not source.running and not any(t.name == "stream-bsky" for t in threading.enumerate())
    server.add(frames.like())
    source.fetch()
    wait_until(lambda: source.status().events >= 3)  # the two replayed within the rewind, and the new like
    assert server.queries[-1]["cursor"] == [str(frames.time_us - 1_000_000 - REWIND_US)]
    assert {p.id: p.engagement.likes for p in source.fetch()} == {BRAND_URI: 2}


def test_only_the_replica_that_polls_a_stream_holds_its_connection(tmp_path: Path, server: FakeJetstream, make_app: Callable[[Path], App], clock: FakeClock) -> None:
    frames = Frames(real_frames(), us(clock()) - 60_000_000)
    server.add(frames.post(text="Acme is fine"))
    config = jetstream_config(tmp_path, server.url)
    first, second = make_app(config), make_app(config)
    first.poll("bsky")
    assert source_of(first).running
    clock.advance(minutes=5)  # the first replica stopped polling: its lease ran out
    second.poll("bsky")
    assert source_of(second).running
    assert isinstance(first.poll("bsky"), Elsewhere)
    assert not source_of(first).running  # it let go of the connection


def test_a_post_is_followed_for_track_for_and_then_let_go(make_source: Callable[..., JetstreamSource]) -> None:
    frames = Frames(real_frames(), us(datetime.now(UTC)) - 50 * 3_600_000_000)
    source = make_source()
    source.take(json.dumps(frames.post()))
    source.take(json.dumps(frames.like()))
    assert [f[0] for f in source.checkpoint()["followed"]] == [BRAND_URI]
    frames.time_us += 49 * 3_600_000_000  # past the default track_for (48h)
    source.take(json.dumps(frames.like()))  # a like long after: the post is no longer followed at the next checkpoint
    assert {p.id: p.engagement.likes for p in source.drain()} == {BRAND_URI: 2}
    source.commit()
    assert source.checkpoint()["followed"] == []
    source.take(json.dumps(frames.like()))
    assert source.drain() == []  # no longer counted


def test_an_event_from_the_far_future_is_ignored_and_moves_no_cursor(make_source: Callable[..., JetstreamSource]) -> None:
    """A time_us thousands of years ahead crashed reading the post (the year out of range),
    so the stream reconnected to the same frame for ever, and it would have moved the cursor
    past every event to come."""
    source = make_source()
    now_us = us(datetime.now(UTC))
    event = {"did": AUTHOR, "kind": "commit", "commit": {"operation": "create", "collection": POST, "rkey": RKEY, "record": {"text": "Acme burned me", "createdAt": "9999-12-31T23:59:59Z"}}}
    for future in (2**61, now_us + 3_600_000_000):
        source.take(json.dumps({**event, "time_us": future}))
    assert source.drain() == [] and source.checkpoint()["cursor"] is None
    source.take(json.dumps({**event, "time_us": now_us}))
    [post] = source.drain()
    assert post.url == f"https://bsky.app/profile/{AUTHOR}/post/{RKEY}" and source.checkpoint()["cursor"] == now_us
