"""The one reading of an HTTP ``Retry-After`` (``retryafter``), which sources and alerts
share: RFC 9110's own examples, read against an injected clock (never today's), and
hypothesis for the promise both rely on: any header string gives ``None`` or a wait from
0 to ``RETRY_AFTER_CEILING``, never an exception."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import alerts._http
import sources.http
from retryafter import RETRY_AFTER_CEILING, parse_retry_after

RFC_9110_DATE = "Fri, 31 Dec 1999 23:59:59 GMT"  # RFC 9110 §10.2.3's example
RFC_9110_DATE_AT = 946684799.0  # the same instant, in Unix seconds
SUNDAY = 784111777.0  # "Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 §5.6.7's example


def test_rfc_9110s_two_examples_read_as_the_seconds_they_ask_for():
    """§10.2.3: ``Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`` and ``Retry-After: 120``."""
    now = RFC_9110_DATE_AT - 120
    assert parse_retry_after(RFC_9110_DATE, now) == 120.0
    assert parse_retry_after("120", now) == 120.0


@pytest.mark.parametrize("form", [
    "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate, what servers send
    "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
    "Sun Nov  6 08:49:37 1994",  # ANSI C's asctime() form: no zone, and it is UTC
])
def test_every_date_form_rfc_9110_says_a_recipient_must_accept_reads_the_same(form):
    assert parse_retry_after(form, SUNDAY - 90) == 90.0


def test_a_date_is_read_against_the_clock_given_not_todays():
    assert parse_retry_after(RFC_9110_DATE, RFC_9110_DATE_AT - 1800) == 1800.0
    assert parse_retry_after(RFC_9110_DATE, RFC_9110_DATE_AT) == 0.0
    assert parse_retry_after(RFC_9110_DATE, RFC_9110_DATE_AT + 3600) == 0.0  # already past: no wait, not a negative one


def test_sources_and_alerts_read_it_here_and_nowhere_else():
    """One reading: sources.http's public name is this very function, and alerts' reply
    reader holds no parser of its own."""
    assert sources.http.parse_retry_after is parse_retry_after
    assert sources.http.RETRY_AFTER_CEILING == RETRY_AFTER_CEILING
    assert alerts._http.parse_retry_after is parse_retry_after


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Sunday", "")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo", "")
_DATE_LIKE = st.builds(
    "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
    st.sampled_from(_DAYS), st.integers(-1, 99), st.sampled_from(_MONTHS), st.integers(-1, 10**7),
    st.integers(-1, 99), st.integers(-1, 99), st.integers(-1, 99), st.sampled_from(("GMT", "UTC", "-0000", "+2359", "-9999", "PST", "", "ZZZ")),
)
"""Strings shaped like a date, with every field out of range somewhere: the day 0, the hour
99, the year 10,000,000, a zone of 99 hours, a month that is none."""
_HEADERS = st.one_of(st.text(), st.text(alphabet="0123456789 ,:-+GMTSunNov", max_size=80), _DATE_LIKE, st.integers(0, 10**80).map(str))


@settings(max_examples=1000)
@given(_HEADERS, st.floats(min_value=-1e12, max_value=1e12))
@example("9" * 400, 1.7e9)
@example("Fri, 31 Dec 9999 23:59:59 GMT", 1.7e9)
@example("Mon, 01 Jan 0001 00:00:00 GMT", 1.7e9)
@example("Thu, 01 Jan 1970 00:00:00 +9999", 0.0)
@example("NaN", 1.7e9)
@example("-5", 1.7e9)
@example("١٢٣", 1.7e9)
def test_any_header_gives_no_wait_or_a_bounded_one_and_never_raises(value, now):
    wait = parse_retry_after(value, now)
    assert wait is None or 0.0 <= wait <= RETRY_AFTER_CEILING


@given(st.integers(0, 4 * 10**9), st.integers(0, int(RETRY_AFTER_CEILING)))
def test_a_date_any_wait_ahead_reads_back_as_that_wait(now, ahead):
    """What a server writes (``formatdate``, IMF-fixdate) for "``ahead`` seconds from now"
    is read as exactly that, on any day the clock says it is."""
    assert parse_retry_after(email.utils.formatdate(now + ahead, usegmt=True), float(now)) == float(ahead)


@given(st.integers(0, 10**70))
def test_delta_seconds_are_the_number_capped_at_the_ceiling(seconds):
    assert parse_retry_after(str(seconds), 0.0) == min(float(seconds), RETRY_AFTER_CEILING)
