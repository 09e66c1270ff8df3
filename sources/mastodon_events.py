"""What one event of Mastodon's streaming API means for us, and where each stream lives.

``update`` (a new status) and ``status.update`` (an edit) carry a status as JSON, read
by the same ``status_to_posts`` the polled kind uses, so a streamed post and a polled
one are the same ``Post`` (keyed by ``uri``; an edit is the same post with new text).
``delete`` carries the instance-local id of a deleted status: the ``Post.ref`` whose
tracking ends. Every other event (notifications, filters, announcements) is not ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from sources.fields import as_str
from sources.mastodon import STATUS_ID, status_to_posts
from sources.post import Post
from sources.sse import SseEvent

POSTING_EVENTS = frozenset({"update", "status.update"})


@dataclass(frozen=True, slots=True)
class StreamChange:
    posts: tuple[Post, ...] = ()
    deleted: str = ""
    """The instance-local id (``Post.ref``) of a status deleted at its origin."""
    timeline_id: str = ""
    """The instance-local id of the timeline entry (a boost's own), for catching up later."""


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream a source may follow: its streaming path and the timeline that lists the
    same statuses, read while the stream is down."""

    streaming: str
    timeline: str
    params: tuple[tuple[str, str], ...] = ()


STREAMS = ("public", "public:local", "hashtag")


def stream_for(name: str, tag: str = "") -> Stream:
    """The paths of stream ``name`` (one of ``STREAMS``); ``hashtag`` needs ``tag``."""
    if name == "public":
        return Stream("/api/v1/streaming/public", "/api/v1/timelines/public")
    if name == "public:local":
        return Stream("/api/v1/streaming/public/local", "/api/v1/timelines/public", (("local", "true"),))
    if name == "hashtag" and tag.lstrip("#"):
        bare = tag.lstrip("#")
        return Stream(f"/api/v1/streaming/hashtag?tag={quote(bare, safe='')}", f"/api/v1/timelines/tag/{quote(bare, safe='')}")
    raise ValueError(f"no stream {name!r}{' without a tag' if name == 'hashtag' else ''}")


def read_event(event: SseEvent) -> StreamChange | None:
    """The change one event brings; None for events that are not about statuses, or whose
    data is not what Mastodon sends (one bad event is skipped, never the stream)."""
    if event.event == "delete":
        sid = event.data.strip()
        return StreamChange(deleted=sid) if STATUS_ID.fullmatch(sid) else None
    if event.event not in POSTING_EVENTS:
        return None
    try:
        status = json.loads(event.data)
    except (ValueError, RecursionError):  # '[' * 100000 fits the event cap
        return None
    posts = status_to_posts(status)
    if not posts:
        return None
    sid = as_str(status.get("id")) if isinstance(status, dict) else ""
    return StreamChange(posts=tuple(posts), timeline_id=sid if STATUS_ID.fullmatch(sid) else "")


def newer(a: str, b: str) -> bool:
    """Is timeline id ``a`` newer than ``b``? Mastodon's ids are decimal snowflakes and
    Pleroma's fixed-width sortable strings: a longer id is newer, then by characters."""
    return (len(a), a) > (len(b), b)
