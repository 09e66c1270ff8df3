"""The source interface: one class per platform, found through entry points."""

from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from sources.errors import Gone
from sources.http import PoliteHttp
from sources.options import Option
from sources.post import Post


class SourceStore(Protocol):
    """Where a source keeps a small JSON-able blob across restarts (a stream's cursor and
    counts), by source name. The application backs it with its database; ``save`` may
    raise (the database is down), and a source then keeps its state and saves it later."""

    def load(self, source: str, kind: str) -> Any | None:
        """The blob last saved for this source name and kind; None when there is none
        (a source renamed or given another kind starts afresh)."""

    def save(self, source: str, kind: str, state: Any) -> None: ...


class MemoryStore:
    """A ``SourceStore`` that forgets at exit: for a source used without an application
    (a script, a test), and the default, so a source never has to ask whether it has one."""

    def __init__(self) -> None:
        self._blobs: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def load(self, source: str, kind: str) -> Any | None:
        with self._lock:
            return self._blobs.get((source, kind))

    def save(self, source: str, kind: str, state: Any) -> None:
        with self._lock:
            self._blobs[(source, kind)] = state


def _anything(text: str) -> bool:
    return True


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the application hands every source: shared polite HTTP, the local zone, and
    for sources that cannot hand every post over (a network's whole firehose) a
    ``wanted`` test of a text, a ``store`` for state kept across restarts, a clock and
    how long the application follows a post's engagement (``track_for``)."""

    http: PoliteHttp
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("sources"))
    wanted: Callable[[str], bool] = _anything
    """Could this text be a mention? False only when it certainly is not (the application
    builds it from its keywords' prefilter), so a stream may drop the post unseen. Must be
    cheap and thread-safe: a stream calls it from its reader thread for every post."""
    store: SourceStore = field(default_factory=MemoryStore)
    clock: Callable[[], datetime] = _utcnow
    """The time now, timezone-aware UTC (the application's clock, so tests can move it)."""
    track_for: timedelta = timedelta(hours=48)
    """How long after a post is first seen its engagement still matters (``[scoring] track_for``)."""


class Source(ABC):
    """Polls one platform endpoint and yields ``Post`` records; knows nothing of brands.

    A subclass declares ``kind`` and its ``options`` (validated before construction, so
    ``settings`` holds every declared key, defaults filled in). ``fetch`` does one poll;
    ``refresh`` re-reads posts it yielded before (by ``Post.ref``) so engagement growth
    is seen after a post drops out of the listing. Both raise only ``SourceError``.
    """

    kind: ClassVar[str]
    options: ClassVar[Mapping[str, Option]] = {}
    refresh_batch: ClassVar[int] = 0
    """How many posts one ``refresh`` call may re-read; 0 means the platform cannot."""
    whole_list: ClassVar[bool] = False
    """Each answer is the platform's whole list (a hot list): a post listed before and
    absent now has left it. Such a source is handed what storage says was listed
    (``resume``) before its first fetch, so a restart does not forget what to see leave."""

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems between options that ``options`` alone cannot express, as
        ``(key, problem)``; ``monitor check`` reports them as ``sources[i].<key>``."""
        return []

    @classmethod
    def minimum_every(cls, settings: Mapping[str, Any]) -> timedelta:
        """The shortest polling interval this platform tolerates with these settings
        (``monitor check`` refuses a shorter ``every``); 0 when the kind sets none."""
        return timedelta(0)

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        self.name = name
        self.settings = dict(settings)
        self.context = context

    @abstractmethod
    def fetch(self) -> list[Post]:
        """One poll: the posts currently listed."""

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        """Current state of earlier posts. A post the platform definitely no longer has is
        absent from the result (its tracking ends); anything less certain must raise."""
        return []

    def refresh_each(self, refs: Sequence[str], pattern: re.Pattern[str], read_one: Callable[[str], Post | None]) -> list[Post]:
        """Re-read posts one request at a time, for platforms with no batch read.

        ``read_one`` returns the post, or None when the platform answered that it is gone
        (or raises ``Gone``): those refs are simply absent from the result, which ends
        their tracking. Any other failure (throttling, a login wall, a network error)
        ends the round with that error, so nothing is wrongly taken for deleted."""
        posts = []
        for ref in self.usable_refs(refs, pattern):
            try:
                post = read_one(ref)
            except Gone:
                continue
            if post is not None:
                posts.append(post)
        return posts

    def usable_refs(self, refs: Sequence[str], pattern: re.Pattern[str]) -> list[str]:
        """The refs worth sending: well-formed for this platform (a malformed one can make
        a server refuse a whole batch, or name a path we never meant), each once, at most
        ``refresh_batch`` of them."""
        usable = [ref for ref in dict.fromkeys(refs) if isinstance(ref, str) and pattern.fullmatch(ref)]
        return usable[: self.refresh_batch]

    def resume(self, listed: Sequence[Post]) -> None:  # noqa: B027 - a hook: only whole-list sources use it
        """For a ``whole_list`` source: the posts on its list at the last poll stored, as
        the application kept them, given before this object's first fetch (and again after
        another replica polled it)."""

    def commit(self) -> None:  # noqa: B027 - a hook: most sources have nothing to confirm
        """Called once the posts of the last ``fetch`` are safely stored: only now may a
        source remember them as seen (e.g. a feed's ETag), so a failed store is retried."""

    def close(self) -> None:  # noqa: B027 - a hook: most sources hold nothing open
        """Release what the source holds open between polls (a stream's connection and its
        reader thread). The application calls it when a reload replaces the source, when
        another replica takes the source over, and at exit. A later ``fetch`` may open
        it again."""

    def describe(self) -> str:
        return f"{self.kind} source {self.name!r}"
