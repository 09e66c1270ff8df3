"""The source interface: one class per platform, found through entry points."""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from .http import PoliteHttp
from .options import Option
from .post import Post


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

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems between options that ``options`` alone cannot express, as
        ``(key, problem)``; ``monitor check`` reports them as ``sources[i].<key>``."""
        return []

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        self.name = name
        self.settings = dict(settings)
        self.context = context

    @abstractmethod
    def fetch(self) -> list[Post]:
        """One poll: the posts currently listed."""

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        """Current state of earlier posts; posts that are gone are simply absent."""
        return []

    def usable_refs(self, refs: Sequence[str], pattern: re.Pattern[str]) -> list[str]:
        """The refs worth sending: well-formed for this platform (a malformed one can make
        a server refuse a whole batch, or name a path we never meant), each once, at most
        ``refresh_batch`` of them."""
        usable = [ref for ref in dict.fromkeys(refs) if isinstance(ref, str) and pattern.fullmatch(ref)]
        return usable[: self.refresh_batch]

    def commit(self) -> None:
        """Called once the posts of the last ``fetch`` are safely stored: only now may a
        source remember them as seen (e.g. a feed's ETag), so a failed store is retried."""

    def describe(self) -> str:
        return f"{self.kind} source {self.name!r}"
