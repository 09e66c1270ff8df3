"""The one record every source yields.

Sources turn platform payloads into ``Post`` inside ``sources/`` so that no untyped
platform dict ever reaches matching, storage or scoring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sources.text import storable

MAX_TEXT = 20_000
"""Characters of text kept per post: a complaint is never longer, and a 5 MB "post"
must not cost seconds of segmentation under the write lock."""
MAX_ID = 1000
MAX_COUNT = 2**53
MAX_RANK = 10_000
"""No hot list is longer: a rank beyond it is not a rank."""
AUTHOR_KINDS = ("government", "media", "organization", "enterprise", "verified")
"""What a platform says an author is (Weibo's verified types): ``verified`` is a verified
person; an ordinary account has no kind."""


@dataclass(frozen=True, slots=True)
class Engagement:
    """Counters as the platform reports them; ``None`` means "the platform does not say".

    ``rank`` (1 at the top) and ``heat`` (热度) are a hot list's reading of a topic
    (``sources/hotlist.py``); other platforms leave them ``None``. ``off_list`` is the
    reading of a topic that has left its list (no rank, no heat)."""

    reposts: int | None = None
    comments: int | None = None
    likes: int | None = None
    views: int | None = None
    rank: int | None = None
    heat: int | None = None
    off_list: bool = False
    """A hot-list topic seen last poll and gone from the list now: a reading without a rank."""

    def __post_init__(self) -> None:
        # platform JSON is hostile: a negative, fractional or absurd counter is "unknown"
        for name in ("reposts", "comments", "likes", "views", "heat"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT):
                object.__setattr__(self, name, None)
        if self.off_list is not True:
            object.__setattr__(self, "off_list", False)
        if self.off_list:
            object.__setattr__(self, "rank", None)
            object.__setattr__(self, "heat", None)
        rank = self.rank
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_RANK):
            object.__setattr__(self, "rank", None)

    @property
    def total(self) -> int:
        """Reposts + comments + likes: the figure velocity is measured on (views are too noisy)."""
        return (self.reposts or 0) + (self.comments or 0) + (self.likes or 0)

    @property
    def known(self) -> bool:
        return self.off_list or any(v is not None for v in (self.reposts, self.comments, self.likes, self.views, self.rank, self.heat))


@dataclass(frozen=True, slots=True)
class Post:
    """A public post as one platform shows it.

    ``platform`` and ``id`` together are the global identity: the same remote Mastodon
    status fetched from two instances has one ``id`` (its ActivityPub URI).
    ``ref`` is what the source that fetched it needs to read it again (a
    Mastodon status id local to the instance); empty when the source cannot re-read.
    ``text`` is plain text (sources strip HTML).
    ``created_at`` is timezone-aware UTC, or ``None`` when the platform gives no time.
    ``repost_of`` is the ``id`` (same platform) of the post this one reposts or quotes,
    empty when it is a post of its own: a repost is the original's spread, not a new voice.
    ``author_followers`` and ``author_kind`` (one of ``AUTHOR_KINDS``) are the author's
    reach where the platform tells it; ``None`` and empty when it does not.
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
    repost_of: str = ""
    author_followers: int | None = None
    author_kind: str = ""

    def __post_init__(self) -> None:
        for name in ("platform", "id", "url", "text", "author", "title", "ref", "repost_of"):  # hostile: NUL, lone surrogates
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, storable(value))
        if not self.platform or not self.id:
            raise ValueError("a Post needs a platform and an id")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise ValueError("Post.created_at must be timezone-aware")
        if len(self.id) > MAX_ID:  # still unique, still stable, fits the column
            object.__setattr__(self, "id", "sha256:" + hashlib.sha256(self.id.encode("utf-8", "replace")).hexdigest())
        if len(self.text) > MAX_TEXT:
            object.__setattr__(self, "text", self.text[:MAX_TEXT])
        if len(self.title) > 1000:
            object.__setattr__(self, "title", self.title[:1000])
        if len(self.author) > 300:
            object.__setattr__(self, "author", self.author[:300])
        if len(self.repost_of) > MAX_ID:  # hashed exactly as the original's own id was
            object.__setattr__(self, "repost_of", "sha256:" + hashlib.sha256(self.repost_of.encode("utf-8", "replace")).hexdigest())
        if self.repost_of == self.id:
            object.__setattr__(self, "repost_of", "")
        followers = self.author_followers
        if followers is not None and (isinstance(followers, bool) or not isinstance(followers, int) or not 0 <= followers <= MAX_COUNT):
            object.__setattr__(self, "author_followers", None)
        if self.author_kind not in AUTHOR_KINDS:
            object.__setattr__(self, "author_kind", "")
        if len(self.ref) > 200:
            object.__setattr__(self, "ref", "")  # cannot be re-read by it: better not at all than wrongly


def unique_posts(posts: Iterable[Post | None]) -> list[Post]:
    """The usable posts of one answer, each once (a listing can repeat a post, e.g. when
    it moves between pages while we read): the first occurrence wins."""
    found: dict[str, Post] = {}
    for post in posts:
        if post is not None:
            found.setdefault(post.id, post)
    return list(found.values())
