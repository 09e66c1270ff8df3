"""``kind = "mastodon_stream"`` against a Mastodon on 127.0.0.1 (tests/mastodon_server.py)
speaking Server-Sent Events, fed real statuses from mastodon.social's federated stream
(flodgatt's captures, see shared/fixtures/real/SOURCES.md): the stream's posts, edits and
deletions, reconnection with Last-Event-ID, the timeline read while the stream is down and
the gap after it, the token, and hostile streams that must stay bounded."""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sources import HttpPolicy, PoliteHttp, SourceContext, SourceError, validate_options
from sources.mastodon_stream import MastodonStreamSource
from sources.stream import StreamDown
from tests.conftest import START, wait_until
from tests.mastodon_server import MastodonServer

FLODGATT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "streams" / "mastodon_flodgatt"


def real_statuses() -> list[dict[str, Any]]:
    """The five real statuses of the captured ``update`` events, re-dated to the test's
    clock and given increasing ids (the order a timeline lists them in)."""
    files = sorted(FLODGATT.glob("msg.event_txt_*.txt"))
    if not files:
        pytest.skip(f"real Mastodon stream events not found under {FLODGATT} (see shared/fixtures/real/SOURCES.md)")
    found = [json.loads(f.read_text("utf-8")) for f in files]
    return [
        {**e["payload"], "id": str(104072600000000000 + n), "created_at": START.isoformat().replace("+00:00", "Z")}
        for n, e in enumerate(e for e in found if e["event"] == "update")
    ]


@pytest.fixture
def mastodon(monkeypatch: pytest.MonkeyPatch) -> Iterator[MastodonServer]:
    """The instance on loopback; the kind reconnects within a tenth of a second here."""
    monkeypatch.setattr(MastodonStreamSource, "reconnect_base", 0.05)
    monkeypatch.setattr(MastodonStreamSource, "reconnect_max", 0.1)
    server = MastodonServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_source(mastodon: MastodonServer) -> Iterator[Any]:
    made: list[MastodonStreamSource] = []
    client = httpx.Client()

    def build(**raw: Any) -> MastodonStreamSource:
        settings, problems = validate_options(MastodonStreamSource.options, {"instance": mastodon.base, **raw})
        assert problems == [] and MastodonStreamSource.check(settings) == []
        policy = HttpPolicy(read_timeout=2, connect_timeout=2, total_timeout=3, backoff_base=0.01, backoff_max=0.01)
        source = MastodonStreamSource("live", settings, SourceContext(http=PoliteHttp(client, policy)))
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()
    client.close()


def texts(posts: list[Any]) -> list[str]:
    return sorted(p.text[:30] for p in posts)


def test_stream_posts_come_out_of_the_next_fetch_once(mastodon: MastodonServer, make_source: Any) -> None:
    first, second, *_ = real_statuses()
    source = make_source()
    assert source.fetch() == []  # connected; the empty timeline read once for the gap before it
    assert source.status().connected
    mastodon.send("update", json.dumps(first))
    mastodon.send("update", json.dumps(second))
    got = wait_until(lambda: [p for p in source.fetch() if p] or None)
    source.commit()
    if len(got) < 2:
        got += wait_until(source.fetch)
        source.commit()
    assert [p.url for p in got] == [first["url"], second["url"]]
    assert source.fetch() == []  # handed over once
    assert mastodon.stream_requests[0]["path"] == "/api/v1/streaming/public"


def test_an_edit_replaces_the_buffered_post_and_a_delete_ends_tracking(mastodon: MastodonServer, make_source: Any) -> None:
    venice = real_statuses()[1]
    mastodon.post(venice)
    source = make_source()
    source.fetch()
    source.commit()
    mastodon.send("update", json.dumps(venice))
    mastodon.send("status.update", json.dumps({**venice, "content": "<p>Venice lockdown: corrected</p>"}))
    mastodon.send("update", json.dumps({**venice, "id": "1", "uri": "https://x.example/1", "content": "<p>last</p>"}))
    wait_until(lambda: source.status().events == 3)
    [edited, _last] = sorted(source.fetch(), key=lambda p: p.text)
    assert edited.text == "Venice lockdown: corrected"
    [reread] = source.refresh([venice["id"]])  # tracked: re-read from the instance for its counters
    assert reread.id == venice["uri"]
    mastodon.send("delete", venice["id"])
    wait_until(lambda: source.status().events == 4)
    assert source.refresh([venice["id"]]) == []  # deleted at the origin: absent, so the poller stops re-reading it
    assert mastodon.rest_requests.count((f"/api/v1/statuses/{venice['id']}", {})) == 1  # the deleted one is not even asked for


def test_a_dropped_stream_reconnects_with_last_event_id(mastodon: MastodonServer, make_source: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MastodonStreamSource, "reconnect_max", 5.0)
    source = make_source()
    source.fetch()
    mastodon.send("update", json.dumps(real_statuses()[0]), ident="42")
    mastodon.send_raw(b"retry: 1000\n\n")  # the server asks for a second between reconnections
    wait_until(lambda: source.status().events == 1)
    dropped = time.monotonic()
    mastodon.drop()
    wait_until(lambda: mastodon.connections == 2)
    assert time.monotonic() - dropped >= 0.5  # a second, less the jitter; not the 0.05 s this test's kind would wait
    assert "last-event-id" not in mastodon.stream_requests[0]
    assert mastodon.stream_requests[1]["last-event-id"] == "42"
    wait_until(lambda: source.status().connected and source.status().reconnects == 1)


def test_while_the_stream_is_down_the_timeline_is_read_and_nothing_is_lost_or_doubled(mastodon: MastodonServer, make_source: Any) -> None:
    one, two, three, four, five = real_statuses()
    source = make_source()
    source.fetch()
    mastodon.post(one)
    mastodon.send("update", json.dumps(one))
    wait_until(lambda: source.status().events == 1)
    assert [p.url for p in source.fetch()] == [one["url"]]
    source.commit()

    mastodon.stream_status = 503  # down, and refusing to come back
    mastodon.drop()
    wait_until(lambda: not source.status().connected)
    assert source.fetch() == []  # the poll it dropped after: one poll's grace
    mastodon.post(two)
    mastodon.post(three)
    polled = source.fetch()  # down since before the last poll: the timeline is read instead
    assert [p.url for p in polled] == [three["url"], two["url"]]
    source.commit()
    assert mastodon.rest_requests[-1] == ("/api/v1/timelines/public", {"limit": "40", "min_id": one["id"]})
    assert source.fetch() == []  # nothing new on the timeline: nothing again

    mastodon.post(four)  # posted in the gap before the stream comes back
    mastodon.stream_status = 200
    wait_until(lambda: source.status().connected)
    mastodon.post(five)
    mastodon.send("update", json.dumps(five))
    wait_until(lambda: source.status().events == 2)
    after = source.fetch()
    assert sorted(p.url for p in after) == sorted([four["url"], five["url"]])  # the gap from the timeline, the rest from the stream
    source.commit()
    assert source.checkpoint()["newest"] == five["id"]


def test_what_the_timeline_read_in_the_gap_is_handed_over_again_after_a_failed_store(mastodon: MastodonServer, make_source: Any) -> None:
    one, two, three, *_ = real_statuses()
    source = make_source()
    source.fetch()
    mastodon.send("update", json.dumps(one))
    wait_until(lambda: source.status().events == 1)
    assert [p.url for p in source.fetch()] == [one["url"]]
    source.commit()
    mastodon.stream_status = 503
    mastodon.drop()
    wait_until(lambda: not source.status().connected)
    assert source.fetch() == []  # the poll it dropped after: one poll's grace
    mastodon.post(two)
    mastodon.post(three)
    assert [p.url for p in source.fetch()] == [three["url"], two["url"]]
    # no commit: the database refused the posts; the timeline has moved on past them
    assert [p.url for p in source.fetch()] == [three["url"], two["url"]]
    source.commit()
    assert source.fetch() == []  # stored now: not handed over a third time


def test_a_long_gap_is_read_over_several_polls_from_where_each_stopped(mastodon: MastodonServer, make_source: Any) -> None:
    template = real_statuses()[2]
    source = make_source()
    source.fetch()
    mastodon.send("update", json.dumps({**template, "id": "0000"}))  # where the source is
    wait_until(lambda: source.status().events == 1)
    assert len(source.fetch()) == 1
    source.commit()
    for n in range(1, 301):
        mastodon.post({**template, "id": f"{n:04d}", "uri": f"https://botsin.space/{n}"})
    mastodon.stream_status = 500
    mastodon.drop()
    wait_until(lambda: not source.status().connected)
    assert source.fetch() == []  # the poll it dropped after
    first = source.fetch()  # five pages of 40
    source.commit()
    second = source.fetch()
    assert len(first) == 200 and len(second) == 100
    assert {p.id for p in first}.isdisjoint({p.id for p in second})


def test_down_stream_and_timeline_fail_the_poll_and_say_why(mastodon: MastodonServer, make_source: Any) -> None:
    mastodon.stream_status = 500
    mastodon.timeline_status = 502
    source = make_source()
    with pytest.raises(StreamDown, match=r"stream disconnected.*HTTP 500.*timeline could not be read either.*HTTP 502"):
        source.fetch()
    mastodon.timeline_status = 200
    wait_until(lambda: source.rest.backoff_remaining(f"{mastodon.base}/api/v1/timelines/public?limit=40") == 0)
    assert source.fetch() == []  # the timeline answers again: seeing, though not live


def test_the_token_goes_to_the_stream_and_the_timeline_and_nowhere_in_errors(mastodon: MastodonServer, make_source: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "s3cret-token")
    mastodon.stream_status = 401
    mastodon.timeline_status = 401
    source = make_source(token_env="TEST_MASTODON_TOKEN")
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as failed:
        source.fetch()
    assert "wants a valid access token" in str(failed.value)
    assert mastodon.stream_requests[0]["authorization"] == "Bearer s3cret-token"
    assert mastodon.rest_tokens and set(mastodon.rest_tokens) == {"Bearer s3cret-token"}  # asking where to stream from, and the timeline
    assert "s3cret" not in str(failed.value) and "s3cret" not in caplog.text


def test_hashtag_and_local_streams_read_their_own_paths(mastodon: MastodonServer, make_source: Any) -> None:
    make_source(stream="hashtag", tag="#咖啡").fetch()
    make_source(stream="public:local").fetch()
    assert [r["path"] for r in mastodon.stream_requests] == ["/api/v1/streaming/hashtag?tag=%E5%92%96%E5%95%A1", "/api/v1/streaming/public/local"]
    assert ("/api/v1/timelines/tag/%E5%92%96%E5%95%A1", {"limit": "40"}) in mastodon.rest_requests
    assert ("/api/v1/timelines/public", {"limit": "40", "local": "true"}) in mastodon.rest_requests


def test_the_stream_is_read_where_the_instance_says_or_from_the_instance(mastodon: MastodonServer, make_source: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "tok")
    streaming = MastodonServer()
    streaming.start()
    try:
        mastodon.streaming_at = streaming.base.replace("http://", "ws://") + "/"
        make_source(token_env="TEST_MASTODON_TOKEN").fetch()
        assert mastodon.stream_requests == [] and len(streaming.stream_requests) == 1  # like streaming.mastodon.social
        assert streaming.stream_requests[0]["authorization"] == "Bearer tok"
        mastodon.streaming_at = None  # an older server: no /api/v2/instance
        make_source().fetch()
        assert len(mastodon.stream_requests) == 1
        make_source(streaming_url=streaming.base).fetch()
        assert len(streaming.stream_requests) == 2
    finally:
        streaming.stop()


@pytest.mark.parametrize(
    ("said", "streams_from"),
    [
        ("wss://streaming.example", "https://streaming.example"),
        ("ws://streaming.example", "https://mastodon.example"),  # the token would go in the clear
        ("http://streaming.example/", "https://mastodon.example"),
    ],
)
def test_an_instance_on_tls_cannot_send_the_token_to_a_stream_without_it(said: str, streams_from: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MASTODON_TOKEN", "tok")
    settings, problems = validate_options(MastodonStreamSource.options, {"instance": "https://mastodon.example", "token_env": "TEST_MASTODON_TOKEN"})
    assert problems == []
    with httpx.Client() as client:
        source = MastodonStreamSource("live", settings, SourceContext(http=PoliteHttp(client, HttpPolicy())))
        monkeypatch.setattr(source.rest, "get_json", lambda url, *a, **k: {"configuration": {"urls": {"streaming": said}}})
        assert source._streaming_base() == streams_from


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"stream": "user"}, ("stream", "'user' is not one of public, public:local, hashtag")),
        ({"stream": "hashtag"}, ("tag", 'is required with stream = "hashtag"')),
        ({"tag": "x"}, ("tag", 'is only for stream = "hashtag"')),
        ({"token_env": "Bearer abc"}, ("token_env", 'must name an environment variable (like "MASTODON_TOKEN"), not hold the token itself')),
        ({"token_env": "SURELY_NOT_SET_ANYWHERE_42"}, ("token_env", "environment variable SURELY_NOT_SET_ANYWHERE_42 is not set")),
    ],
)
def test_settings_that_cannot_work_are_refused(raw: dict[str, Any], problem: tuple[str, str]) -> None:
    settings, problems = validate_options(MastodonStreamSource.options, raw)
    assert problems == []
    assert MastodonStreamSource.check(settings) == [problem]


def _endless_line(out: Any) -> None:
    for _ in range(8 * 64):  # 8 MiB of one line
        out.write(b"x" * 16384)
    out.write(b"\n\n")
    _valid(out)


def _huge_event(out: Any) -> None:
    out.write(b"event: update\n")
    for _ in range(8 * 1024):  # 8 MiB of data lines in one event
        out.write(b"data: " + b"y" * 1017 + b"\n")
    out.write(b"\n")
    _valid(out)


def _junk(out: Any) -> None:
    out.write(bytes(range(256)) * 2000 + b"\n\nevent: update\ndata: {\n\nevent: delete\ndata: ../x\n\nretry: -1\n\n")
    _valid(out)


def _valid(out: Any) -> None:
    out.write(b"event: update\ndata: " + json.dumps(_VALID).encode() + b"\n\n")
    out.flush()


_VALID: dict[str, Any] = {}


@pytest.mark.parametrize("body", [_endless_line, _huge_event, _junk])
def test_hostile_streams_stay_bounded_and_the_stream_goes_on(mastodon: MastodonServer, make_source: Any, body: Any) -> None:
    _VALID.update(real_statuses()[0])
    mastodon.stream_body = body
    source = make_source()
    tracemalloc.start()
    try:
        posts = wait_until(source.fetch, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.url for p in posts] == [_VALID["url"]]
    assert peak < 6 * 1024 * 1024  # 8 MiB went by; the caps are 1 MiB a line and an event


def test_close_ends_the_connection_at_once_and_a_later_fetch_resumes(mastodon: MastodonServer, make_source: Any) -> None:
    one, two, *_ = real_statuses()
    source = make_source()
    source.fetch()
    mastodon.send("update", json.dumps(one))
    wait_until(lambda: source.status().events == 1)
    source.fetch()
    source.commit()
    started = time.monotonic()
    source.close()  # the reader is blocked reading a silent stream: shut down, not waited out
    assert time.monotonic() - started < 2 and not source.running
    mastodon.post(two)  # while closed
    resumed = source.fetch()  # from what was saved at the last commit: the gap is read
    assert [p.url for p in resumed] == [two["url"]]
    assert mastodon.connections == 2
