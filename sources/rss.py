"""RSS / Atom / RDF feeds, including RSSHub routes for Weibo, Bilibili, Zhihu and others.

Bytes come from the shared polite client; feedparser only ever sees bytes (never a URL,
so it cannot fetch anything itself), and external entities stay disabled in its parser.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import feedparser

from sources import rssfast
from sources.base import Source
from sources.errors import ParseError
from sources.fields import as_count, dig, is_web_url
from sources.http import Fetched
from sources.options import Option
from sources.post import Engagement, Post
from sources.text import html_to_text
from sources.timeparse import from_feed_struct


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
        posts = self.parse(fetched.content, headers.get("content-type"), fetched.url)
        self._pending = fetched
        return posts

    def parse(self, content: bytes, content_type: str | None, url: str) -> list[Post]:
        """The posts of a feed's bytes as served from ``url`` (its final address, for
        relative links and bare guids). No I/O: the differential tests feed it feedparser's
        own test suite."""
        # Without a Content-Type feedparser would apply HTTP's text default (ISO-8859-1) and
        # garble undeclared GB2312; as XML it reads the declaration or detects the charset.
        response_headers = {"content-location": url, "content-type": content_type or "application/xml"}
        entries = rssfast.parse(content, response_headers["content-type"], url) if self.fast else None
        if entries is None:  # not the simple case, or the fast path was unsure: feedparser decides
            entries = self._feedparser(url, content, response_headers)
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
        text = _title_and_body(title, _longest_body(entry))
        link = _link(entry)
        ident = entry.get("id") or link
        if not ident:
            if not text:
                return None
            ident = "sha1:" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
        url = link or (ident if is_web_url(ident) else feed_url)  # the post's page; the feed only when it has none
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
            url=url,
            text=text,
            title=title,
            author=html_to_text(entry.get("author") or ""),
            created_at=created,
        )


_BENIGN = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
_SQUASH = re.compile(r"\s+|\[图片\]|\.\.\.$|…$")


def _title_and_body(title: str, body: str) -> str:
    """The post's text: title and body, each word once and none lost. RSSHub (Weibo and
    others) titles are the body's first ~80 characters plus "...": the body alone has
    them. A body that is a cut of a longer title (some CMS summaries) is in the title."""
    if not title or not body:
        return title or body
    squashed_title, squashed_body = _SQUASH.sub("", title), _SQUASH.sub("", body)
    if squashed_title in squashed_body:
        return body
    if squashed_body in squashed_title:
        return title
    return f"{title}\n{body}"


def _link(entry: Any) -> str:
    """The entry's own web address. feedparser copies an entry's ``<id>`` into ``link``
    when the id comes first (``guidislink``) and keeps that flag even when a later
    ``<link rel="alternate">`` replaces it (YouTube, GitHub releases, Blogger, Google
    Alerts): only a link that *is* a non-web id (``tag:``, ``urn:``, a bare "12345") is
    made up, and then an alternate link among ``links`` is the post's address."""
    link = entry.get("link") or ""
    if is_web_url(link):
        return link
    for candidate in entry.get("links") or []:
        href = candidate.get("href") if isinstance(candidate, dict) else None
        if candidate.get("rel", "alternate") == "alternate" and is_web_url(href):
            return str(href)
    return ""


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
