"""What a 418/429/503's Retry-After header asks for, in seconds, bounded: delta-seconds or
an HTTP date, with absurd values (a year, twelve nines) cut to a ceiling instead of
overflowing. Pure (the wall clock is an argument), so the hostile cases are tested alone."""

from __future__ import annotations

import email.utils
from datetime import UTC

RETRY_AFTER_CEILING = 366 * 24 * 3600.0
"""No Retry-After is read as more than a year (``999999999999`` overflowed every date sum);
how long a source really waits is capped far lower by whoever acts on it."""


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), at most
    ``RETRY_AFTER_CEILING``; ``None`` when there is no usable value."""
    if not value:
        return None
    value = value.strip()[:64]
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_CEILING)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC with no zone said, not local time
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now_wall), RETRY_AFTER_CEILING)
