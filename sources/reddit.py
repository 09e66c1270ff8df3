"""Reddit: the public JSON listings (``search.json``, ``new.json``), no account needed.

A submission is keyed by its fullname (``t3_<base36>``), which is also its ``Post.ref``:
``/api/info.json?id=t3_a,t3_b,...`` re-reads up to 100 of them in one request, so score
and comment growth is seen after a post has dropped out of the listing.

``selftext`` is Markdown, kept as it is (``raw_json=1`` stops Reddit escaping ``&<>``).
Times come from ``created_utc``; the legacy ``created`` field is off by the server's
zone in old data and is never read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sources.base import Source
from sources.errors import ParseError, ResponseError
from sources.fields import as_count, as_str, dig
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.timeparse import parse_epoch

WEB = "https://www.reddit.com"
MAX_LIMIT = 100
_FULLNAME = re.compile(r"^t3_[0-9a-z]{1,13}$")
_ID36 = re.compile(r"^[0-9a-z]{1,13}$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{1,50}(?:\+[A-Za-z0-9_]{1,50}){0,50}$")


class RedditSource(Source):
    """Newest submissions matching ``query`` (site-wide, or within ``subreddit``), or the
    newest submissions of ``subreddit`` when there is no query. One of the two is needed:
    ``fetch`` fails with a ``ResponseError`` when neither is set."""

    kind: ClassVar[str] = "reddit"
    refresh_batch: ClassVar[int] = 100
    options = {
        "query": Option("str", "search terms (Reddit search syntax); results newest first"),
        "subreddit": Option("str", "a subreddit name without r/: search only there, or with no query list its newest posts"),
        "base_url": Option("url", "API root (a mirror or a test server)", default=WEB),
        "limit": Option("int", "posts per poll (Reddit allows at most 100)", default=50, minimum=1),
    }

    @property
    def api(self) -> str:
        return (self.settings.get("base_url") or WEB).rstrip("/")

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        subreddit = _subreddit_path(settings.get("subreddit"))
        if not as_str(settings.get("query")).strip() and not subreddit:
            return [("query", "a reddit source needs query, subreddit, or both")]
        if subreddit and not _SUBREDDIT.fullmatch(subreddit):
            return [("subreddit", f"{subreddit!r} is not a subreddit name")]
        return []

    def fetch(self) -> list[Post]:
        query = as_str(self.settings.get("query")).strip()
        subreddit = _subreddit_path(self.settings.get("subreddit"))
        if not query and not subreddit:
            raise ResponseError(f"reddit source {self.name!r} needs query or subreddit")
        if subreddit and not _SUBREDDIT.fullmatch(subreddit):
            raise ResponseError(f"reddit source {self.name!r}: {subreddit!r} is not a subreddit name")
        limit = max(1, min(_int(self.settings.get("limit"), 50), MAX_LIMIT))
        if query and subreddit:
            url = f"{self.api}/r/{subreddit}/search.json"
            params: dict[str, Any] = {"q": query, "restrict_sr": 1, "sort": "new", "limit": limit, "raw_json": 1}
        elif query:
            url = f"{self.api}/search.json"
            params = {"q": query, "sort": "new", "limit": limit, "raw_json": 1}
        else:
            url = f"{self.api}/r/{subreddit}/new.json"
            params = {"limit": limit, "raw_json": 1}
        return listing_to_posts(self.context.http.get_json(url, params=params), url)

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        wanted = self.usable_refs(refs, _FULLNAME)
        if not wanted:
            return []
        url = f"{self.api}/api/info.json"
        payload = self.context.http.get_json(url, params={"id": ",".join(wanted), "limit": len(wanted), "raw_json": 1})
        keep = set(wanted)
        return [post for post in listing_to_posts(payload, url) if post.ref in keep]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _subreddit_path(value: Any) -> str:
    """``r/Foo``, ``/r/Foo/`` and ``Foo`` all name /r/Foo; ``a+b`` (several at once) is kept."""
    name = as_str(value).strip().lstrip("/")
    if name[:2].lower() == "r/":
        name = name[2:]
    return name.strip("/")


def listing_to_posts(payload: Any, where: str) -> list[Post]:
    """The submissions of a Listing (or of an array of Listings, which ``search.json``
    sometimes answers with: subreddits first, then posts). Raise ``ParseError`` when
    the body is not that shape; skip single children that are not usable submissions."""
    listings = payload if isinstance(payload, list) and payload else [payload]
    children: list[Any] = []
    for listing in listings:
        found = dig(listing, "data", "children")
        if dig(listing, "kind") != "Listing" or not isinstance(found, list):
            raise ParseError(f"{where}: response is not a Reddit Listing")
        children.extend(found)
    # t5 subreddits in search, t1 comments: not posts
    return unique_posts(submission_to_post(dig(child, "data")) for child in children if dig(child, "kind") == "t3")


def submission_to_post(data: Any) -> Post | None:
    """A ``t3`` child's ``data`` as a Post; None when it lacks an id."""
    if not isinstance(data, dict):
        return None
    fullname = as_str(data.get("name"))
    if not _FULLNAME.fullmatch(fullname):
        id36 = as_str(data.get("id"))
        if not _ID36.fullmatch(id36):
            return None
        fullname = f"t3_{id36}"
    permalink = as_str(data.get("permalink"))
    url = WEB + permalink if permalink.startswith("/") and not permalink.startswith("//") else f"{WEB}/comments/{fullname[3:]}/"
    title = as_str(data.get("title")).strip()
    selftext = as_str(data.get("selftext")).strip()
    score = as_count(data.get("score"))
    return Post(
        platform="reddit",
        id=fullname,
        url=url,
        text="\n".join(part for part in (title, selftext) if part),
        author=as_str(data.get("author")),
        title=title,
        created_at=parse_epoch(data.get("created_utc")),
        engagement=Engagement(
            comments=as_count(data.get("num_comments")),
            likes=max(score, 0) if score is not None else None,  # a downvoted post is at 0, not unknown
        ),
        ref=fullname,
    )
