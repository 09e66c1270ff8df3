"""Hacker News through the Algolia search API (hn.algolia.com), no account needed.

Stories, polls and comments are keyed by ``objectID`` (the HN item id). Stories and
polls keep it as ``Post.ref`` and are re-read in one request per batch: every story
carries the tag ``story_<its id>``, so ``tags=(story,poll),(story_1,story_2,...)``
returns exactly those stories. A comment carries ``story_<its story's id>`` instead, so
there is no batched way to re-read it (and Algolia gives comments no counters to
track): comments get an empty ``ref``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from sources.base import Source
from sources.errors import ParseError
from sources.fields import as_count, as_str, dig
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.text import html_to_text
from sources.timeparse import parse_epoch, parse_iso

ITEM_URL = "https://news.ycombinator.com/item?id="
MAX_HITS = 1000  # Algolia's cap on hitsPerPage
REFRESH_TYPES = "(story,poll)"
_ITEM_ID = re.compile(r"[0-9]{1,20}")


class HackerNewsSource(Source):
    kind: ClassVar[str] = "hackernews"
    refresh_batch: ClassVar[int] = 50
    options = {
        "query": Option("str", "search terms; results newest first", required=True),
        "tags": Option("str", "Algolia tag filter: comma is AND, parentheses OR", default="(story,comment)"),
        "base_url": Option("url", "API root (a mirror or a test server)", default="https://hn.algolia.com"),
        "limit": Option("int", "hits per poll (hitsPerPage; Algolia allows at most 1000)", default=50, minimum=1),
    }

    @property
    def api(self) -> str:
        return (self.settings.get("base_url") or "https://hn.algolia.com").rstrip("/")

    def fetch(self) -> list[Post]:
        limit = self.settings.get("limit")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else 50
        params = {
            "query": as_str(self.settings.get("query")),
            "tags": as_str(self.settings.get("tags")) or "(story,comment)",
            "hitsPerPage": max(1, min(limit, MAX_HITS)),
        }
        url = f"{self.api}/api/v1/search_by_date"
        return hits_to_posts(self.context.http.get_json(url, params=params), url)

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        wanted = self.usable_refs(refs, _ITEM_ID)
        if not wanted:
            return []
        url = f"{self.api}/api/v1/search"
        ids = ",".join(f"story_{ref}" for ref in wanted)
        payload = self.context.http.get_json(url, params={"tags": f"{REFRESH_TYPES},({ids})", "hitsPerPage": len(wanted)})
        keep = set(wanted)
        return [post for post in hits_to_posts(payload, url) if post.id in keep]


def hits_to_posts(payload: Any, where: str) -> list[Post]:
    """The hits of an Algolia search answer; ``ParseError`` when it is not one."""
    hits = dig(payload, "hits")
    if not isinstance(hits, list):
        raise ParseError(f"{where}: response is not an Algolia search result")
    return unique_posts(hit_to_post(hit) for hit in hits)


def hit_to_post(hit: Any) -> Post | None:
    """One Algolia hit (story, poll or comment) as a Post; None when it has no item id."""
    if not isinstance(hit, dict):
        return None
    object_id = as_str(hit.get("objectID"))
    if not _ITEM_ID.fullmatch(object_id):
        return None
    own_title = as_str(hit.get("title")).strip()
    body = html_to_text(as_str(hit.get("story_text")) or as_str(hit.get("comment_text")))
    created = parse_epoch(hit.get("created_at_i")) or parse_iso(hit.get("created_at"))
    return Post(
        platform="hackernews",
        id=object_id,
        url=ITEM_URL + object_id,
        # a comment's text is the comment alone: its thread's title would make every
        # reply under a story that names the brand look like a mention of it
        text="\n".join(part for part in (own_title, body) if part),
        author=as_str(hit.get("author")),
        title=own_title or as_str(hit.get("story_title")).strip(),
        created_at=created,
        engagement=Engagement(comments=as_count(hit.get("num_comments")), likes=as_count(hit.get("points"))),
        ref=object_id if _refreshable(hit) else "",
    )


def _refreshable(hit: dict[str, Any]) -> bool:
    """A story or poll (found again by its ``story_<id>`` tag), not a comment."""
    tags = hit.get("_tags")
    if isinstance(tags, list):
        return "story" in tags or "poll" in tags
    return not as_str(hit.get("comment_text")) and hit.get("parent_id") is None
