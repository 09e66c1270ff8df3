"""RSS / Atom / RDF feeds, including RSSHub routes for Weibo, Bilibili, Zhihu and others.

Bytes come from the shared polite client; feedparser only ever sees bytes (never a URL,
so it cannot fetch anything itself), and external entities stay disabled in its parser.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import feedparser

from .base import Source
from .errors import ParseError
from .options import Option
from .post import Post
from .text import html_to_text
from .timeparse import from_feed_struct


class RssSource(Source):
    kind: ClassVar[str] = "rss"
    options = {
        "url": Option("url", "the feed's address (RSS 2.0, RSS 1.0/RDF, Atom; e.g. an RSSHub route)", required=True),
    }

    def fetch(self) -> list[Post]:
        url = self.settings["url"]
        fetched = self.context.http.get(url, conditional=True)
        if fetched.unchanged:
            return []
        headers = {k.lower(): v for k, v in fetched.headers.items()}
        response_headers = {"content-location": fetched.url}
        if "content-type" in headers:
            response_headers["content-type"] = headers["content-type"]
        try:
            parsed = feedparser.parse(fetched.content, response_headers=response_headers)
        except Exception as exc:  # feedparser is lenient, but a crash must stay inside sources/
            raise ParseError(f"{url}: feed could not be parsed ({exc.__class__.__name__}: {exc})") from None
        entries = parsed.get("entries") or []
        if not entries and parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            raise ParseError(f"{url}: not a readable feed ({reason.__class__.__name__}: {reason})")
        posts = [post for post in (self._post(url, entry) for entry in entries) if post is not None]
        self.context.http.confirm(fetched)
        return posts

    def _post(self, feed_url: str, entry: Any) -> Post | None:
        title = html_to_text(entry.get("title") or "")
        body = _longest_body(entry)
        # RSSHub Weibo items repeat the post as the title: keep the text once
        text = f"{title}\n{body}" if title and body and not body.startswith(title) else (body or title)
        link = entry.get("link") or ""
        ident = entry.get("id") or link
        if not ident:
            if not text:
                return None
            ident = "sha1:" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
        if "://" not in ident:
            ident = f"{feed_url}#{ident}"  # a bare guid like "1" is only unique within its feed
        local = self.context.timezone
        created = from_feed_struct(entry.get("published"), entry.get("published_parsed"), local) or from_feed_struct(
            entry.get("updated"), entry.get("updated_parsed"), local
        )
        return Post(
            platform="rss",
            id=ident,
            url=link or (ident if ident.startswith("http") else feed_url),
            text=text,
            title=title,
            author=html_to_text(entry.get("author") or ""),
            created_at=created,
        )


def _longest_body(entry: Any) -> str:
    candidates = [c.get("value", "") for c in entry.get("content") or [] if isinstance(c, dict)]
    candidates.append(entry.get("summary") or "")
    best = max(candidates, key=len)
    return html_to_text(best)
