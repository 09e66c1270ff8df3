"""Timestamps as platforms write them, to aware UTC datetimes."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, tzinfo

MAX_TIME_TEXT = 64
"""No platform writes a time longer than this (``Wed Aug 24 22:03:13 +0800 2022`` is 30):
a longer value is not a time, and is never handed to a regex or a date parser."""

# A zone written after the time (seconds, then optional space): Z, +08:00, +0800, -08,
# or a name like GMT/UT/EST/CST.
_HAS_ZONE = re.compile(r"(?::\d\d(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)|\b(?:GMT|UTC?|[ECMP][SD]T|[A-IK-Z])\b)\s*$", re.IGNORECASE)


def parse_iso(value: object, local: tzinfo = UTC) -> datetime | None:
    """ISO 8601 (``2026-08-01T13:55:55.867Z``, ``...+00:00``, µs) to UTC; a time written
    without a zone is read in ``local`` (the one policy for zone-less times); None if unusable."""
    if not isinstance(value, str) or not value or len(value) > MAX_TIME_TEXT:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=local)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # "0001-01-01T00:00:00+01:00" overflows in UTC
        return None


def from_feed_struct(raw: object, parsed: time.struct_time | None, local: tzinfo) -> datetime | None:
    """A feed date from feedparser's UTC ``struct_time``, re-read in ``local`` when the
    original string carried no zone (qq.com writes ``2018-09-18 14:38:10``, meaning +08:00,
    which feedparser would take as UTC and put 8 hours off)."""
    if parsed is None:
        return None
    try:
        wall = datetime(*parsed[:6])
    except (TypeError, ValueError):
        return None
    if isinstance(raw, str) and raw and not _HAS_ZONE.search(raw[-MAX_TIME_TEXT:].strip()):  # a zone is written last
        return wall.replace(tzinfo=local).astimezone(UTC)
    return wall.replace(tzinfo=UTC)


_EPOCH = re.compile(r"^[0-9]{9,11}(?:\.[0-9]+)?$")  # 1973 … 5138: seconds, as platforms write them


def parse_epoch(value: object) -> datetime | None:
    """Epoch seconds (int, float or digit string, as Reddit's ``created_utc`` and HN's
    ``created_at_i``) to UTC; None if unusable or absurd."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > MAX_TIME_TEXT or not _EPOCH.match(value):
            return None
        value = float(value)
    if not isinstance(value, (int, float)) or not 0 < value < 32_503_680_000:  # before year 3000
        return None
    return datetime.fromtimestamp(value, tz=UTC)
