"""What an HTTP ``Retry-After`` header asks for, in seconds, bounded: one reading for the
whole daemon. ``sources`` (a platform's 418/429/503, a stream's reconnect) and ``alerts``
(a chat robot's, a push server's or an SMS provider's 429/5xx) both ask here, so a
receiver that names a date is honoured like a platform that does; they used to read it
apart, and ``alerts`` took only seconds, retrying on its own backoff instead.

RFC 9110 §10.2.3: the value is delta-seconds (``120``: ASCII digits only, so ``1.5``,
``1e9``, ``-5``, ``NaN`` and other scripts' digits are no value) or an HTTP-date
(``Fri, 31 Dec 1999 23:59:59 GMT``), in any of the three forms §5.6.7 says a recipient
must accept (IMF-fixdate, the obsolete RFC 850 and asctime forms; a date with no zone is
UTC). A date already past asks for no wait (0). Absurd values (a year, twelve nines, the
year 9999) are cut to ``RETRY_AFTER_CEILING`` instead of overflowing; every caller then
caps the wait far lower by its own rule. It is total: any string gives an answer, never
an exception (tests/test_retry_after.py checks it with hypothesis).

Pure: the wall clock is an argument (``now_wall``, Unix seconds), so a date is read
against the caller's injected clock and tests hold on any day. Standard library only, so
``sources`` and ``alerts`` import it without importing each other or ``monitor``.
"""

from __future__ import annotations

import email.utils
from datetime import UTC

__all__ = ["RETRY_AFTER_CEILING", "parse_retry_after"]

RETRY_AFTER_CEILING = 366 * 24 * 3600.0
"""No Retry-After is read as more than a year (``999999999999`` overflowed every date sum);
how long anyone really waits is capped far lower by whoever acts on it."""


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, the date read
    against ``now_wall``), at most ``RETRY_AFTER_CEILING``; ``None`` when there is no
    usable value."""
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
    if when.tzinfo is None:  # "-0000" or asctime's form: UTC with no zone said, not local time
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now_wall), RETRY_AFTER_CEILING)
