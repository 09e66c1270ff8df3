"""The source interface: one class per platform, found through entry points."""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sources.errors import Gone
from sources.http import PoliteHttp
from sources.options import Option
from sources.post import Post


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the application hands every source: shared polite HTTP and the local zone."""

    http: PoliteHttp
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("sources"))


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

    def describe(self) -> str:
        return f"{self.kind} source {self.name!r}"
