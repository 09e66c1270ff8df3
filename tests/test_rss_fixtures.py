"""Real-world feeds and Mastodon timelines (copied from public repositories, see
shared/fixtures/real/SOURCES.md) served through respx to the real sources.

Every feed file must either become Posts or fail with a ``ParseError``; no other exception
may leave a source. Beyond that, the checks are things a user would notice: Chinese text
decoded, times in the right zone, links that work, no post twice, no markup in the text.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import feedparser
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, SourceContext, SourceError, validate_options
from sources.fields import is_web_url
from sources.mastodon import MastodonSource
from sources.rss import _SQUASH, RssSource, _title_and_body

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
FEEDS = FIXTURES / "feeds"
MASTODON = FIXTURES / "mastodon"

if not FEEDS.is_dir():
    pytest.skip(
        f"real-world fixtures not found at {FIXTURES} (expected the shared checkout next to the repo: "
        "<parent>/shared/fixtures/real/feeds)",
        allow_module_level=True,
    )

FEED_URL = "https://feeds.test/x.xml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = UTC

# the curated feeds (real sites, RSSHub, feedparser's ill-formed picks); feedparser's whole
# suite, written to break parsers, has tests of its own (test_feedparser_suite.py)
FEED_FILES = sorted(p for p in FEEDS.rglob("*") if p.is_file() and "feedparser-suite" not in p.parts)
FEED_IDS = [p.relative_to(FEEDS).as_posix() for p in FEED_FILES]

# Feeds captured from real sites: how many posts each must give (they must never fail).
EXPECTED_POSTS = {
    "realworld/ksbot_github_commits.atom": 20,
    "realworld/rssparser_heise.atom": 15,
    "realworld/rssparser_incomplete-fields.atom": 0,  # one entry with only an empty <author>: nothing to keep
    "realworld/rssparser_jn_pt_iso8859-1.rss": 40,
    "realworld/rssparser_missing-fields.atom": 1,
    "realworld/rssparser_qq_news_gb2312.xml": 20,
    "realworld/rssparser_reddit_frontpage.rss": 25,
    "realworld/rssparser_reddit_home.atom": 25,
    "realworld/rssparser_sciencemag_rss1.rdf": 69,
    "rsshub/ksbot_rsshub_3dm_news.xml": 20,
    "rsshub/proxyrsshub_bilibili_user_bangumi_44744006.xml": 15,
    "rsshub/proxyrsshub_bilibili_user_video_28822227_2022-03-03.xml": 10,
    "rsshub/proxyrsshub_bilibili_user_video_28822227_2023-01-01_undefined_name.xml": 10,
    "rsshub/proxyrsshub_twitter_user_shizuku_mayoi.xml": 20,
    "rsshub/seightday_proxyrsshub_jike_topic_55e02198dcef9f0e00d7b3c3.xml": 10,
    "rsshub/seightday_proxyrsshub_weibo_user_2831150640.xml": 10,
    "rsshub/seightday_proxyrsshub_weibo_user_5609361977.xml": 8,
}

_CJK = re.compile(r"[\u4e00-\u9fff]")
_MOJIBAKE = re.compile(r"[\u00c0-\u00ff]")  # Latin-1 letters where GB2312 bytes were read as windows-1252
_TAG = re.compile(r"<[a-zA-Z!/?]")


def feed(rel: str) -> bytes:
    path = FEEDS / rel
    if not path.is_file():
        pytest.skip(f"fixture {rel} is missing from {FEEDS}")
    return path.read_bytes()


def rss(client: httpx.Client, url: str = FEED_URL, tz: ZoneInfo = SHANGHAI) -> RssSource:
    http = PoliteHttp(client, rng=random.Random(0))
    return RssSource("t", {"url": url}, SourceContext(http=http, timezone=tz))


def serve(router, body: bytes, content_type: str | None = None, url: str = FEED_URL, **headers: str):
    if content_type:
        headers["Content-Type"] = content_type
    return router.get(url).respond(200, content=body, headers=headers)


def fetch_feed(router, client, rel: str, content_type: str | None = "application/xml", tz: ZoneInfo = SHANGHAI) -> list[Post]:
    serve(router, feed(rel), content_type)
    return rss(client, tz=tz).fetch()


def check_posts(posts: list[Post]) -> None:
    """What must hold for any Post a feed yields."""
    assert isinstance(posts, list)
    ids = [p.id for p in posts]
    assert len(ids) == len(set(ids)), "the same post twice in one poll"
    for post in posts:
        assert isinstance(post, Post)
        assert post.platform == "rss"
        assert isinstance(post.id, str) and post.id
        assert isinstance(post.url, str) and post.url
        for text in (post.text, post.title, post.author):
            assert isinstance(text, str)
            assert text == text.strip()
            assert "\ufffd" not in text
            assert not _TAG.search(text), f"markup left in {text!r}"
        if post.created_at is not None:
            assert post.created_at.tzinfo is not None
            assert post.created_at.utcoffset().total_seconds() == 0
        assert post.engagement.known is False  # feeds carry no counters
        assert post.ref == ""


# -- every file: Posts or a ParseError -----------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "application/xml"], ids=["no-content-type", "application-xml"])
@pytest.mark.parametrize("path", FEED_FILES, ids=FEED_IDS)
def test_every_real_feed_parses_or_fails_with_parse_error(router, client, path, content_type):
    serve(router, path.read_bytes(), content_type)
    try:
        posts = rss(client).fetch()
    except SourceError as exc:  # anything else (feedparser, httpx, ValueError, ...) fails the test
        assert isinstance(exc, ParseError), f"{type(exc).__name__}: {exc}"
        assert FEED_URL in str(exc)
        assert exc.retryable is False
        return
    check_posts(posts)


@pytest.mark.parametrize(("rel", "count"), sorted(EXPECTED_POSTS.items()), ids=sorted(EXPECTED_POSTS))
def test_real_site_feeds_give_all_their_posts(router, client, rel, count):
    posts = fetch_feed(router, client, rel)
    assert len(posts) == count
    check_posts(posts)
    if count >= 5:
        assert all(p.created_at is not None for p in posts), "every item of these feeds carries a date"
        assert all(p.text for p in posts)


def test_document_with_no_root_element_is_a_parse_error(router, client):
    with pytest.raises(ParseError, match="not a readable feed"):
        fetch_feed(router, client, "feedparser-illformed/illformed_rss_empty_document.xml")


def test_html_error_page_is_a_parse_error(router, client):
    serve(router, b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>", "text/html")
    with pytest.raises(ParseError):
        rss(client).fetch()


def test_well_formed_feed_without_items_served_as_xml_is_empty(router, client):
    assert fetch_feed(router, client, "feedparser-wellformed/rss_rss_version_missing.xml", "application/rss+xml") == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "text/html; charset=utf-8"])
@pytest.mark.parametrize(
    "rel",
    [
        "feedparser-wellformed/rss_rss_version_missing.xml",
        "feedparser-illformed/encoding_http_application_atom_xml_gb2312_encoding.xml",
    ],
)
def test_well_formed_feed_without_items_is_empty_whatever_the_content_type(router, client, rel, content_type):
    assert fetch_feed(router, client, rel, content_type) == []


# -- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "application/xml", "text/xml", "application/rss+xml; charset=gb2312"])
def test_qq_gb2312_feed_has_chinese_titles(router, client, content_type):
    posts = fetch_feed(router, client, "realworld/rssparser_qq_news_gb2312.xml", content_type)
    assert len(posts) == 20
    assert posts[0].title == "习近平为何如此强调崇尚英雄？"
    assert posts[0].url == "http://news.qq.com/a/20180918/009846.htm"
    assert posts[0].author == "www.qq.com"
    for post in posts:
        assert _CJK.search(post.title), post.title
        assert not _MOJIBAKE.search(post.title + post.text), post.title


def test_portuguese_iso8859_1_feed_is_decoded(router, client):
    posts = fetch_feed(router, client, "realworld/rssparser_jn_pt_iso8859-1.rss")
    assert posts[0].title == "Mãe de utente é a nova presidente da Raríssimas"
    assert posts[1].title == "Reações dos partidos ao veto de Marcelo"


def test_german_utf8_atom_feed_is_decoded(router, client):
    posts = fetch_feed(router, client, "realworld/rssparser_heise.atom")
    assert posts[1].title == "Scrum Day 2016: Bewerbungen für Vorträge und Workshops"


def test_undeclared_gb2312_feed_is_not_mojibake(router, client):
    posts = fetch_feed(router, client, "feedparser-illformed/illformed_chardet_gb2312.xml", None)
    assert [p.title for p in posts] == ["不归移民漫画系列：专业工作"]


# -- dates ---------------------------------------------------------------------------------


def test_qq_zoneless_pubdate_is_read_in_the_configured_zone(router, client):
    posts = fetch_feed(router, client, "realworld/rssparser_qq_news_gb2312.xml")
    # <pubDate>2018-09-18 14:38:10</pubDate> is Beijing time
    assert posts[0].created_at == datetime(2018, 9, 18, 6, 38, 10, tzinfo=UTC)
    assert posts[1].created_at == datetime(2018, 9, 18, 6, 35, 7, tzinfo=UTC)


def test_qq_zoneless_pubdate_follows_the_context_zone(router, client):
    posts = fetch_feed(router, client, "realworld/rssparser_qq_news_gb2312.xml", tz=ZoneInfo("UTC"))
    assert posts[0].created_at == datetime(2018, 9, 18, 14, 38, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rel", "index", "expected"),
    [
        # <published>2016-02-01T17:22:00+01:00</published>
        ("realworld/rssparser_heise.atom", 0, datetime(2016, 2, 1, 16, 22, tzinfo=UTC)),
        # Blogger: 2009-12-08T16:59:02.544-08:00
        ("feedparser-wellformed/namespace_atomthreadingwithentry.xml", 0, datetime(2009, 12, 9, 0, 59, 2, tzinfo=UTC)),
        # dc:date 2017-06-15T10:29:47-07:00
        ("realworld/rssparser_sciencemag_rss1.rdf", 0, datetime(2017, 6, 15, 17, 29, 47, tzinfo=UTC)),
        # Sat, 01 Apr 2023 07:38:00 GMT
        ("rsshub/ksbot_rsshub_3dm_news.xml", 0, datetime(2023, 4, 1, 7, 38, tzinfo=UTC)),
        # 2023-04-13T07:44:23Z
        ("realworld/ksbot_github_commits.atom", 0, datetime(2023, 4, 13, 7, 44, 23, tzinfo=UTC)),
        # 2016-01-26T20:31:34+00:00
        ("realworld/rssparser_reddit_home.atom", 0, datetime(2016, 1, 26, 20, 31, 34, tzinfo=UTC)),
        # <pubDate>Thu, 12 Nov 2015 21:16:39 +0000</pubDate>
        ("realworld/rssparser_reddit_frontpage.rss", 0, datetime(2015, 11, 12, 21, 16, 39, tzinfo=UTC)),
    ],
)
def test_feed_dates_become_the_right_utc_instant(router, client, rel, index, expected):
    posts = fetch_feed(router, client, rel)
    assert posts[index].created_at == expected




@pytest.mark.parametrize(
    ("pubdate", "expected"),
    [
        ("Sat, 01 Apr 2023 07:38:00 GMT", datetime(2023, 4, 1, 7, 38, tzinfo=UTC)),
        ("Sat, 01 Apr 2023 07:38:00 UT", datetime(2023, 4, 1, 7, 38, tzinfo=UTC)),
        ("2018-09-18 14:38:10", datetime(2018, 9, 18, 6, 38, 10, tzinfo=UTC)),  # no zone: local (+08:00)
        ("2018-09-18T14:38:10", datetime(2018, 9, 18, 6, 38, 10, tzinfo=UTC)),
        ("2016-02-01T17:54:50+01:00", datetime(2016, 2, 1, 16, 54, 50, tzinfo=UTC)),
        ("2023-04-13T07:44:23Z", datetime(2023, 4, 13, 7, 44, 23, tzinfo=UTC)),
        pytest.param("Wed, 24 Aug 2022 22:03:13 +0800", datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)),
        pytest.param("Thu, 12 Nov 2015 21:16:39 +0000", datetime(2015, 11, 12, 21, 16, 39, tzinfo=UTC)),
        pytest.param("Thu, 12 Nov 2015 21:16:39 -0500", datetime(2015, 11, 13, 2, 16, 39, tzinfo=UTC)),
        pytest.param("Mon, 01 Jan 2024 09:00:00 +0100", datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_pubdate_forms(router, client, pubdate, expected):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>a</title><link>https://example.com/a</link><pubDate>{pubdate}</pubDate></item>"
        "</channel></rss>"
    ).encode()
    serve(router, body, "application/rss+xml")
    (post,) = rss(client).fetch()
    assert post.created_at == expected


# rss.py falls back to entry.get("updated"), which feedparser 6 maps to "published" with a warning
@pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")
def test_unparseable_pubdate_gives_no_time(router, client):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>a</title><link>https://example.com/a</link><pubDate>刚刚</pubDate></item>"
        "</channel></rss>"
    ).encode()
    serve(router, body, "application/rss+xml")
    (post,) = rss(client).fetch()
    assert post.created_at is None


# -- RSSHub --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "uid", "author", "count"),
    [
        ("rsshub/seightday_proxyrsshub_weibo_user_2831150640.xml", "2831150640", "深圳卫健委", 10),
        ("rsshub/seightday_proxyrsshub_weibo_user_5609361977.xml", "5609361977", "分享白菜达人", 8),
    ],
)
def test_rsshub_weibo_posts_link_to_weibo(router, client, rel, uid, author, count):
    posts = fetch_feed(router, client, rel)
    assert len(posts) == count
    for post in posts:
        assert re.fullmatch(rf"https://weibo\.com/{uid}/[A-Za-z0-9]+", post.url), post.url
        assert post.id == post.url  # the guid: the only id RSSHub gives
        assert post.author == author
        assert post.created_at is not None
        assert not _TAG.search(post.text)


def test_rsshub_weibo_content(router, client):
    posts = fetch_feed(router, client, "rsshub/seightday_proxyrsshub_weibo_user_2831150640.xml")
    first = posts[0]
    assert first.url == "https://weibo.com/2831150640/Qe8858pFi"
    assert first.created_at == datetime(2025, 11, 16, 10, 40, 43, tzinfo=UTC)  # Sun, 16 Nov 2025 10:40:43 GMT
    assert "#辟谣了卫#" in first.text  # the hashtag link's text survives the entity-escaped HTML
    assert "（科普中国）" in first.text
    assert "[馋嘴]" in first.text


@pytest.mark.parametrize(
    "rel",
    ["rsshub/seightday_proxyrsshub_weibo_user_2831150640.xml", "rsshub/seightday_proxyrsshub_weibo_user_5609361977.xml"],
)
def test_rsshub_weibo_text_is_not_repeated(router, client, rel):
    posts = fetch_feed(router, client, rel)
    for post in posts:
        head = "".join(post.title.split())[:15]
        assert "".join(post.text.split()).count(head) == 1, post.text


def test_rsshub_undefined_name_feed_still_gives_posts(router, client):
    posts = fetch_feed(router, client, "rsshub/proxyrsshub_bilibili_user_video_28822227_2023-01-01_undefined_name.xml")
    assert len(posts) == 10
    assert all(p.url.startswith("https://www.bilibili.com/video/BV") for p in posts)
    assert all(p.author == "" for p in posts)  # no <author> on that degraded day


def test_rsshub_twitter_cdata_author_with_emoji(router, client):
    posts = fetch_feed(router, client, "rsshub/proxyrsshub_twitter_user_shizuku_mayoi.xml")
    assert posts[0].author == "間宵 雫☾☔@イラストレーター"
    assert posts[0].url == "https://twitter.com/shizuku_mayoi/status/1667049587646021633"
    assert posts[0].created_at == datetime(2023, 6, 9, 6, 2, 48, tzinfo=UTC)


# -- links ---------------------------------------------------------------------------------


def test_relative_entry_link_is_resolved_against_the_feed_url(router, client):
    (post,) = fetch_feed(router, client, "feedparser-wellformed/base_http_entry_link_base_docuri.xml")
    assert post.url == "https://feeds.test/relative/link"


def test_relative_link_is_resolved_against_the_final_url_after_a_redirect(router):
    router.get(FEED_URL).respond(301, headers={"Location": "https://cdn.test/feeds/y.xml"})
    serve(router, feed("feedparser-wellformed/base_http_entry_link_base_docuri.xml"), "application/atom+xml", url="https://cdn.test/feeds/y.xml")
    with httpx.Client(follow_redirects=True) as client:
        (post,) = rss(client).fetch()
    assert post.url == "https://cdn.test/relative/link"


def test_relative_rss_links_are_resolved(router, client):
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>/</link>'
        b'<item><title>a</title><link>/news/1.html</link><guid isPermaLink="false">n1</guid></item>'
        b"<item><title>b</title><link>2.html</link></item></channel></rss>"
    )
    serve(router, body, "application/rss+xml", url="https://feeds.test/feeds/x.xml")
    first, second = rss(client, url="https://feeds.test/feeds/x.xml").fetch()
    assert first.url == "https://feeds.test/news/1.html"
    assert first.id == "https://feeds.test/feeds/x.xml#n1"  # a bare guid is namespaced by its feed
    assert second.url == "https://feeds.test/feeds/2.html"


@pytest.mark.parametrize("rel", [rel for rel, count in sorted(EXPECTED_POSTS.items()) if count])
def test_every_post_links_where_feedparser_says_its_entry_links(router, client, rel):
    """feedparser as the oracle: a post's url is its entry's own link (never the feed's
    address with the entry's id glued on)."""
    parsed = feedparser.parse(feed(rel), response_headers={"content-location": FEED_URL, "content-type": "application/xml"})
    expected = [e.get("link") if is_web_url(e.get("link")) else FEED_URL for e in parsed.entries]  # no link: the feed
    posts = fetch_feed(router, client, rel)
    assert [p.url for p in posts] == expected
    assert not any(p.url.startswith(FEED_URL + "#") for p in posts)


def test_atom_entries_whose_id_comes_before_their_link_keep_their_link(router, client):
    """A real GitHub commits feed: each entry's ``<id>`` (a ``tag:`` URI) comes before its
    ``<link rel="alternate">``, as in YouTube channel, GitHub release, Blogger and Google
    Alerts feeds. The ticket must link the commit, not the feed."""
    posts = fetch_feed(router, client, "realworld/ksbot_github_commits.atom")
    assert posts[0].url == "https://github.com/sdttttt/ksbot/commit/f0b049e0ed0d936c82010fbe53d34f4ecce99e9d"
    assert all(p.url.startswith("https://github.com/sdttttt/ksbot/commit/") for p in posts)
    assert posts[0].id == f"{FEED_URL}#tag:github.com,2008:Grit::Commit/f0b049e0ed0d936c82010fbe53d34f4ecce99e9d"  # ids as stored before


def test_an_entry_with_only_a_non_web_id_links_to_its_feed(router, client):
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<entry><id>yt:video:abc</id><title>Acme review</title></entry>"
        b'<entry><id>yt:video:def</id><link rel="alternate" href="https://www.youtube.com/watch?v=def"/><title>Acme unboxing</title></entry></feed>'
    )
    serve(router, body, "application/atom+xml")
    first, second = rss(client).fetch()
    assert first.url == FEED_URL  # nothing better to link: the feed, never "yt:video:abc"
    assert second.url == "https://www.youtube.com/watch?v=def"


def test_no_title_words_are_lost_when_the_body_is_a_cut_of_the_title(router, client):
    title = "艾克美保温杯质量问题太严重了，大家千万不要再买了，我家孩子喝水时被烫伤"
    body = "<p>艾克美保温杯质量问题太严重了，大家千万不要再买了，</p>"  # a CMS summary cut short
    serve(router, rss_item(title, body), "application/rss+xml")
    (post,) = rss(client).fetch()
    assert "烫伤" in post.text
    assert post.text.count("艾克美") == 1  # and nothing twice


def test_a_title_that_repeats_the_body_is_not_repeated(router, client):
    title = "艾克美保温杯漏水，客服不理人..."
    body = "艾克美保温杯漏水，客服不理人，已经投诉到12315"
    serve(router, rss_item(title, body), "application/rss+xml")
    (post,) = rss(client).fetch()
    assert post.text == body


def rss_item(title: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{escape(title)}</title><link>https://news.test/1</link><description>{escape(body)}</description></item>"
        "</channel></rss>"
    ).encode()


@given(st.text(max_size=60), st.text(max_size=60))
def test_title_and_body_keep_every_word_of_both(title, body):
    text = _title_and_body(title, body)
    for part in (title, body):
        assert _SQUASH.sub("", part) in _SQUASH.sub("", text)


def test_link_with_escaped_ampersand_is_unescaped(router, client):
    posts = fetch_feed(router, client, "feedparser-illformed/illformed_rss_item_link_corrupted_ampersands.xml")
    assert [p.url for p in posts] == ["http://link/get?a=1&b=2"]


@pytest.mark.parametrize(
    "rel",
    [rel for rel, count in sorted(EXPECTED_POSTS.items()) if count],
)
def test_post_urls_are_absolute_web_addresses(router, client, rel):
    for post in fetch_feed(router, client, rel):
        parts = urlsplit(post.url)
        assert parts.scheme in ("http", "https") and parts.netloc, post.url


def test_second_fetch_of_unchanged_body_gives_nothing(router, client):
    route = serve(router, feed("realworld/rssparser_qq_news_gb2312.xml"), "application/xml")
    source = rss(client)
    assert len(source.fetch()) == 20
    source.commit()  # the app stored the posts
    assert source.fetch() == []
    assert route.call_count == 2


def test_a_fetch_whose_posts_were_not_stored_is_not_remembered(router, client):
    serve(router, feed("realworld/rssparser_qq_news_gb2312.xml"), "application/xml")
    source = rss(client)
    assert len(source.fetch()) == 20
    # no commit(): storing failed, so the next poll must give the posts again
    assert len(source.fetch()) == 20


def test_changed_body_gives_posts_again(router, client):
    route = router.get(FEED_URL)
    route.side_effect = [
        httpx.Response(200, content=feed("rsshub/seightday_proxyrsshub_weibo_user_5609361977.xml")),
        httpx.Response(200, content=feed("rsshub/seightday_proxyrsshub_weibo_user_2831150640.xml")),
    ]
    source = rss(client)
    assert len(source.fetch()) == 8
    assert len(source.fetch()) == 10


def test_etag_is_sent_back_and_304_gives_nothing(router, client):
    route = router.get(FEED_URL)
    route.side_effect = [
        httpx.Response(
            200,
            content=feed("rsshub/ksbot_rsshub_3dm_news.xml"),
            headers={"Content-Type": "application/rss+xml", "ETag": 'W/"3dm-1"', "Last-Modified": "Sat, 01 Apr 2023 07:40:00 GMT"},
        ),
        httpx.Response(304, headers={"ETag": 'W/"3dm-1"'}),
    ]
    source = rss(client)
    assert len(source.fetch()) == 20
    source.commit()
    assert "If-None-Match" not in route.calls[0].request.headers
    assert source.fetch() == []
    second = route.calls[1].request
    assert second.headers["If-None-Match"] == 'W/"3dm-1"'
    assert second.headers["If-Modified-Since"] == "Sat, 01 Apr 2023 07:40:00 GMT"


def test_broken_feed_keeps_failing_instead_of_passing_as_unchanged(router, client):
    route = serve(router, feed("feedparser-illformed/illformed_aaa_illformed.xml"), "application/xml", ETag='"broken"')
    source = rss(client)
    for _ in range(2):
        with pytest.raises(ParseError):
            source.fetch()
    assert "If-None-Match" not in route.calls[1].request.headers


def test_feed_recovers_after_a_broken_body(router, client):
    route = router.get(FEED_URL)
    route.side_effect = [
        httpx.Response(200, content=feed("feedparser-illformed/illformed_rss_empty_document.xml")),
        httpx.Response(200, content=feed("realworld/rssparser_heise.atom")),
    ]
    source = rss(client)
    with pytest.raises(ParseError):
        source.fetch()
    assert len(source.fetch()) == 15


# -- Mastodon tag timelines ----------------------------------------------------------------

INSTANCE = "https://mastodon.test"


def mastodon_json(name: str):
    path = MASTODON / name
    if not path.is_file():
        pytest.skip(f"fixture mastodon/{name} is missing from {MASTODON}")
    return json.loads(path.read_text(encoding="utf-8"))


def mastodon(client: httpx.Client, tag: str = "hoot") -> MastodonSource:
    settings, problems = validate_options(MastodonSource.options, {"instance": INSTANCE, "tag": tag})
    assert problems == []
    return MastodonSource("m", settings, SourceContext(http=PoliteHttp(client, rng=random.Random(0)), timezone=SHANGHAI))


def serve_timeline(router, payload, tag: str = "hoot"):
    return router.get(f"{INSTANCE}/api/v1/timelines/tag/{tag}").respond(200, json=payload)


def check_mastodon_posts(posts: list[Post], statuses: list[dict]) -> None:
    assert len(posts) == len(statuses)
    by_uri = {s["uri"]: s for s in statuses}
    assert len({p.id for p in posts}) == len(posts)
    for post in posts:
        status = by_uri[post.id]  # keyed by the ActivityPub uri
        assert post.platform == "mastodon"
        assert post.ref == status["id"] and post.ref.isdigit()  # the instance-local id, to re-read it
        assert post.url == status["url"]
        assert post.author == status["account"]["acct"]
        assert post.engagement.reposts == status["reblogs_count"]
        assert post.engagement.likes == status["favourites_count"]
        assert post.engagement.comments == status.get("replies_count")
        assert post.created_at is not None and post.created_at.utcoffset().total_seconds() == 0
        assert not _TAG.search(post.text), post.text
        assert "&amp;" not in post.text and "&#39;" not in post.text


def test_mastodon_tag_timeline_4x(router, client):
    statuses = mastodon_json("mastodonpy_timelines_tag_hoot.json")
    route = serve_timeline(router, statuses)
    posts = mastodon(client).fetch()
    check_mastodon_posts(posts, statuses)
    (post,) = posts
    assert post.id == "http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"
    assert post.ref == "117020593741189701"
    assert post.url == "http://localhost:3000/@mastodonpy_test_2/117020593741189701"
    assert post.text == "#hoot (hashtag toot)"  # from <p><a ... class="mention hashtag">#<span>hoot</span></a> (hashtag toot)</p>
    assert post.author == "mastodonpy_test_2"
    assert post.created_at == datetime(2026, 8, 1, 13, 55, 55, 867000, tzinfo=UTC)
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (0, 0, 0)
    request = route.calls.last.request
    assert request.url.params["limit"] == "40"
    assert request.headers["Accept"] == "application/json"


def test_mastodon_tag_timeline_2017_without_replies_count(router, client):
    statuses = mastodon_json("bigbone_timelines_tag_2017.json")
    assert all("replies_count" not in s for s in statuses)
    serve_timeline(router, statuses)
    posts = mastodon(client).fetch()
    check_mastodon_posts(posts, statuses)
    assert len(posts) == 20
    assert all(p.engagement.comments is None for p in posts)  # unknown, not zero
    assert all(p.engagement.likes is not None and p.engagement.reposts is not None for p in posts)
    assert any(p.engagement.reposts for p in posts)
    first = posts[0]
    assert first.id == "tag:mastodon.social,2017-04-21:objectId=3610569:objectType=Status"
    assert first.ref == "714859"
    assert first.url == "https://mastodon.social/users/jeroenpraat/updates/2014093"
    assert first.author == "jeroenpraat@mastodon.social"
    assert first.created_at == datetime(2017, 4, 21, 15, 0, 42, tzinfo=UTC)
    assert first.text.startswith("@alexl @deadsuperhero Yes, but not only #Mastodon should be compatible")
    assert "hé, I'm not a coder ;-)" in first.text  # entities decoded
    # <br> becomes a line break
    framapiaf = next(p for p in posts if p.ref == "712113")
    assert "personnels éduc.\nJe trouve" in framapiaf.text


def test_mastodon_boost_yields_the_original_status_and_the_boost_as_its_spread(router, client):
    (original,) = mastodon_json("mastodonpy_timelines_tag_hoot.json")
    boost = dict(original, id="999", uri="http://localhost:3000/users/booster/statuses/999/activity", content="", reblog=original)
    serve_timeline(router, [boost])
    post, repost = mastodon(client).fetch()
    assert post.id == original["uri"]
    assert post.ref == original["id"]
    assert post.text == "#hoot (hashtag toot)"
    assert (repost.id, repost.repost_of, repost.text, repost.ref) == (boost["uri"], original["uri"], post.text, "")


@pytest.mark.parametrize(
    "name", ["mastodonpy_mastodon_social_v2_search_halcy.json", "mastodonpy_mastodon_social_status_remote_edited.json"]
)
def test_mastodon_body_that_is_not_a_timeline_is_a_parse_error(router, client, name):
    serve_timeline(router, mastodon_json(name))
    with pytest.raises(ParseError, match="not a list"):
        mastodon(client).fetch()


def test_mastodon_non_json_body_is_a_parse_error(router, client):
    router.get(f"{INSTANCE}/api/v1/timelines/tag/hoot").respond(200, text="<html>maintenance</html>")
    with pytest.raises(ParseError):
        mastodon(client).fetch()


def test_mastodon_hashtag_is_url_quoted(router, client):
    route = router.get(f"{INSTANCE}/api/v1/timelines/tag/%E8%88%86%E6%83%85").respond(200, json=[])
    assert mastodon(client, tag="#舆情").fetch() == []
    assert route.call_count == 1


def test_mastodon_refresh_rereads_by_local_id(router, client):
    status = mastodon_json("mastodonpy_mastodon_social_status_remote_edited.json")
    router.get(f"{INSTANCE}/api/v1/statuses/110446223051565765").respond(200, json=status)
    gone = router.get(f"{INSTANCE}/api/v1/statuses/404404").respond(404)
    pleroma = router.get(f"{INSTANCE}/api/v1/statuses/AbC123-xyz_9").respond(404)  # Pleroma/Akkoma ids are not digits
    posts = mastodon(client).refresh(["110446223051565765", "404404", "AbC123-xyz_9", "../../admin", ""])
    assert gone.call_count == 1 and pleroma.call_count == 1
    (post,) = posts
    assert post.id == "https://icosahedron.website/users/halcy/statuses/110446222386355655"
    assert post.ref == "110446223051565765"
    assert post.url == "https://icosahedron.website/@halcy/110446222386355655"
    assert post.author == "halcy@icosahedron.website"
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (0, 0, 1)
    # the content warning comes first, then the content without its HTML
    assert post.text == (
        "test post for mastodon.py stuff\n"
        "@halcy you're a doo-doo head\n"
        "edit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag"
    )
    assert post.created_at == datetime(2023, 5, 28, 12, 6, 50, tzinfo=UTC)


def test_counters_in_feed_items_become_engagement(router, client):
    body = (
        b'<rss version="2.0" xmlns:slash="http://purl.org/rss/1.0/modules/slash/" xmlns:media="http://search.yahoo.com/mrss/">'
        b"<channel><title>t</title><item><title>Acme video</title><link>https://v.test/1</link>"
        b"<slash:comments>12</slash:comments><media:community><media:statistics views=\"3450\"/>"
        b'<media:starRating count="9" average="4"/></media:community></item>'
        b"<item><title>plain</title><link>https://v.test/2</link></item></channel></rss>"
    )
    serve(router, body, "application/rss+xml")
    counted, plain = rss(client).fetch()
    assert (counted.engagement.comments, counted.engagement.likes, counted.engagement.views) == (12, 9, 3450)
    assert not plain.engagement.known
