"""The one record every source yields.

Sources turn platform payloads into ``Post`` inside ``sources/`` so that no untyped
platform dict ever reaches matching, storage or scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Engagement:
    """Counters as the platform reports them; ``None`` means "the platform does not say"."""

    reposts: int | None = None
    comments: int | None = None
    likes: int | None = None
    views: int | None = None

    @property
    def total(self) -> int:
        """Reposts + comments + likes: the figure velocity is measured on (views are too noisy)."""
        return (self.reposts or 0) + (self.comments or 0) + (self.likes or 0)

    @property
    def known(self) -> bool:
        return any(v is not None for v in (self.reposts, self.comments, self.likes, self.views))


@dataclass(frozen=True, slots=True)
class Post:
    """A public post as one platform shows it.

    ``platform`` and ``id`` together are the global identity: the same remote Mastodon
    status fetched from two instances has one ``id`` (its ActivityPub URI).
    ``ref`` is what the source that fetched it needs to read it again (a
    Mastodon status id local to the instance); empty when the source cannot re-read.
    ``text`` is plain text (sources strip HTML).
    ``created_at`` is timezone-aware UTC, or ``None`` when the platform gives no time.
    """

    platform: str
    id: str
    url: str
    text: str
    author: str = ""
    title: str = ""
    created_at: datetime | None = None
    engagement: Engagement = field(default_factory=Engagement)
    ref: str = ""

    def __post_init__(self) -> None:
        if not self.platform or not self.id:
            raise ValueError("a Post needs a platform and an id")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise ValueError("Post.created_at must be timezone-aware")
