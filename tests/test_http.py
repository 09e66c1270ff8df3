"""PoliteHttp: the manners every source relies on, checked against respx (no network, no sleeps).

A fake monotonic clock is injected and advanced by hand, and ``random.Random(0)`` makes the
backoff jitter reproducible, so nothing here waits for real time to pass.
"""

from __future__ import annotations

import email.utils
import gzip
import random

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import (
    BackingOff,
    BodyTooLarge,
    HttpPolicy,
    ParseError,
    PoliteHttp,
    RateLimited,
    ResponseError,
    TransportError,
    html_to_text,
    new_client,
)
from sources.http import USER_AGENT, parse_retry_after

URL = "https://api.test/v1/things"
OTHER_URL_SAME_HOST = "https://api.test/v1/other"
OTHER_HOST_URL = "https://elsewhere.test/v1/things"
WALL_NOW = 1_700_000_000.0  # a fixed wall-clock time for Retry-After HTTP-dates


class MonoClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> MonoClock:
    """Overrides conftest's wall-clock ``clock`` in this module: here it is PoliteHttp's monotonic."""
    return MonoClock()


@pytest.fixture
def mock():
    with respx.mock(assert_all_called=False) as router:
        yield router


def make_http(clock: MonoClock, policy: HttpPolicy | None = None, client: httpx.Client | None = None) -> PoliteHttp:
    return PoliteHttp(
        client or httpx.Client(),
        policy,
        monotonic=clock,
        wall=lambda: WALL_NOW,
        rng=random.Random(0),
    )


@pytest.fixture(scope="module")
def shared_client():
    """One client for the module (an SSL context per test is slow); respx patches the transport."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def make(clock: MonoClock, shared_client: httpx.Client):
    """PoliteHttp with a given policy, on the fake clock and the shared client."""
    return lambda policy=None: make_http(clock, policy, client=shared_client)


@pytest.fixture
def http(make) -> PoliteHttp:
    return make()


# -- server errors and backoff -------------------------------------------------------------


def test_500_raises_retryable_transport_error(mock, http):
    mock.get(URL).respond(500, text="oops")
    with pytest.raises(TransportError) as info:
        http.get(URL)
    exc = info.value
    assert type(exc) is TransportError  # not RateLimited, not BackingOff
    assert exc.retryable is True
    assert "500" in str(exc)
    assert URL in str(exc)


def test_next_call_within_backoff_window_is_not_sent(mock, http, clock):
    route = mock.get(URL).respond(500)
    with pytest.raises(TransportError):
        http.get(URL)
    assert route.call_count == 1

    remaining = http.backoff_remaining(URL)
    # first failure: backoff_base (30 s) with "equal jitter" in [0.5, 1.0)
    assert 15.0 <= remaining <= 30.0

    clock.advance(remaining / 2)
    with pytest.raises(BackingOff) as info:
        http.get(URL)
    assert route.call_count == 1, "a request was sent while the URL was backing off"
    assert isinstance(info.value, TransportError) and info.value.retryable
    assert info.value.retry_after == pytest.approx(remaining / 2)
    assert "500" in str(info.value)  # the reason for the backoff is reported

    clock.advance(remaining / 2 + 0.001)
    with pytest.raises(TransportError) as info:
        http.get(URL)
    assert not isinstance(info.value, BackingOff)
    assert route.call_count == 2, "once the window has passed the request must go out again"


def test_backoff_grows_exponentially_with_jitter(mock, http, clock):
    mock.get(URL).respond(503)
    windows = []
    for _ in range(4):
        with pytest.raises(TransportError):
            http.get(URL)
        windows.append(http.backoff_remaining(URL))
        clock.advance(windows[-1] + 0.001)
    for n, window in enumerate(windows):
        full = 30.0 * 2**n
        assert full * 0.5 <= window <= full, (n, window)


def test_backoff_is_capped_at_backoff_max(mock, make, clock):
    http = make(HttpPolicy(backoff_base=30.0, backoff_max=100.0))
    mock.get(URL).respond(500)
    for _ in range(8):
        with pytest.raises(TransportError):
            http.get(URL)
        window = http.backoff_remaining(URL)
        assert window <= 100.0
        clock.advance(window + 0.001)


def test_success_resets_backoff(mock, http, clock):
    route = mock.get(URL)
    route.side_effect = [httpx.Response(500), httpx.Response(500), httpx.Response(200, text="ok"), httpx.Response(500)]
    for _ in range(2):
        with pytest.raises(TransportError):
            http.get(URL)
        clock.advance(http.backoff_remaining(URL) + 0.001)
    assert http.get(URL).content == b"ok"
    assert http.backoff_remaining(URL) == 0.0

    with pytest.raises(TransportError):
        http.get(URL)
    # counted from scratch: a first-failure window (<= 30 s), not a third-failure one (60-120 s)
    assert 15.0 <= http.backoff_remaining(URL) <= 30.0


def test_server_error_backs_off_only_that_url(mock, http):
    mock.get(URL).respond(500)
    other = mock.get(OTHER_URL_SAME_HOST).respond(200, text="fine")
    with pytest.raises(TransportError):
        http.get(URL)
    assert http.get(OTHER_URL_SAME_HOST).content == b"fine"
    assert other.call_count == 1


def test_404_is_a_non_retryable_response_error(mock, http):
    mock.get(URL).respond(404)
    with pytest.raises(ResponseError) as info:
        http.get(URL)
    assert not isinstance(info.value, TransportError)
    assert info.value.retryable is False
    assert "404" in str(info.value)


# -- rate limits ---------------------------------------------------------------------------


def test_429_retry_after_raises_rate_limited_and_blocks_whole_host(mock, http, clock):
    limited = mock.get(URL).respond(429, headers={"Retry-After": "120"})
    same_host = mock.get(OTHER_URL_SAME_HOST).respond(200, text="ok")
    other_host = mock.get(OTHER_HOST_URL).respond(200, text="ok")

    with pytest.raises(RateLimited) as info:
        http.get(URL)
    assert info.value.retry_after == 120
    assert info.value.retryable is True
    assert isinstance(info.value, TransportError)

    # every URL on the host waits, without a request being sent
    with pytest.raises(BackingOff):
        http.get(OTHER_URL_SAME_HOST)
    with pytest.raises(BackingOff):
        http.get(URL)
    assert same_host.call_count == 0
    assert limited.call_count == 1
    assert http.backoff_remaining(OTHER_URL_SAME_HOST) == pytest.approx(120.0)

    # other hosts are not affected
    assert http.get(OTHER_HOST_URL).content == b"ok"
    assert other_host.call_count == 1

    clock.advance(119.0)
    with pytest.raises(BackingOff):
        http.get(OTHER_URL_SAME_HOST)
    assert same_host.call_count == 0

    clock.advance(1.5)
    assert http.get(OTHER_URL_SAME_HOST).content == b"ok"
    assert same_host.call_count == 1


def test_host_gate_ignores_case_of_host(mock, http):
    mock.get(URL).respond(429, headers={"Retry-After": "60"})
    upper = mock.get("https://API.TEST/v1/other").respond(200)
    with pytest.raises(RateLimited):
        http.get(URL)
    with pytest.raises(BackingOff):
        http.get("https://API.TEST/v1/other")
    assert upper.call_count == 0


def test_503_with_http_date_retry_after(mock, http):
    later = email.utils.formatdate(WALL_NOW + 300, usegmt=True)
    mock.get(URL).respond(503, headers={"Retry-After": later})
    with pytest.raises(RateLimited) as info:
        http.get(URL)
    assert info.value.retry_after == pytest.approx(300.0)
    assert http.backoff_remaining(OTHER_URL_SAME_HOST) == pytest.approx(300.0)


def test_503_without_retry_after_is_plain_transport_error(mock, http):
    mock.get(URL).respond(503)
    with pytest.raises(TransportError) as info:
        http.get(URL)
    assert not isinstance(info.value, RateLimited)


def test_429_without_retry_after_uses_jittered_backoff(mock, http):
    mock.get(URL).respond(429)
    with pytest.raises(RateLimited) as info:
        http.get(URL)
    assert info.value.retry_after is None
    assert 15.0 <= http.backoff_remaining(URL) <= 30.0


def test_huge_retry_after_is_capped_at_backoff_max(mock, http):
    mock.get(URL).respond(429, headers={"Retry-After": "9999999"})
    with pytest.raises(RateLimited):
        http.get(URL)
    assert http.backoff_remaining(URL) == pytest.approx(HttpPolicy().backoff_max)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (email.utils.formatdate(WALL_NOW + 90, usegmt=True), 90.0),
        (email.utils.formatdate(WALL_NOW - 90, usegmt=True), 0.0),  # already past: no wait
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(header, expected):
    got = parse_retry_after(header, WALL_NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


# -- body size and time caps ---------------------------------------------------------------


def test_body_over_max_bytes_with_content_length(mock, make):
    http = make(HttpPolicy(max_bytes=1000))
    mock.get(URL).respond(200, content=b"x" * 1001)
    with pytest.raises(BodyTooLarge) as info:
        http.get(URL)
    assert isinstance(info.value, ResponseError)
    assert info.value.retryable is False
    assert "1001" in str(info.value) and "1000" in str(info.value)


def test_body_exactly_max_bytes_is_accepted(mock, make):
    http = make(HttpPolicy(max_bytes=1000))
    mock.get(URL).respond(200, content=b"x" * 1000)
    assert len(http.get(URL).content) == 1000


def test_streamed_body_over_max_bytes_without_content_length(mock, make):
    http = make(HttpPolicy(max_bytes=1000))
    sent = []

    def endless():
        for _ in range(10_000):
            sent.append(100)
            yield b"y" * 100

    response = httpx.Response(200, content=endless())
    assert "content-length" not in response.headers  # chunked: only the stream tells the size
    mock.get(URL).mock(return_value=response)
    with pytest.raises(BodyTooLarge):
        http.get(URL)
    assert sum(sent) <= 1100, "the body must be abandoned as soon as it passes the cap, not read to the end"


def test_decompressed_size_is_what_counts(mock, make):
    """A small gzip body that inflates past the cap (a zip bomb) is refused."""
    http = make(HttpPolicy(max_bytes=10_000))
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 10_000
    response = httpx.Response(200, headers={"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}, stream=httpx.ByteStream(bomb))
    mock.get(URL).mock(return_value=response)
    with pytest.raises(BodyTooLarge):
        http.get(URL)


def test_gzip_body_is_decompressed(mock, http):
    mock.get(URL).respond(200, content=gzip.compress(b"hello"), headers={"Content-Encoding": "gzip"})
    assert http.get(URL).content == b"hello"


def test_corrupt_gzip_is_a_response_error(mock, http):
    response = httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"definitely not gzip"))
    mock.get(URL).mock(return_value=response)
    with pytest.raises(ResponseError) as info:
        http.get(URL)
    assert "decode" in str(info.value)


def test_slow_drip_body_hits_the_total_deadline(mock, make, clock):
    http = make(HttpPolicy(total_timeout=30.0))

    def drip():
        for _ in range(100):
            clock.advance(5.0)  # each chunk arrives within the read timeout, but the whole is too slow
            yield b"."

    mock.get(URL).mock(return_value=httpx.Response(200, content=drip()))
    with pytest.raises(TransportError) as info:
        http.get(URL)
    assert "30" in str(info.value)
    assert info.value.retryable is True


# -- transport failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.PoolTimeout, httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError],
)
def test_network_errors_become_transport_errors(mock, http, error):
    route = mock.get(URL)
    route.side_effect = error
    with pytest.raises(TransportError) as info:
        http.get(URL)
    assert type(info.value) is TransportError
    assert info.value.retryable is True
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no raw httpx error leaks
    with pytest.raises(BackingOff):
        http.get(URL)
    assert route.call_count == 1


def test_timeouts_from_policy_are_passed_to_the_client(mock, make):
    http = make(HttpPolicy(connect_timeout=2.0, read_timeout=7.0))
    route = mock.get(URL).respond(200)
    http.get(URL)
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["connect"] == 2.0
    assert timeout["read"] == 7.0


def test_bad_url_is_a_response_error(http):
    # no respx here on purpose: httpx refuses the scheme before any transport is chosen
    with pytest.raises(ResponseError) as info:
        http.get("ftp://api.test/file")
    assert "bad URL" in str(info.value)


# -- JSON ----------------------------------------------------------------------------------


def test_get_json_returns_parsed_json_and_asks_for_json(mock, http):
    route = mock.get(URL).respond(200, json={"ok": [1, 2]})
    assert http.get_json(URL) == {"ok": [1, 2]}
    assert route.calls.last.request.headers["Accept"] == "application/json"


@pytest.mark.parametrize("body", [b"<html>Just a moment...</html>", b"", b'{"truncated": ', b"\xff\xfe\x00garbage"])
def test_get_json_invalid_json_raises_parse_error(mock, http, body):
    mock.get(URL).respond(200, content=body)
    with pytest.raises(ParseError) as info:
        http.get_json(URL)
    assert URL in str(info.value)
    assert info.value.__cause__ is None


def test_get_json_passes_params(mock, http):
    route = mock.get(URL, params={"limit": "40"}).respond(200, json=[])
    assert http.get_json(URL, params={"limit": 40}) == []
    assert route.calls.last.request.url.params["limit"] == "40"


# -- identification ------------------------------------------------------------------------


def test_user_agent_names_the_project(mock, http):
    route = mock.get(URL).respond(200)
    http.get(URL)
    agent = route.calls.last.request.headers["User-Agent"]
    assert agent == USER_AGENT
    assert "brand-monitor" in agent
    assert "python-httpx" not in agent


def test_new_client_sends_project_user_agent(mock):
    route = mock.get(URL).respond(200)
    with new_client() as client:
        client.get(URL)
    assert "brand-monitor" in route.calls.last.request.headers["User-Agent"]


def test_new_client_follows_redirects_and_reports_final_url(mock, clock):
    mock.get(URL).respond(301, headers={"Location": OTHER_HOST_URL})
    mock.get(OTHER_HOST_URL).respond(200, text="moved")
    with new_client() as client:
        fetched = make_http(clock, client=client).get(URL)
    assert fetched.content == b"moved"
    assert fetched.url == OTHER_HOST_URL


# -- conditional GET -----------------------------------------------------------------------
# Validators (ETag, Last-Modified, body hash) are remembered only once the caller confirms it
# used the body (``PoliteHttp.confirm``), so a body that failed to parse is not "unchanged".


def test_etag_is_sent_back_as_if_none_match_and_304_is_unchanged(mock, http):
    route = mock.get(URL)
    route.side_effect = [
        httpx.Response(200, content=b"v1", headers={"ETag": '"abc"', "Last-Modified": "Sat, 01 Apr 2023 07:38:00 GMT"}),
        httpx.Response(304),
    ]
    first = http.get(URL, conditional=True)
    assert first.unchanged is False and first.content == b"v1"
    assert "If-None-Match" not in route.calls[0].request.headers
    http.confirm(first)

    second = http.get(URL, conditional=True)
    assert second.unchanged is True
    assert second.status == 304
    request = route.calls[1].request
    assert request.headers["If-None-Match"] == '"abc"'
    assert request.headers["If-Modified-Since"] == "Sat, 01 Apr 2023 07:38:00 GMT"


def test_same_body_without_validators_is_unchanged_by_hash(mock, http):
    route = mock.get(URL)
    route.side_effect = [httpx.Response(200, content=b"same"), httpx.Response(200, content=b"same"), httpx.Response(200, content=b"new")]
    first = http.get(URL, conditional=True)
    assert first.unchanged is False
    http.confirm(first)
    assert http.get(URL, conditional=True).unchanged is True
    assert http.get(URL, conditional=True).unchanged is False


def test_unconfirmed_body_is_not_remembered(mock, http):
    """A body the caller could not use (e.g. a feed that failed to parse) must come back as new."""
    route = mock.get(URL)
    route.side_effect = [httpx.Response(200, content=b"broken", headers={"ETag": '"b"'})] * 2
    assert http.get(URL, conditional=True).unchanged is False
    again = http.get(URL, conditional=True)
    assert again.unchanged is False
    assert "If-None-Match" not in route.calls[1].request.headers


def test_confirming_a_304_keeps_the_earlier_validators(mock, http):
    route = mock.get(URL)
    route.side_effect = [httpx.Response(200, content=b"v1", headers={"ETag": '"abc"'}), httpx.Response(304), httpx.Response(304)]
    http.confirm(http.get(URL, conditional=True))
    not_modified = http.get(URL, conditional=True)
    http.confirm(not_modified)
    assert http.get(URL, conditional=True).unchanged is True
    assert route.calls[2].request.headers["If-None-Match"] == '"abc"'


def test_unconditional_get_sends_no_validators_and_is_never_unchanged(mock, http):
    route = mock.get(URL)
    route.side_effect = [httpx.Response(200, content=b"same", headers={"ETag": '"e"'})] * 2
    http.confirm(http.get(URL, conditional=True))
    again = http.get(URL)
    assert again.unchanged is False
    assert "If-None-Match" not in route.calls[1].request.headers


# -- html_to_text properties ---------------------------------------------------------------

# Fragments that make hypothesis build markup-like strings much more often than st.text() alone.
_FRAGMENTS = st.sampled_from(
    [
        "<script>", "</script>", "<SCRIPT>", "<script", "<script src='x.js'/>", "<style>", "</style>",
        "<p>", "</p>", "<br/>", "<a href='", "<a href=\"https://t.cn/x\">", "</a>", "<img alt='[送花花]'>",
        "<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE html>", "<?php", "&lt;", "&gt;", "&amp;", "&#60;",
        "&#x3c;", "&", "<", ">", "'", '"', "=", " ", "\n", "微博", "script", "alert(1)",
    ]
)
_MARKUP = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=4)), max_size=25).map("".join)
_HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_HYPOTHESIS
@given(st.one_of(st.text(), _MARKUP))
def test_html_to_text_never_raises(markup):
    out = html_to_text(markup)
    assert isinstance(out, str)
    assert out == out.strip()


# No markup characters, and never "§", which only the script payload uses.
_NO_MARKUP_CHARS = st.text(st.characters(blacklist_characters="<&§", blacklist_categories=("Cs",)), max_size=30)


@_HYPOTHESIS
@given(_NO_MARKUP_CHARS, st.sampled_from(["script", "SCRIPT", "Script"]), _NO_MARKUP_CHARS)
def test_html_to_text_drops_well_formed_script_elements(before, tag, after):
    markup = f"<p>{before}</p><{tag} type='text/javascript'>steal('§PAYLOAD§')</{tag}><p>{after}</p>"
    out = html_to_text(markup)
    assert "§" not in out
    assert "<script" not in out.lower()


# Text that *says* "<script" (plain text, or entity-escaped markup) is returned as that
# text on purpose: it is what the author wrote, and every renderer escapes it.
def test_text_that_says_script_is_kept_as_text():
    assert html_to_text("&lt;script&gt;alert(1)&lt;/script&gt;") == "<script>alert(1)</script>"
    assert html_to_text("a <script without end") == "a <script without end"


# Regression: truncated HTML used to come back with its unterminated tail verbatim (fixed in 9f08905).
@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<p>全文</p><a href="https://t.cn/abc', "全文"),  # cut in the middle of a link (long Weibo text)
        ('<p>hi</p><img src="x.png" alt="[送花', "hi"),
        ("<p>hi</p><!-- tracking pixel", "hi"),
        ("<p>ok</p><!-- <script>alert(1)</script>", "ok"),
        ("<p>ok</p><a href='<script>alert(1)</script>", "ok"),
        ("<b>x</b><scri", "x"),
        ("<b>x</b> &amp; y", "x & y"),
    ],
)
def test_truncated_html_does_not_leak_markup(markup, expected):
    assert html_to_text(markup) == expected


# -- bounded state (issue 14, item 11: a daemon that runs for months) -------------------------
# Every table PoliteHttp keeps per URL or host stays at most ``HttpPolicy.remember`` entries
# however many distinct addresses it meets; the most recently used are the ones kept.

MANY = 500
SMALL = HttpPolicy(remember=50)


def test_validators_stay_bounded_and_keep_the_most_recent(mock, make):
    http = make(SMALL)
    route = mock.get(url__startswith="https://api.test/feed/").respond(200, content=b"body", headers={"ETag": '"e"'})
    for n in range(MANY):
        http.confirm(http.get(f"https://api.test/feed/{n}", conditional=True))
    assert len(http._validators) <= SMALL.remember
    calls = route.call_count
    http.get(f"https://api.test/feed/{MANY - 1}", conditional=True)
    assert route.calls[calls].request.headers.get("If-None-Match") == '"e"'  # recent: still remembered
    http.get("https://api.test/feed/0", conditional=True)
    assert "If-None-Match" not in route.calls[calls + 1].request.headers  # oldest: forgotten


def test_a_used_validator_is_kept_over_newer_unused_ones(mock, make):
    http = make(SMALL)
    route = mock.get(url__startswith="https://api.test/feed/").respond(200, content=b"body", headers={"ETag": '"e"'})
    http.confirm(http.get("https://api.test/feed/polled", conditional=True))
    for n in range(MANY):
        http.confirm(http.get(f"https://api.test/feed/{n}", conditional=True))
        if n % 10 == 0:  # polled now and then, as a configured feed is
            http.get("https://api.test/feed/polled", conditional=True)
    assert len(http._validators) <= SMALL.remember
    calls = route.call_count
    http.get("https://api.test/feed/polled", conditional=True)
    assert route.calls[calls].request.headers.get("If-None-Match") == '"e"'


def test_gates_of_gone_urls_stay_bounded(mock, make, clock):
    """A deleted post's address answers 404 once and is never asked for again: its gate
    must not stay for the life of the process."""
    http = make(SMALL)
    mock.get(url__startswith="https://api.test/statuses/").respond(404)
    for n in range(MANY):
        with pytest.raises(ResponseError):
            http.get(f"https://api.test/statuses/{n}")
        clock.advance(1.0)
    assert len(http._gates) <= SMALL.remember


def test_gates_past_their_wait_are_forgotten_before_waiting_ones(mock, make, clock):
    http = make(SMALL)
    mock.get(url__startswith="https://api.test/").respond(500)
    for n in range(40):
        with pytest.raises(TransportError):
            http.get(f"https://api.test/old/{n}")
    clock.advance(SMALL.backoff_base * 2)  # their windows are over
    with pytest.raises(TransportError):
        http.get("https://api.test/waiting")
    for n in range(MANY):
        with pytest.raises(TransportError):
            http.get(f"https://api.test/new/{n}")
        if len(http._gates) < SMALL.remember * 9 // 10:
            break  # the old ones are gone, the new ones fit
    assert len(http._gates) <= SMALL.remember
    assert "https://api.test/waiting" in http._gates
    with pytest.raises(BackingOff):
        http.get("https://api.test/waiting")


def test_host_slots_are_held_only_while_requests_are_in_flight(mock, make):
    http = make(HttpPolicy(per_host=1))
    nested: list[Exception] = []

    def answer(request: httpx.Request) -> httpx.Response:
        try:  # a second request to the same host while the first is in flight
            http.get(f"https://{request.url.host}/again")
        except BackingOff as exc:
            nested.append(exc)
        assert http.in_flight == 1
        return httpx.Response(200, content=b"ok")

    mock.get(url__regex=r"https://h\d+\.test/first").mock(side_effect=answer)
    for n in range(MANY):
        http.get(f"https://h{n}.test/first")
    assert len(nested) == MANY and "1 requests already in flight" in str(nested[0])
    assert http._host_slots == {} and http.in_flight == 0


def test_requests_of_a_view_with_secrets_count_as_the_clients_own(mock, make):
    """A source with secrets fetches through a view of the shared client: its requests are
    in flight for the client (shutdown waits for them) and hold the same per-host slots."""
    http = make(HttpPolicy(per_host=1))
    view = http.with_secrets({"Authorization": "Bearer t0ken"}, {})
    seen: list[tuple[int, int]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((http.in_flight, view.in_flight))
        with pytest.raises(BackingOff):
            http.get(f"https://{request.url.host}/again")  # the one slot of the host is the view's
        return httpx.Response(200, content=b"ok")

    mock.get("https://api.test/with-token").mock(side_effect=answer)
    view.get("https://api.test/with-token")
    assert seen == [(1, 1)] and http.in_flight == 0 and view.in_flight == 0
