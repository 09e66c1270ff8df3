"""Per-channel send rates: what gets through, when the next one may go, and clear errors
for a rate a user mistyped. Time is passed in; nothing sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from alerts.ratelimit import DEFAULT_RATES, RateLimit, RateLimiter
from tests.conftest import START


def test_twenty_a_minute_lets_twenty_through_then_names_the_time_of_the_21st():
    limiter = RateLimiter(RateLimit.parse("20/m"))
    for i in range(20):
        assert limiter.acquire(START + timedelta(seconds=i)) is None  # one a second for 20 s

    at = START + timedelta(seconds=20)
    assert limiter.acquire(at) == START + timedelta(minutes=1)  # when the first send leaves the window
    # asking again while blocked is not counted and does not push the time further out
    assert limiter.acquire(at + timedelta(seconds=30)) == START + timedelta(minutes=1)

    assert limiter.acquire(START + timedelta(minutes=1)) is None  # frees up after the window
    assert limiter.acquire(START + timedelta(minutes=1)) == START + timedelta(minutes=1, seconds=1)
    assert limiter.acquire(START + timedelta(minutes=1, seconds=1)) is None


def test_a_burst_at_one_instant_waits_a_full_window():
    limiter = RateLimiter("20/m")
    assert [limiter.acquire(START) for _ in range(20)] == [None] * 20
    assert limiter.acquire(START) == START + timedelta(minutes=1)
    assert limiter.acquire(START + timedelta(seconds=59, microseconds=999_999)) == START + timedelta(minutes=1)
    assert limiter.acquire(START + timedelta(minutes=1)) is None


def test_sliding_window_never_lets_a_double_burst_across_a_minute_boundary():
    limiter = RateLimiter("20/m")
    late = START + timedelta(seconds=59)
    assert [limiter.acquire(late) for _ in range(20)] == [None] * 20
    # a fixed per-minute counter would allow 20 more at START + 60 s; we wait for the window
    assert limiter.acquire(START + timedelta(seconds=60)) == late + timedelta(minutes=1)


def test_combined_limits_hold_both_the_burst_and_the_minute():
    limiter = RateLimiter(DEFAULT_RATES["feishu"])  # 100/m and 5/s
    assert [limiter.acquire(START) for _ in range(5)] == [None] * 5
    assert limiter.acquire(START) == START + timedelta(seconds=1)  # the per-second limit bites first

    sent = 5
    t = START
    while sent < 100:
        t += timedelta(seconds=1)
        for _ in range(5):
            assert limiter.acquire(t) is None
            sent += 1
    # 100 in the first 20 s: the 101st waits for the minute, not just the second
    assert limiter.acquire(t + timedelta(seconds=1)) == START + timedelta(minutes=1)


def test_concurrent_callers_never_exceed_the_limit():
    limiter = RateLimiter("20/m")
    granted: list[bool] = []
    lock = threading.Lock()
    go = threading.Event()

    def worker() -> None:
        go.wait()
        for _ in range(50):
            ok = limiter.acquire(START) is None
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    assert len(granted) == 400
    assert granted.count(True) == 20


@pytest.mark.parametrize(
    ("text", "count", "per"),
    [
        ("20/m", 20, timedelta(minutes=1)),
        ("5/10s", 5, timedelta(seconds=10)),
        ("100/h", 100, timedelta(hours=1)),
        ("1/s", 1, timedelta(seconds=1)),
        (" 500 / 1d ", 500, timedelta(days=1)),
    ],
)
def test_parse_reads_count_and_window(text, count, per):
    rate = RateLimit.parse(text)
    assert (rate.count, rate.per) == (count, per)
    assert RateLimit.parse(str(rate)) == rate  # written back the way a user writes it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a rate: write COUNT/[N]UNIT"),
        ("20", "is not a rate: write COUNT/[N]UNIT"),
        ("20/min", "like \"20/m\", \"5/10s\" or \"100/h\""),
        ("twenty/m", "is not a rate"),
        ("-1/m", "is not a rate"),
        ("2.5/m", "is not a rate"),
        ("20/x", "UNIT one of s, m, h, d"),
        ("0/m", "the count must be at least 1"),
        ("5/0s", "the window must be longer than zero"),
    ],
)
def test_parse_errors_say_what_is_wrong_and_how_to_write_it(text, message):
    with pytest.raises(ValueError) as info:
        RateLimit.parse(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)  # names what the user wrote


def test_every_default_rate_parses():
    for kind, text in DEFAULT_RATES.items():
        assert RateLimiter(text).limits, kind
    assert RateLimiter(DEFAULT_RATES["dingtalk"]).limits == (RateLimit(20, timedelta(minutes=1)),)


def test_a_limiter_needs_a_rate():
    with pytest.raises(ValueError, match="at least one rate"):
        RateLimiter()
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit(0, timedelta(minutes=1))
