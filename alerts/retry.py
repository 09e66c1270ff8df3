"""When to try a failed delivery again: a pure function of the attempt count and ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=30)


def next_attempt(attempts: int, now: datetime, *, first: timedelta = FIRST_RETRY, cap: timedelta = MAX_RETRY) -> datetime:
    """After ``attempts`` failures: 30s, 1m, 2m, … capped at 30m. A message is never dropped."""
    delay = first * (2 ** max(0, attempts - 1))
    return now + min(delay, cap)
