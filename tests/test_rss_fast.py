"""The RSS fast path (sources/rssfast.py) gives exactly the posts feedparser gives, on every
real fixture and on generated feeds full of markup, entities and Chinese; whatever it is
unsure of goes to feedparser, so a malformed feed never loses entries."""

from __future__ import annotations

import random
import re
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, SourceContext, rssfast
from sources.rss import RssSource

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "feeds"
# feedparser's own suite is compared path against path in test_feedparser_suite.py
FEED_FILES = sorted(p for p in FEEDS.rglob("*") if p.is_file() and "feedparser-suite" not in p.parts) if FEEDS.is_dir() else []
URL = "https://feeds.test/x.xml"


@pytest.mark.parametrize("cdata", [True, False])
def test_an_ampersand_before_letters_gives_what_feedparser_gives(cdata, monkeypatch):
    """Found by the property test in CI: feedparser escapes the "&" of "&Acme" and so
    treats the body as markup, collapsing its ideographic space; the fast path kept it."""
    desc = "&Acme\u3000艾克美"
    entry = item("艾克美", desc, None, "https://news.test/0", None, None, None, cdata, None)
    body = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{entry}</channel></rss>'.encode()
    assert rssfast.parse(body, "application/rss+xml", URL) is None  # left to feedparser
    assert fetch(body, "application/rss+xml", True, monkeypatch)[0].text == "&Acme 艾克美" == fetch(body, "application/rss+xml", False, monkeypatch)[0].text


def fetch(body: bytes, content_type: str | None, fast: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(RssSource, "fast", fast)
    headers = {"Content-Type": content_type} if content_type else {}
    with respx.mock() as router, httpx.Client() as client:
        router.get(URL).respond(200, content=body, headers=headers)
        source = RssSource("t", {"url": URL}, SourceContext(http=PoliteHttp(client, rng=random.Random(0)), timezone=ZoneInfo("Asia/Shanghai")))
        try:
            return source.fetch()
        except ParseError as exc:
            return f"ParseError: {exc}"


def same_on_both_paths(body: bytes, content_type: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fetch(body, content_type, True, monkeypatch) == fetch(body, content_type, False, monkeypatch)


@pytest.mark.skipif(not FEED_FILES, reason=f"real-world fixtures not found under {FEEDS}")
@pytest.mark.parametrize("content_type", [None, "application/xml", "application/rss+xml; charset=utf-8", "text/html"])
@pytest.mark.parametrize("path", FEED_FILES, ids=[p.relative_to(FEEDS).as_posix() for p in FEED_FILES])
def test_every_fixture_gives_the_same_posts_on_both_paths(path, content_type, monkeypatch):
    same_on_both_paths(path.read_bytes(), content_type, monkeypatch)


@pytest.mark.skipif(not FEED_FILES, reason=f"real-world fixtures not found under {FEEDS}")
def test_plain_rsshub_feeds_take_the_fast_path():
    taken = [p.name for p in FEED_FILES if rssfast.parse(p.read_bytes(), "application/xml", URL) is not None]
    assert len(taken) >= 5, taken


PIECES = [
    "艾克美", "保温杯", "烫伤", "Acme", " ", "\n", "  ", "&amp;", "&lt;", "&gt;", "&#20013;", "&quot;", "<p>", "</p>", "<br/>", "<b>", "</b>",
    '<a href="/rel">x</a>', '<img src="a.png" alt="[送花花]">', "<script>x()</script>", "<style>p{}</style>", "<iframe src=x></iframe>",
    "Acme cup", "hello World", "<!-- c -->", "<template>t</template>", "<svg><title>s</title></svg>", "[图片]", "...", "…", "a < b", "&", "<", ">", "'", '"', "\u3000", "ｆｕｌｌ",
]
RISKY = {"<script>x()</script>", "<style>p{}</style>", "<iframe src=x></iframe>", "<!-- c -->", "<template>t</template>", "<svg><title>s</title></svg>", "<", ">", "a < b"}  # sent to feedparser
texts = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)
# an "&" before a letter (Q&A, &Acme) is left to feedparser, which escapes it and so collapses the body's spaces
plain_texts = st.lists(st.sampled_from([p for p in PIECES if p not in RISKY]), min_size=1, max_size=12).map("".join).map(lambda t: re.sub(r"&(?=[A-Za-z])", "& ", t))
bare_texts = st.lists(st.sampled_from([p for p in PIECES if not any(c in p for c in "<>&")]), min_size=1, max_size=12).map("".join)


def item(title: str, desc: str, content: str | None, guid: str, permalink: bool | None, link: str | None, author: str | None, cdata: bool, date: str | None) -> str:
    def wrap(text: str) -> str:
        return f"<![CDATA[{text}]]>" if cdata and "]]>" not in text else escape(text)

    parts = [f"<title>{wrap(title)}</title>"]
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    attr = "" if permalink is None else f' isPermaLink="{str(permalink).lower()}"'
    parts.append(f"<guid{attr}>{escape(guid)}</guid>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(f"<description>{wrap(desc)}</description>")
    if content is not None:
        parts.append(f"<content:encoded>{wrap(content)}</content:encoded>")
    if author is not None:
        parts.append(f"<author>{escape(author)}</author>")
    return "<item>" + "".join(parts) + "</item>"


@st.composite
def feeds(draw, simple: bool = False):
    """RSS 2.0 feeds; ``simple`` ones hold only what the fast path takes (absolute links,
    permalink guids that are URLs, no comments or unknown markup)."""
    items = []
    words = plain_texts if simple else texts
    for i in range(draw(st.integers(1, 4))):
        guid = draw(st.sampled_from([f"https://news.test/{i}"] if simple else [f"https://news.test/{i}", f"{i}", f"tag:news.test,2026:{i}"]))
        links = [None, f"https://news.test/p/{i}"] + ([] if simple else [f"/p/{i}", ""])
        if simple and draw(st.booleans()):  # both bodies: RssSource keeps the longer, so markup sends it to feedparser
            desc, content = draw(bare_texts), draw(bare_texts)
        else:
            desc, content = draw(words), None if simple else draw(st.none() | words)
        items.append(
            item(
                draw(words), desc, content, guid, draw(st.sampled_from([None, True, False])),
                draw(st.sampled_from(links)), draw(st.none() | st.sampled_from(["记者小王", "a@b.cn (A)", "x&amp;y"])),
                draw(st.booleans()), draw(st.sampled_from([None, formatdate(1_795_000_000 + i, usegmt=True), "2026-11-22 10:00:00", "garbage"])),
            )
        )
    ns = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel><title>t</title>{"".join(items)}</channel></rss>'.encode()


@given(feeds())
@settings(max_examples=150, deadline=None)
def test_generated_feeds_give_the_same_posts_on_both_paths(body):
    with pytest.MonkeyPatch.context() as monkeypatch:
        same_on_both_paths(body, "application/rss+xml", monkeypatch)


@given(feeds(simple=True))
@settings(max_examples=150, deadline=None)
def test_simple_generated_feeds_take_the_fast_path_and_give_the_same_posts(body):
    assert rssfast.parse(body, "application/rss+xml", URL) is not None
    with pytest.MonkeyPatch.context() as monkeypatch:
        same_on_both_paths(body, "application/rss+xml", monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><item><title>t</title><link>https://a.test/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>t</title><link>https://a.test/1</link></item><item><title>u</title></channel></rss>',  # malformed
        b'<rss version="2.0"><channel><item><title>t</title><link>https://a.test/1</link></item></channel><item><title>x</title></item></rss>',
        b'<rss version="2.0" xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel><item><title>t</title><link>https://a.test/1</link><slash:comments>5</slash:comments></item></channel></rss>',
        b'<!DOCTYPE rss [<!ENTITY a "x">]><rss version="2.0"><channel><item><title>&a;</title><link>https://a.test/1</link></item></channel></rss>',
    ],
    ids=["declared-gb2312", "malformed", "item-outside-channel", "unknown-namespace", "doctype"],
)
def test_the_fast_path_hands_what_it_is_unsure_of_to_feedparser(body):
    assert rssfast.parse(body, "application/xml", URL) is None
