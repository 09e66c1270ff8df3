"""Per-channel send rates, so we stay under a robot's limit instead of tripping it.

Tripping it is worse than waiting: DingTalk throttles a robot for ten minutes after the
21st message in a minute. ``RateLimiter.acquire(now)`` answers ``None`` (go now; the send
is recorded) or the earliest time the send may go; the caller keeps the message queued
until then. Time is passed in, so the daemon's clock (and a test's fake one) rules.

A sliding-window log: the limiter remembers when recent sends went, and a send may go
when fewer than ``count`` went within the last ``per``. Unlike a fixed per-minute
counter it never lets 2 x count through across a minute boundary. Several limits may be
combined (Feishu: 100 a minute *and* 5 a second).
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORM = 'COUNT/[N]UNIT with UNIT one of s, m, h, d, like "20/m", "5/10s" or "100/h"'

DEFAULT_RATES: dict[str, str] = {
    # open.dingtalk.com, custom robot: "每个机器人每分钟最多发送20条", then throttled 10 minutes
    "dingtalk": "20/m",
    # developer.work.weixin.qq.com, 群机器人: "每个机器人发送的消息不能超过20条/分钟"
    "wecom": "20/m",
    # open.feishu.cn, custom bot guide: 100 requests a minute and 5 a second per bot
    "feishu": "100/m, 5/s",
    "lark": "100/m, 5/s",
    # api.slack.com rate limits: incoming webhooks 1 per second, short bursts allowed
    "slack": "1/s",
    # core.telegram.org/bots/faq: about 1 message a second in one chat, 20 a minute in a group
    "telegram": "20/m, 1/s",
    # docs.ntfy.sh/config (ntfy.sh's defaults): a burst of 60 requests, then 1 every 5 seconds
    "ntfy": "60/5m",
    # "bark": no documented figure per device (the public server asks for under 200 QPS in all)
    # "webhook" (our own receiver) and email: no documented figure, so no default limit
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` sends in any window of length ``per``."""

    count: int
    per: timedelta

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a rate needs a count of at least 1, not {self.count}")
        if self.per <= timedelta(0):
            raise ValueError(f"a rate needs a window longer than zero, not {self.per}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"20/m"`` -> 20 per minute, ``"5/10s"`` -> 5 per 10 seconds; ValueError with a
        message fit to show a user otherwise."""
        match = _RATE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a rate: write {_FORM}")
        count, size, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1:
            raise ValueError(f"{text!r}: the count must be at least 1 (to stop a channel, disable it)")
        if size < 1:
            raise ValueError(f"{text!r}: the window must be longer than zero")
        return cls(count, timedelta(seconds=size * _UNITS[unit]))

    @classmethod
    def parse_all(cls, text: str) -> tuple[RateLimit, ...]:
        """Comma-separated rates that all apply, like ``"100/m, 5/s"``."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{text!r} is not a rate: write {_FORM}")
        return tuple(cls.parse(part) for part in text.split(","))

    def __str__(self) -> str:
        """The way ``parse`` reads it back: ``"20/m"``, ``"5/10s"``."""
        seconds = self.per.total_seconds()
        if not seconds.is_integer():
            return f"{self.count}/{seconds:g}s"
        n, unit = int(seconds), "s"
        for name, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if n % size == 0:
                n, unit = n // size, name
                break
        return f"{self.count}/{'' if n == 1 else n}{unit}"


class RateLimiter:
    """Thread-safe sliding-window limiter for one channel (one robot)."""

    def __init__(self, *limits: RateLimit | str) -> None:
        parsed: list[RateLimit] = []
        for limit in limits:
            parsed.extend(RateLimit.parse_all(limit) if isinstance(limit, str) else (limit,))
        if not parsed:
            raise ValueError("a RateLimiter needs at least one rate")
        self.limits = tuple(parsed)
        self._horizon = max(limit.per for limit in self.limits)
        self._sent: list[datetime] = []  # sorted send times within the longest window
        self._lock = threading.Lock()

    def acquire(self, now: datetime) -> datetime | None:
        """``None``: the send may go now, and is counted. Otherwise the earliest time it
        may go; nothing is counted, so asking again does not push that time further out."""
        with self._lock:
            del self._sent[: bisect.bisect_right(self._sent, now - self._horizon)]
            earliest = self._earliest(now)
            if earliest is not None:
                return earliest
            bisect.insort(self._sent, now)
            return None

    def _earliest(self, now: datetime) -> datetime | None:
        waits: list[datetime] = []
        for limit in self.limits:
            # sends within (now - per, now]; a send exactly ``per`` ago no longer counts
            recent = self._sent[bisect.bisect_right(self._sent, now - limit.per) :]
            if len(recent) >= limit.count:
                waits.append(recent[-limit.count] + limit.per)
        return max(waits) if waits else None

    def __repr__(self) -> str:
        return f"RateLimiter({', '.join(repr(str(limit)) for limit in self.limits)})"
