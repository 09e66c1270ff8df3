"""Slowing down password guessing: after ``limit`` sign-in attempts for one user name from
one address within ``window`` that did not succeed, that pair is refused until the window
has passed.

An attempt is counted before its password is checked, in the same step (under one lock)
as the check of the count: sixty wrong passwords sent at once get ``limit`` password
checks, not as many as slip past a check made before any of them had failed. A success
forgets the pair's attempts.

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

    def attempt(self, name: str, address: str, now: datetime) -> timedelta | None:
        """Count an attempt of this pair, or say how long it must wait (counting nothing).
        Call before checking the password; ``succeeded`` after a right one."""
        with self._lock:
            if len(self._failures) > 10_000:  # a flood of made-up names must not grow memory without end
                for key in [k for k, times in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]
            times = self._recent((name, address), now)
            if len(times) >= self.limit:
                return times[0] + self.window - now
            times.append(now)
            return None

    def unchecked(self, name: str, address: str, at: datetime) -> None:
        """The attempt counted at ``at`` never had its password checked (the console was
        too busy to): it is not a guess, so it stops counting. A person who met "busy" five
        times is not then locked out for the window."""
        with self._lock:
            times = self._failures.get((name, address))
            if times is not None and at in times:
                times.remove(at)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
