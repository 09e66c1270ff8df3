"""Mastodon: the public hashtag timeline of one instance, no account needed.

Statuses are keyed by ``uri`` (the ActivityPub id, the same on every instance); the
instance-local ``id`` is kept as ``Post.ref`` so the status can be re-read later and its
reblogs/favourites/replies growth seen after it has scrolled out of the timeline.

A boost (``reblog``) gives the original, and the boost itself as a post with
``repost_of`` naming the original: the boost is the original's spread. The author's reach
is ``account.followers_count``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from sources.base import Source
from sources.errors import ParseError
from sources.fields import as_count, as_str
from sources.http import PoliteHttp
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.text import html_to_text
from sources.timeparse import parse_iso


class MastodonSource(Source):
    kind: ClassVar[str] = "mastodon"
    refresh_batch: ClassVar[int] = 20
    options = {
        "instance": Option("url", "the Mastodon server whose public tag timeline is read", default="https://mastodon.social"),
        "tag": Option("str", "the hashtag, without #", required=True),
        "base_url": Option("url", "API root if not the instance itself (a mirror or a test server)"),
        "limit": Option("int", "statuses per poll (the API allows at most 40)", default=40, minimum=1),
    }

    @property
    def api(self) -> str:
        return self.settings.get("base_url") or self.settings["instance"]

    def fetch(self) -> list[Post]:
        tag = quote(self.settings["tag"].lstrip("#"), safe="")
        posts, _ids = read_timeline(self.context.http, f"{self.api}/api/v1/timelines/tag/{tag}", {"limit": min(int(self.settings["limit"]), 40)})
        return posts

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        return self.refresh_each(refs, STATUS_ID, lambda ref: read_status(self.context.http, self.api, ref))


def read_timeline(http: PoliteHttp, url: str, params: Mapping[str, Any]) -> tuple[list[Post], list[str]]:
    """One page of a timeline (tag, public, local): its posts, and the instance-local ids
    of its entries as listed (a boost's own id, not the original's), for paging."""
    payload = http.get_json(url, params=params)
    if not isinstance(payload, list):
        raise ParseError(f"{url}: the timeline is not a list of statuses")
    ids = [sid for status in payload if isinstance(status, dict) and STATUS_ID.fullmatch(sid := as_str(status.get("id")))]
    return unique_posts(post for status in payload for post in status_to_posts(status)), ids


def read_status(http: PoliteHttp, api: str, ref: str) -> Post | None:
    """A status re-read by its instance-local id (``Post.ref``); ``Gone`` when deleted."""
    return status_to_post(http.get_json(f"{api}/api/v1/statuses/{quote(ref, safe='')}"))


STATUS_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
"""An instance-local status id as we send it back in a path (Mastodon's are digits)."""


def status_to_posts(status: Any) -> list[Post]:
    """The posts of one timeline entry: the status, or for a boost the original and the
    boost (``repost_of`` the original)."""
    original = status_to_post(status)
    if original is None or not isinstance(status, dict) or not isinstance(status.get("reblog"), dict):
        return [original] if original is not None else []
    uri = status.get("uri") or status.get("url")
    if not isinstance(uri, str) or not uri or uri == original.id:
        return [original]
    account = status.get("account")
    if not isinstance(account, dict):
        account = {}
    boost = Post(
        platform="mastodon",
        id=uri,
        url=as_str(status.get("url")) or uri,
        text=original.text,
        author=as_str(account.get("acct")) or as_str(account.get("username")),
        created_at=parse_iso(status.get("created_at")) or original.created_at,
        repost_of=original.id,
        author_followers=as_count(account.get("followers_count")),
    )
    return [original, boost]


def status_to_post(status: Any) -> Post | None:
    """A Mastodon status JSON object as a Post; None when it lacks what a Post needs."""
    if not isinstance(status, dict):
        return None
    if isinstance(status.get("reblog"), dict):
        status = status["reblog"]  # a boost: the post that matters is the original
    uri = status.get("uri") or status.get("url")
    if not isinstance(uri, str) or not uri:
        return None
    account = status.get("account") if isinstance(status.get("account"), dict) else {}
    spoiler = html_to_text(as_str(status.get("spoiler_text")))
    content = html_to_text(as_str(status.get("content")))
    return Post(
        platform="mastodon",
        id=uri,
        url=as_str(status.get("url")) or uri,
        text=f"{spoiler}\n{content}" if spoiler else content,
        author=as_str(account.get("acct")) or as_str(account.get("username")),
        created_at=parse_iso(status.get("created_at")),
        engagement=Engagement(
            reposts=as_count(status.get("reblogs_count")),
            comments=as_count(status.get("replies_count")),
            likes=as_count(status.get("favourites_count")),
        ),
        ref=as_str(status.get("id")),
        author_followers=as_count(account.get("followers_count")),
    )
