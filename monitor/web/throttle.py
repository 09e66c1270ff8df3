"""Slowing down password guessing: after ``limit`` failed sign-ins for one user name from
one address within ``window``, that pair is refused until the window has passed.

Kept in memory per process: a restart forgets it, and each replica counts for itself,
which still caps guessing at a few attempts a minute per replica.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class SignInThrottle:
    limit: int = 5
    window: timedelta = timedelta(minutes=15)
    _failures: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait(self, name: str, address: str, now: datetime) -> timedelta | None:
        """How long this pair must wait before trying again, or None."""
        with self._lock:
            times = self._recent((name, address), now)
            if len(times) < self.limit:
                return None
            return times[0] + self.window - now

    def failed(self, name: str, address: str, now: datetime) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # a flood of made-up names must not grow memory without end
                for key in [k for k, times in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]
            self._recent((name, address), now).append(now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
