"""RSS / Atom / RDF feeds, including RSSHub routes for Weibo, Bilibili, Zhihu and others.

Bytes come from the shared polite client; feedparser only ever sees bytes (never a URL,
so it cannot fetch anything itself), and external entities stay disabled in its parser.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import feedparser

from . import rssfast
from .base import Source
from .errors import ParseError
from .http import Fetched
from .options import Option
from .fields import as_count, dig, is_web_url
from .post import Engagement, Post
from .text import html_to_text
from .timeparse import from_feed_struct


class RssSource(Source):
    kind: ClassVar[str] = "rss"
    options = {
        "url": Option("url", "the feed's address (RSS 2.0, RSS 1.0/RDF, Atom; e.g. an RSSHub route)", required=True),
    }

    _pending: Fetched | None = None

    def fetch(self) -> list[Post]:
        url = self.settings["url"]
        fetched = self.context.http.get(url, conditional=True)
        if fetched.unchanged:
            return []
        headers = {k.lower(): v for k, v in fetched.headers.items()}
        # Without a Content-Type feedparser would apply HTTP's text default (ISO-8859-1) and
        # garble undeclared GB2312; as XML it reads the declaration or detects the charset.
        response_headers = {"content-location": fetched.url, "content-type": headers.get("content-type") or "application/xml"}
        entries = rssfast.parse(fetched.content, response_headers["content-type"], fetched.url) if self.fast else None
        if entries is None:  # not the simple case, or the fast path was unsure: feedparser decides
            entries = self._feedparser(url, fetched.content, response_headers)
        self._pending = fetched
        return [post for post in (self._post(url, entry) for entry in entries) if post is not None]

    fast: ClassVar[bool] = True
    """Try ``sources.rssfast`` first (a plain, well-formed RSS 2.0 feed); off in tests that
    compare it with feedparser."""

    @staticmethod
    def _feedparser(url: str, content: bytes, response_headers: dict[str, str]) -> list[Any]:
        try:
            parsed = feedparser.parse(content, response_headers=response_headers)
        except Exception as exc:  # feedparser is lenient, but a crash must stay inside sources/
            raise ParseError(f"{url}: feed could not be parsed ({exc.__class__.__name__}: {exc})") from None
        entries = parsed.get("entries") or []
        if not entries and parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            if not (parsed.get("version") and isinstance(reason, _BENIGN)):  # an empty feed is still a feed
                raise ParseError(f"{url}: not a readable feed ({reason.__class__.__name__}: {reason})")
        return list(entries)

    def commit(self) -> None:
        if self._pending is not None:
            self.context.http.confirm(self._pending)
            self._pending = None

    def _post(self, feed_url: str, entry: Any) -> Post | None:
        title = html_to_text(entry.get("title") or "")
        body = _longest_body(entry)
        text = body if _title_repeats_body(title, body) else "\n".join(p for p in (title, body) if p)
        link = entry.get("link") or ""
        if entry.get("guidislink") and not is_web_url(entry.get("id") or ""):
            link = ""  # feedparser made this link up from a bare guid like "12345"
        ident = entry.get("id") or link
        if not ident:
            if not text:
                return None
            ident = "sha1:" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
        if "://" not in ident:
            ident = f"{feed_url}#{ident}"  # a bare guid like "1" is only unique within its feed
        local = self.context.timezone
        # dict.get: feedparser's own .get("updated") falls back to "published" with a warning
        created = from_feed_struct(dict.get(entry, "published"), dict.get(entry, "published_parsed"), local) or from_feed_struct(
            dict.get(entry, "updated"), dict.get(entry, "updated_parsed"), local
        )
        return Post(
            platform="rss",
            id=ident,
            engagement=_engagement(entry),
            url=next((u for u in (link, ident) if is_web_url(u)), feed_url),
            text=text,
            title=title,
            author=html_to_text(entry.get("author") or ""),
            created_at=created,
        )


_BENIGN = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
_SQUASH = re.compile(r"\s+|\[图片\]|\.\.\.$|…$")


def _title_repeats_body(title: str, body: str) -> bool:
    """RSSHub (Weibo and others) titles are the post's first ~80 characters plus "...":
    keep the text once instead of title + body."""
    if not title or not body:
        return not title
    head = _SQUASH.sub("", title)[:30]
    return bool(head) and _SQUASH.sub("", body).startswith(head)


def _engagement(entry: Any) -> Engagement:
    """Counters where a feed carries them: ``slash:comments`` (WordPress and many CMSs),
    ``thr:total`` (Atom threading), and Media RSS ``media:statistics views`` /
    ``media:starRating count`` (YouTube, some RSSHub video routes)."""
    comments = as_count(dict.get(entry, "slash_comments"))
    if comments is None:
        comments = as_count(dict.get(entry, "thr_total"))
    views = as_count(dig(dict.get(entry, "media_statistics"), "views"))
    likes = as_count(dig(dict.get(entry, "media_starrating"), "count"))
    return Engagement(comments=comments, likes=likes, views=views)


def _longest_body(entry: Any) -> str:
    candidates = [c.get("value", "") for c in entry.get("content") or [] if isinstance(c, dict)]
    candidates.append(entry.get("summary") or "")
    best = max(candidates, key=len)
    return html_to_text(best)
