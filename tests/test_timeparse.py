"""Time parsers on hostile values: never raise, and cost no more on a megabyte of junk
than on a real date (a longer value than any platform writes is not a time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sources.jsonapi import parse_time
from sources.timeparse import from_feed_struct, parse_epoch, parse_iso
from sources.weibo import parse_weibo_time
from tests.conftest import fastest

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PARSERS = {
    "iso": lambda v: parse_iso(v, SHANGHAI),
    "epoch": parse_epoch,
    "feed": lambda v: from_feed_struct(v, time.gmtime(0), SHANGHAI),
    "json auto": lambda v: parse_time(v, "auto", SHANGHAI),
    "json format": lambda v: parse_time(v, "%Y-%m-%d %H:%M:%S", SHANGHAI),
    "weibo": lambda v: parse_weibo_time(v, NOW, SHANGHAI),
}
REAL = {"iso": "2026-08-01T13:55:55.867Z", "epoch": "1403235346", "feed": "Thu, 01 Jan 2004 19:48:21 GMT",
        "json auto": "Sat, 01 Apr 2023 07:38:00 GMT", "json format": "2024-05-01 12:00:00", "weibo": "Wed Aug 24 22:03:13 +0800 2022"}


@given(st.one_of(st.text(max_size=200), st.integers(), st.floats(), st.none(), st.booleans()))
def test_every_parser_answers_a_time_or_none_and_never_raises(value):
    for parse in PARSERS.values():
        result = parse(value)
        assert result is None or result.tzinfo is not None


def test_a_megabyte_of_junk_costs_what_a_real_date_costs():
    junk = [":00.1" + "1" * 1_000_000 + "x", "Z " * 500_000 + "x", "1" * 1_000_000, " " * 1_000_000 + "GMT", "2026-01-01T" + "0" * 1_000_000]
    for name, parse in PARSERS.items():
        real = max(fastest(parse, REAL[name], runs=5), 1e-6)
        for value in junk:
            assert fastest(parse, value, runs=5) < 50 * real, (name, value[:12])
