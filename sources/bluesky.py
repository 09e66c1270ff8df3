"""Bluesky: full-text post search on the public AppView, no account needed.

Posts are keyed by their ``at://`` URI, which is also ``Post.ref``: ``getPosts`` re-reads
up to 25 of them in one request, so engagement growth is seen after a post has dropped
out of the search results.

A quote post (an ``app.bsky.embed.record`` embed, alone or with media) names the quoted
post in ``repost_of``: it counts toward that post's spread. Search results carry no
follower counts, so Bluesky posts have no author reach.

Bluesky's operators have at times closed unauthenticated ``searchPosts`` on
``public.api.bsky.app`` (HTTP 403, a ``ResponseError``); ``base_url`` can point at
another AppView that serves the same Lexicon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sources.base import Source
from sources.errors import ParseError, ResponseError
from sources.fields import as_count, as_str, dig
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.timeparse import parse_iso

MAX_LIMIT = 100
SORTS = ("latest", "top")

# at://<did or handle>/app.bsky.feed.post/<rkey>: a DID is did:<method>:<id>, a record key
# is at most 512 characters of [A-Za-z0-9._:~-]
_POST_URI = re.compile(r"^at://([A-Za-z0-9._:%-]{1,253})/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]{1,512})\Z")
_HANDLE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z")
_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}\Z")


class BlueskySource(Source):
    kind: ClassVar[str] = "bluesky"
    refresh_batch: ClassVar[int] = 25
    options = {
        "query": Option("str", "search terms, in Bluesky search syntax (e.g. '艾克美 OR acme', 'from:handle')", required=True),
        "base_url": Option("url", "AppView API root", default="https://public.api.bsky.app"),
        "limit": Option("int", "posts per poll (the API allows at most 100)", default=50, minimum=1),
        "sort": Option("str", "'latest' (newest first) or 'top' (Bluesky's ranking)", default="latest"),
    }

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        sort = settings.get("sort") or "latest"
        if sort not in SORTS:
            return [("sort", f"must be one of {', '.join(SORTS)}, not {sort!r}")]
        return []

    @property
    def api(self) -> str:
        return str(self.settings["base_url"]).rstrip("/")

    def fetch(self) -> list[Post]:
        for key, problem in self.check(self.settings):
            raise ResponseError(f"{self.describe()}: {key} {problem}")
        sort = self.settings.get("sort") or "latest"
        params = {"q": self.settings["query"], "limit": min(int(self.settings["limit"]), MAX_LIMIT), "sort": sort}
        url = f"{self.api}/xrpc/app.bsky.feed.searchPosts"
        return _posts_of(self.context.http.get_json(url, params=params), url)

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        """One ``getPosts`` request for up to ``refresh_batch`` URIs; deleted posts are
        simply absent from the answer. Refs that are not post URIs are never sent (one bad
        URI would make the server refuse the whole batch)."""
        uris = self.usable_refs(refs, _POST_URI)
        if not uris:
            return []
        url = f"{self.api}/xrpc/app.bsky.feed.getPosts"
        return _posts_of(self.context.http.get_json(url, params={"uris": uris}), url)


def _posts_of(payload: Any, url: str) -> list[Post]:
    views = dig(payload, "posts")
    if not isinstance(views, list):
        raise ParseError(f"{url}: answer has no list of posts")
    return unique_posts(post_view_to_post(view) for view in views)


def post_view_to_post(view: Any) -> Post | None:
    """An ``app.bsky.feed.defs#postView`` as a Post; None when it lacks what a Post needs."""
    uri = as_str(dig(view, "uri"))
    match = _POST_URI.match(uri)
    if not match:
        return None
    repo, rkey = match.groups()
    handle = as_str(dig(view, "author", "handle")).strip()
    did = as_str(dig(view, "author", "did")).strip()
    # "handle.invalid" is what the AppView shows when a handle no longer verifies
    if _HANDLE.match(handle) and handle != "handle.invalid":
        profile = handle
    elif _DID.match(did):
        profile = did
    else:
        profile = repo
    text = as_str(dig(view, "record", "text")).replace("\r\n", "\n").strip()
    reposts = as_count(dig(view, "repostCount"))
    quotes = as_count(dig(view, "quoteCount"))
    if reposts is not None and quotes is not None:
        reposts += quotes
    return Post(
        platform="bluesky",
        id=uri,
        url=f"https://bsky.app/profile/{profile}/post/{rkey}",
        text=text,
        author=handle or did or repo,
        created_at=_created_at(view),
        engagement=Engagement(reposts=reposts, comments=as_count(dig(view, "replyCount")), likes=as_count(dig(view, "likeCount"))),
        ref=uri,
        repost_of=_quoted(view),
    )


def _quoted(view: Any) -> str:
    """The URI of the post a quote post quotes (``record#view`` or ``recordWithMedia#view``
    embed, or the record's own embed), empty when it quotes none."""
    for record in (dig(view, "embed", "record"), dig(view, "embed", "record", "record"), dig(view, "record", "embed", "record"),
                   dig(view, "record", "embed", "record", "record")):
        uri = as_str(dig(record, "uri"))
        if _POST_URI.match(uri):
            return uri
    return ""


def _created_at(view: Any) -> datetime | None:
    """``record.createdAt`` (set by the client), else ``indexedAt`` (set by the server).

    A client clock that runs fast writes a ``createdAt`` later than the moment the server
    indexed the post; like Bluesky's own ``sortAt``, the earlier of the two is taken then,
    so a post never looks as if it was written in the future."""
    created = parse_iso(dig(view, "record", "createdAt"))
    indexed = parse_iso(dig(view, "indexedAt"))
    if created is None:
        return indexed
    if indexed is not None and indexed < created:
        return indexed
    return created

