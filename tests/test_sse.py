"""The Server-Sent Events parser: the WHATWG rules, any chunking, and hostile streams that
must stay within their caps (an endless line, a huge event, junk), checked with hypothesis;
then a real recorded Mastodon SSE body (Mastodon.py's cassettes, see
shared/fixtures/real/SOURCES.md)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources import Gone, RateLimited, ResponseError, TransportError
from sources.sse import RETRY_BOUNDS, SseConnection, SseEvent, SseParser

CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "streams" / "mastodon_py_cassettes"


def parse(body: bytes, *, cuts: list[int] | None = None, **caps: int) -> tuple[list[SseEvent], SseParser]:
    """``body`` fed in pieces cut at ``cuts`` (one piece when None)."""
    parser = SseParser(**caps)
    edges = [0, *sorted({c for c in cuts or [] if 0 < c < len(body)}), len(body)]
    events = [e for a, b in zip(edges, edges[1:], strict=False) for e in parser.feed(body[a:b])]
    return events, parser


def test_fields_comments_and_multiline_data_follow_the_standard() -> None:
    body = b"\xef\xbb\xbf: hello\n\nevent: update\ndata: {\"a\": 1}\ndata:second\nid: 7\n\ndata\n\nevent: x\n\n"
    events, parser = parse(body)
    assert events == [SseEvent("update", '{"a": 1}\nsecond', "7"), SseEvent("message", "", "7")]  # "data" alone is an empty line of data
    assert parser.comments == 1  # the BOM is skipped, the comment is seen as one
    assert parser.last_event_id == "7"


def test_line_endings_cr_lf_and_crlf_even_split_across_chunks() -> None:
    body = b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"
    expected = [SseEvent("message", "a", ""), SseEvent("message", "b", ""), SseEvent("message", "c", "")]
    for cut in range(len(body) + 1):
        assert parse(body, cuts=[cut])[0] == expected


@pytest.mark.parametrize("bad", [b"2\x003", "ü".encode(), b"a\x7fb", b"x" * 1025])
def test_an_id_that_cannot_be_sent_back_is_ignored_and_an_event_cut_off_by_the_end_is_not_dispatched(bad: bytes) -> None:
    events, parser = parse(b"id: 1\ndata: a\n\nid: " + bad + b"\ndata: b\n\ndata: never finished\n")
    assert events == [SseEvent("message", "a", "1"), SseEvent("message", "b", "1")]
    assert parser.last_event_id == "1"


@pytest.mark.parametrize(
    ("line", "seconds"),
    [(b"retry: 3000", 3.0), (b"retry: 10", RETRY_BOUNDS[0]), (b"retry: 99999999999999999999", RETRY_BOUNDS[1]), (b"retry: -5", None), (b"retry: 1_000", None), (b"retry: \xd9\xa3", None)],
)
def test_retry_is_ascii_digits_and_kept_within_bounds(line: bytes, seconds: float | None) -> None:
    _, parser = parse(line + b"\n\n")
    assert parser.retry == seconds


def test_an_endless_line_is_dropped_as_it_arrives_and_the_stream_goes_on() -> None:
    parser = SseParser(max_line=1000)
    for _ in range(2000):  # 2 MB of one line, in 1 kB chunks
        assert parser.feed(b"x" * 1000) == []
        assert len(parser._line) <= 1000
    assert parser.feed(b"\n\ndata: after\n\n") == [SseEvent("message", "after", "")]
    assert parser.dropped == 1


def test_a_huge_event_is_dropped_whole_not_buffered() -> None:
    parser = SseParser(max_event=10_000)
    assert parser.feed(b"event: update\n") == []
    for _ in range(1000):  # 100 kB of small data lines: each under max_line, together over max_event
        assert parser.feed(b"data: " + b"y" * 100 + b"\n") == []
        assert parser._size <= 10_000
    assert parser.feed(b"\nevent: update\ndata: small\n\n") == [SseEvent("update", "small", "")]
    assert parser.dropped == 1


@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_bytes_in_any_chunks_give_the_same_events_within_the_caps(body: bytes, cuts: list[int]) -> None:
    whole, _ = parse(body, max_line=200, max_event=300)
    pieces, parser = parse(body, cuts=cuts, max_line=200, max_event=300)
    assert pieces == whole
    assert len(parser._line) <= 200 and parser._size <= 300
    assert all(len(e.data.encode("utf-8", "surrogatepass")) <= 3 * 300 for e in whole)  # replacement chars at most triple
    assert len(whole) <= len(body) // 6 + 1  # "data\n\n" is the shortest event: work bounded by input


_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=40)
_ID = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(
    st.lists(st.tuples(st.sampled_from(["update", "delete", "status.update", ""]), st.lists(_TEXT, min_size=1, max_size=4), st.one_of(st.none(), _ID)), max_size=10),
    st.sampled_from([b"\n", b"\r", b"\r\n"]),
    st.lists(st.integers(0, 5000), max_size=10),
)
@settings(max_examples=300, deadline=None)
def test_what_a_server_writes_is_what_is_read(events: list[tuple[str, list[str], str | None]], newline: bytes, cuts: list[int]) -> None:
    body, expected, last_id = b":)" + newline, [], ""
    for kind, lines, ident in events:
        if kind:
            body += b"event: " + kind.encode() + newline
        for line in lines:
            body += b"data: " + line.encode() + newline
        if ident is not None:
            body += b"id: " + ident.encode() + newline
            last_id = ident
        body += newline
        expected.append(SseEvent(kind or "message", "\n".join(lines), last_id))
    assert parse(body, cuts=cuts)[0] == expected


def cassette_body(name: str, path: str) -> str:
    """The recorded body of the request to ``path`` in one of Mastodon.py's cassettes."""
    yaml = pytest.importorskip("yaml")
    file = CASSETTES / name
    if not file.is_file():
        pytest.skip(f"real-world cassette {name} not found under {CASSETTES} (see shared/fixtures/real/SOURCES.md)")
    for interaction in yaml.safe_load(file.read_text("utf-8"))["interactions"]:
        if interaction["request"]["uri"].endswith(path):
            return str(interaction["response"]["body"]["string"])
    pytest.fail(f"{name} has no recorded {path}")


def test_a_real_mastodon_stream_body_gives_its_update_event() -> None:
    body = cassette_body("test_stream_user_local.yaml", "/api/v1/streaming/user").encode()
    events, parser = parse(body, cuts=list(range(0, len(body), 97)))
    assert [e.event for e in events] == ["update"]
    assert '"uri":"http://localhost:3000/ap/users/117020617404561855/statuses/117024248092393661"' in events[0].data
    assert parser.comments == 1  # the ":)" Mastodon opens every stream with


# -- one connection: what a server may answer instead of a stream ---------------------------

URL = "https://stream.example/api/v1/streaming/public"


@pytest.mark.parametrize(
    ("status", "headers", "error", "message"),
    [
        (401, {}, ResponseError, "wants a valid access token"),
        (429, {"Retry-After": "120"}, RateLimited, "rate limited"),
        (502, {}, TransportError, "HTTP 502"),
        (404, {}, Gone, "no such stream"),
        (301, {"Location": "https://elsewhere.example/"}, ResponseError, "redirect to 'https://elsewhere.example/', not followed"),
        (200, {"Content-Type": "text/html"}, ResponseError, "text/html, not an event stream"),
        (200, {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}, ResponseError, "content-encoding 'gzip'"),
    ],
)
def test_an_answer_that_is_not_a_stream_is_a_source_error_that_says_why(router: Any, client: httpx.Client, status: int, headers: dict[str, str], error: type, message: str) -> None:
    body = gzip.compress(b"data: x\n\n") if "Content-Encoding" in headers else b"data: x\n\n"
    router.get(URL).mock(return_value=httpx.Response(status, headers=headers, content=body))
    connection = SseConnection(client, URL, headers={"Authorization": "Bearer s3cret"})
    with pytest.raises(error, match=re.escape(message)) as raised:
        list(connection.events())
    assert "s3cret" not in str(raised.value)
    if error is RateLimited:
        assert raised.value.retry_after == 120


def test_a_stream_that_ends_is_a_transport_error_after_its_events(router: Any, client: httpx.Client) -> None:
    router.get(URL).mock(return_value=httpx.Response(200, headers={"Content-Type": "text/event-stream; charset=utf-8"}, content=b":)\ndata: one\nid: 9\n\n"))
    connection = SseConnection(client, URL, headers={}, last_event_id="8")
    got: list[SseEvent] = []
    with pytest.raises(TransportError, match="the server ended the stream"):
        for event in connection.events():
            got.append(event)
    assert got == [SseEvent("message", "one", "9")]
    assert router.calls.last.request.headers["Last-Event-ID"] == "8"
    assert router.calls.last.request.headers["Accept"] == "text/event-stream"
