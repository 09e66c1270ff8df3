"""The ``json`` source kind: a field mapping in the config turns any JSON API into Posts.

Mapped over real responses (m.weibo.cn getIndex, hn.algolia.com; see
shared/fixtures/real/SOURCES.md) served through respx, plus small hand-written bodies
for the edges. Whatever the body, only a ``SourceError`` may leave ``fetch``.
"""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, ResponseError, SourceContext, SourceError, validate_options
from sources.jsonapi import JsonSource, check_path, check_text_paths, parse_time, read_path, settings_problems

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
WEIBO = FIXTURES / "weibo" / "weibocrawler_getIndex_user_2304136074526225.json"
HN = FIXTURES / "hackernews" / "nodehnapi_algolia_fixtures_2014.json"

API = "https://api.test/v1/posts"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = UTC
_TAG = re.compile(r"<[a-zA-Z!/?]")

WEIBO_MAPPING = {
    "platform": "weibo",
    "items": "data.cards",
    "id": "mblog.mid",
    "text": "mblog.text",
    "url_template": "https://m.weibo.cn/status/{id}",
    "author": "mblog.user.screen_name",
    "time": "mblog.created_at",
    "time_format": "%a %b %d %H:%M:%S %z %Y",
    "reposts": "mblog.reposts_count",
    "comments": "mblog.comments_count",
    "likes": "mblog.attitudes_count",
}

HN_MAPPING = {
    "platform": "hackernews",
    "items": "hits",
    "id": "objectID",
    "text": "title+story_text",
    "url_template": "https://news.ycombinator.com/item?id={id}",
    "author": "author",
    "time": "created_at_i",
    "likes": "points",
    "comments": "num_comments",
}


def fixture_json(path: Path) -> Any:
    if not path.is_file():
        pytest.skip(
            f"real-world fixture {path.name} not found at {path.parent} (expected the shared checkout next to the repo: "
            "<parent>/shared/fixtures/real/)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def weibo() -> dict:
    return fixture_json(WEIBO)


def hn_reply(url: str) -> dict:
    for entry in fixture_json(HN):
        if entry["url"] == url:
            return entry["reply"]
    raise AssertionError(f"no {url} in {HN.name}")


def source(client: httpx.Client, tz: ZoneInfo = SHANGHAI, **options: Any) -> JsonSource:
    options.setdefault("url", API)
    options.setdefault("platform", "test")
    s, problems = validate_options(JsonSource.options, options)
    assert problems == []
    return JsonSource("j", s, SourceContext(http=PoliteHttp(client, rng=random.Random(0)), timezone=tz))


def serve(router, payload: Any = None, *, content: bytes | None = None, url: str = API):
    if content is not None:
        return router.get(url).respond(200, content=content, headers={"Content-Type": "application/json"})
    return router.get(url).respond(200, json=payload)


def check_posts(posts: list[Post], platform: str, *, markup_free: bool = True) -> None:
    assert len({p.id for p in posts}) == len(posts), "the same post twice in one poll"
    for post in posts:
        assert isinstance(post, Post)
        assert post.platform == platform
        assert post.id and post.text
        if markup_free:  # real posts; random text may well hold a plain "<?" that is no markup
            assert not _TAG.search(post.text), post.text
        parts = urlsplit(post.url)
        assert parts.scheme in ("http", "https") and parts.netloc, post.url
        if post.created_at is not None:
            assert post.created_at.utcoffset().total_seconds() == 0
        assert post.ref == ""


# -- Weibo (m.weibo.cn getIndex) -----------------------------------------------------------


def test_weibo_cards_become_posts(router, client):
    body = weibo()
    route = serve(router, body)
    posts = source(client, **WEIBO_MAPPING).fetch()
    check_posts(posts, "weibo")
    assert [p.id for p in posts] == [c["mblog"]["mid"] for c in body["data"]["cards"]]
    first = posts[0]
    assert first.id == "4806111732961615"
    assert first.url == "https://m.weibo.cn/status/4806111732961615"
    assert first.author == "Lo娘嘀咕嘀咕"
    # "Wed Aug 24 22:03:13 +0800 2022"
    assert first.created_at == datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)
    assert first.text.startswith("🌟#今日话题#🌟\n-房间整理[送花花]")  # emoji <img alt> kept, <br /> a line break
    assert (first.engagement.reposts, first.engagement.comments, first.engagement.likes, first.engagement.views) == (0, 68, 135, None)
    assert posts[1].text == "捞"
    assert posts[6].text.endswith("黑短L和XL[泪][泪]这也太难了，这是为啥啊")
    assert (posts[5].engagement.reposts, posts[5].engagement.comments, posts[5].engagement.likes) == (1, 12, 36)
    assert posts[-1].created_at == datetime(2022, 8, 24, 13, 59, 14, tzinfo=UTC)
    assert route.calls.last.request.headers["Accept"] == "application/json"


def test_weibo_cards_without_mblog_or_mid_are_skipped(router, client):
    body = weibo()
    cards = body["data"]["cards"]
    no_mid = copy.deepcopy(cards[0])
    del no_mid["mblog"]["mid"]
    no_text = copy.deepcopy(cards[0])
    no_text["mblog"]["mid"] = "1"
    no_text["mblog"]["text"] = "<br />"
    cards[1:1] = [{"card_type": 11, "card_group": []}, {"card_type": 58, "mblog": None}, no_mid, no_text, "junk", None, 7]
    serve(router, body)
    posts = source(client, **WEIBO_MAPPING).fetch()
    assert len(posts) == 10
    assert "1" not in {p.id for p in posts}


def test_weibo_link_from_the_card_scheme_and_repost_text_joined(router, client):
    body = weibo()
    serve(router, body)
    mapping = dict(WEIBO_MAPPING, url_field="scheme", text="mblog.text + mblog.retweeted_status.text")
    posts = source(client, **mapping).fetch()
    assert posts[0].url == "https://m.weibo.cn/status/M2yZDcqrZ?mblogid=M2yZDcqrZ&luicode=10000011&lfid=2304136074526225"
    assert [p.url for p in posts] == [c["scheme"] for c in body["data"]["cards"]]
    repost = posts[1]
    assert repost.text.startswith("捞\n#本期种草#▸ @SEVEN-BABY-Lolita原创工坊 ◂ 雾中花信\n")
    assert posts[0].text.startswith("🌟#今日话题#🌟")  # no retweeted_status: only its own text, no empty line


def test_weibo_display_counts_are_read(router, client):
    serve(router, weibo())
    (post, *_) = source(client, **dict(WEIBO_MAPPING, views="mblog.user.followers_count")).fetch()
    assert post.engagement.views == 434_000  # the string "43.4万"


# -- Hacker News (hn.algolia.com, 2014 index) ----------------------------------------------


def test_hn_story_with_text(router, client):
    serve(router, hn_reply("/api/v1/search?hitsPerPage=1&tags=(story)%2Cauthor_pg"))
    (post,) = source(client, **HN_MAPPING).fetch()
    check_posts([post], "hackernews")
    assert post.id == "5239673"
    assert post.url == "https://news.ycombinator.com/item?id=5239673"
    assert post.author == "pg"
    assert post.created_at == datetime(2013, 2, 18, 18, 26, 5, tzinfo=UTC)  # created_at_i 1361211965
    assert post.text.startswith("Why HN was down\nHacker News was down all last night.")
    assert (post.engagement.likes, post.engagement.comments, post.engagement.reposts) == (1027, 292, None)


def test_hn_story_with_link_and_empty_text(router, client):
    serve(router, hn_reply("/api/v1/search?hitsPerPage=1&tags=(story)"))
    (post,) = source(client, **dict(HN_MAPPING, url_field="url")).fetch()
    assert post.id == "3078128"
    assert post.text == "Steve Jobs has passed away."  # story_text "" adds no empty line
    assert post.url == "http://www.apple.com/stevejobs/"
    assert post.created_at == datetime(2011, 10, 5, 23, 42, 23, tzinfo=UTC)
    assert post.engagement.likes == 4271


def test_hn_empty_url_field_falls_back_to_the_template(router, client):
    serve(router, hn_reply("/api/v1/search?hitsPerPage=1&tags=(story)%2Cauthor_pg"))  # "url": ""
    (post,) = source(client, **dict(HN_MAPPING, url_field="url")).fetch()
    assert post.url == "https://news.ycombinator.com/item?id=5239673"


def test_hn_iso_and_epoch_times_agree(router, client):
    serve(router, hn_reply("/api/v1/search_by_date?hitsPerPage=1&tags=(ask_hn)&page=2&query=apple"))
    (by_epoch,) = source(client, **HN_MAPPING).fetch()
    (by_iso,) = source(client, **dict(HN_MAPPING, time="created_at")).fetch()  # "2014-06-19T09:53:30.000Z"
    assert by_epoch.created_at == by_iso.created_at == datetime(2014, 6, 19, 9, 53, 30, tzinfo=UTC)
    assert "I'm a college student from India" in by_epoch.text  # &#x27; decoded


def test_hn_comments_without_title_are_skipped(router, client):
    serve(router, hn_reply("/api/v1/search?hitsPerPage=1&tags=(comment)"))
    assert source(client, **HN_MAPPING).fetch() == []
    (comment,) = source(client, **dict(HN_MAPPING, text="comment_text")).fetch()
    assert comment.id == "6805807" and comment.author == "zedshaw"


def test_every_hn_reply_gives_posts_or_a_parse_error(router, client):
    entries = fixture_json(HN)
    assert len(entries) == 26
    outcomes = []
    for entry in entries:
        with respx.mock() as mock:
            serve(mock, entry["reply"])
            try:
                posts = source(client, **HN_MAPPING).fetch()
            except SourceError as exc:
                assert isinstance(exc, ParseError), f"{entry['url']}: {type(exc).__name__}: {exc}"
                assert "'hits'" in str(exc)
                outcomes.append("error")
                continue
        check_posts(posts, "hackernews")
        outcomes.append(len(posts))
    assert outcomes.count("error") == 2  # /items/17 and /users/pg have no "hits"
    assert outcomes.count(1) == 18 and outcomes.count(0) == 6  # the 6 comment searches: comments have no title


# -- times ---------------------------------------------------------------------------------


def listing(**fields: Any) -> list[dict]:
    return [dict({"id": "a1", "text": "hello"}, **fields)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1403235346, datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)),
        (1403235346000, datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)),  # milliseconds, by magnitude
        (1403235346123, datetime(2014, 6, 20, 3, 35, 46, 123000, tzinfo=UTC)),
        ("1403235346000", datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)),
        (1403235346.5, datetime(2014, 6, 20, 3, 35, 46, 500000, tzinfo=UTC)),
        ("2014-06-20T03:35:46.000Z", datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)),
        ("2014-06-20T11:35:46+08:00", datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)),
        ("2024-05-01 12:00:00", datetime(2024, 5, 1, 4, 0, tzinfo=UTC)),  # no zone: Asia/Shanghai
        ("2024-05-01T12:00", datetime(2024, 5, 1, 4, 0, tzinfo=UTC)),
        ("Sat, 01 Apr 2023 07:38:00 GMT", datetime(2023, 4, 1, 7, 38, tzinfo=UTC)),
        ("刚刚", None),
        ("", None),
        (True, None),
        (-5, None),
        (0, None),
        (10**30, None),
        ({"t": 1}, None),
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
    ],
)
def test_auto_times(router, client, value, expected):
    serve(router, listing(ts=value))
    (post,) = source(client, time="ts", id="id", text="text").fetch()
    assert post.created_at == expected


def test_naive_times_follow_the_context_zone(router, client):
    serve(router, listing(ts="2024-05-01 12:00:00"))
    (post,) = source(client, tz=ZoneInfo("UTC"), time="ts", id="id", text="text").fetch()
    assert post.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2024/05/01 12:00", "%Y/%m/%d %H:%M", datetime(2024, 5, 1, 4, 0, tzinfo=UTC)),  # naive: Shanghai
        ("Wed Aug 24 22:03:13 +0800 2022", "%a %b %d %H:%M:%S %z %Y", datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)),
        (20240501, "%Y%m%d", datetime(2024, 4, 30, 16, 0, tzinfo=UTC)),  # a number read as its digits
        ("5分钟前", "%Y/%m/%d %H:%M", None),
        (None, "%Y/%m/%d %H:%M", None),
    ],
)
def test_strptime_formats(router, client, value, fmt, expected):
    serve(router, listing(ts=value))
    (post,) = source(client, time="ts", time_format=fmt, id="id", text="text").fetch()
    assert post.created_at == expected


# -- paths and shapes ----------------------------------------------------------------------


@pytest.mark.parametrize("items", [None, "."])
def test_top_level_list(router, client, items):
    serve(router, [{"id": 1, "text": "one"}, {"id": 2, "text": "two"}])
    options = {"id": "id", "text": "text", "url_template": "https://x.test/p/{id}"}
    if items is not None:
        options["items"] = items
    posts = source(client, **options).fetch()  # items defaults to "": the response itself
    assert [(p.id, p.text, p.url) for p in posts] == [("1", "one", "https://x.test/p/1"), ("2", "two", "https://x.test/p/2")]


def test_integer_indexes_in_paths(router, client):
    item = {"key": {"id": "z9"}, "body": ["<b>first</b>", "second"], "stats": [{"count": "1.2k"}, {"count": 7}]}
    payload = {"data": [{"ignored": True}, {"list": [item]}]}
    serve(router, payload)
    (post,) = source(client, items="data.1.list", id="key.id", text="body.-1+body.0", likes="stats.0.count", views="stats.1.count").fetch()
    assert post.id == "z9"
    assert post.text == "second\nfirst"
    assert (post.engagement.likes, post.engagement.views) == (1200, 7)


def test_digit_keys_of_objects_are_keys(router, client):
    serve(router, {"0": [{"id": "a", "text": "x"}]})
    (post,) = source(client, items="0", id="id", text="text").fetch()
    assert post.id == "a"


def test_links(router, client):
    items = [
        {"id": "1", "text": "relative", "link": "/p/1"},
        {"id": "2", "text": "script", "link": "javascript:alert(1)"},
        {"id": "a b/c", "text": "quoted id", "link": None},
        {"id": "4", "text": "broken", "link": "http://[x"},
        {"id": "5", "text": "bad port", "link": "https://a.test:99999999/x"},
    ]
    serve(router, {"items": items})
    posts = source(client, items="items", id="id", text="text", url_field="link", url_template="https://x.test/p/{id}").fetch()
    assert [p.url for p in posts] == [
        "https://api.test/p/1", "https://x.test/p/2", "https://x.test/p/a%20b%2Fc", "https://x.test/p/4", "https://x.test/p/5",
    ]


def test_without_link_mapping_the_id_or_the_endpoint_is_the_link(router, client):
    serve(router, [{"id": "https://site.test/p/9", "text": "a"}, {"id": "7", "text": "b"}])
    posts = source(client, id="id", text="text").fetch()
    assert [p.url for p in posts] == ["https://site.test/p/9", API]


def test_same_id_twice_is_one_post(router, client):
    serve(router, [{"id": 1, "text": "first"}, {"id": "1", "text": "again"}])
    (post,) = source(client, id="id", text="text").fetch()
    assert post.text == "first"


def test_no_refresh(router, client):
    src = source(client, id="id", text="text")
    assert JsonSource.kind == "json" and JsonSource.refresh_batch == 0
    assert src.refresh(["1", "2"]) == []
    src.commit()


# -- failures: only SourceError ------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "items", "found"),
    [
        ({"data": {"cards": {}}}, "data.cards", "a JSON object"),
        ({"data": None}, "data.cards", "nothing"),
        ({"ok": 0, "msg": "请求过于频繁"}, "data.cards", "nothing"),
        ({"hits": "none"}, "hits", "a JSON string"),
        ({"hits": []}, ".", "a JSON object"),
        ([[1]], "0.0", "a JSON number"),
        (3, "hits", "nothing"),
    ],
)
def test_items_that_are_not_a_list_is_a_parse_error(router, client, payload, items, found):
    serve(router, payload)
    with pytest.raises(ParseError, match=re.escape(f"items path {items!r} does not lead to a list (found {found})")) as info:
        source(client, items=items, id="id", text="text").fetch()
    assert API in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b'{"data": {"cards": [{"mblog": {"mid": "1", "te', b"", b"<html><body>502 Bad Gateway</body></html>", b"\xff\xfe\x00", b"[" * 200_000],
    ids=["truncated", "empty", "html", "binary", "deep"],
)
def test_unreadable_body_is_a_parse_error(router, client, content):
    serve(router, content=content)
    with pytest.raises(ParseError):
        source(client, **dict(WEIBO_MAPPING)).fetch()


@pytest.mark.parametrize(
    ("key", "value"),
    [("items", "a..b"), ("id", ".id"), ("text", "title++body"), ("text", "title+"), ("author", "user."), ("likes", "stats. 0")],
)
def test_bad_path_fails_the_poll_before_any_request(router, client, key, value):
    route = serve(router, [])
    src = source(client, **{"id": "id", "text": "text", key: value})
    with pytest.raises(ResponseError, match=re.escape(f"json source: bad path {value!r} in {key}")):
        src.fetch()
    assert route.call_count == 0


def test_bad_path_message_is_exact(client):
    with pytest.raises(ResponseError) as info:
        source(client, items="a..b", id="id", text="text").fetch()
    assert str(info.value).startswith("json source: bad path 'a..b' in items")
    assert not isinstance(info.value, ParseError)


@pytest.mark.parametrize(
    ("path", "ok"),
    [("", True), (".", True), ("a", True), ("user.screen_name", True), ("stats.0.count", True), ("a.-1", True),
     ("a..b", False), (".a", False), ("a.", False), ("..", False), (" a", False), ("a. b", False)],
)
def test_check_path(path, ok):
    assert (check_path(path) is None) is ok


def test_check_text_paths():
    assert check_text_paths("title+story_text") is None
    assert check_text_paths("title + story_text") is None
    assert check_text_paths("title++body") is not None
    assert check_text_paths("+body") is not None


def test_settings_problems():
    good, problems = validate_options(JsonSource.options, dict(WEIBO_MAPPING, url=API))
    assert problems == [] and settings_problems(good) == []
    bad = dict(good, items="a..b", time_format="%Q", url_template="https://x.test/p/")
    assert [key for key, _ in settings_problems(bad)] == ["items", "time_format", "url_template"]
    assert settings_problems(dict(good, time_format="yyyy-mm-dd"))[0][0] == "time_format"
    assert settings_problems(dict(good, url_template="ftp://x.test/{id}"))[0][0] == "url_template"
    assert settings_problems(dict(good, url_template="https://[{id}"))[0][0] == "url_template"  # no ValueError


def test_options_declare_what_is_required():
    _, problems = validate_options(JsonSource.options, {})
    assert sorted(key for key, _ in problems) == ["id", "platform", "text", "url"]


def test_read_path_and_parse_time_are_total():
    assert read_path({"a": [1, {"b": 2}]}, "a.1.b") == 2
    assert read_path({"a": [1]}, "a.5") is None
    assert read_path({"a": [1]}, "a.x") is None
    assert read_path("s", "a") is None
    assert parse_time("x", "%Q", SHANGHAI) is None  # a bad format never raises


# -- property: random JSON in, Posts or a SourceError out ----------------------------------

_KEYS = st.sampled_from(["data", "id", "title", "text", "ts", "n", "link", "user", "name", "0", "1", ""]) | st.text(max_size=4)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["2024-05-01 12:00:00", "1403235346000", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "<p>hi &amp; <b>x",
         "javascript:alert(1)", "/rel/1", "http://[x", "https://a.test:99999999/x", "//evil.test/x", "http://", "43.4万", "1e400", "9" * 400, "Wed Aug 24 22:03:13 +0800 2022"]
    )
)
_JSON = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20)
_ITEM = st.fixed_dictionaries(
    {}, optional={"id": _LEAVES, "title": _JSON, "text": _LEAVES, "ts": _LEAVES, "n": _JSON, "link": _LEAVES, "user": _JSON, "data": _JSON}
)
_PAYLOAD = _JSON | st.builds(lambda items: {"data": items}, st.lists(_ITEM | _JSON, max_size=6))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=_PAYLOAD, time_format=st.sampled_from(["auto", "%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %z %Y"]))
def test_random_json_gives_posts_or_a_source_error(client, payload, time_format):
    mapping = {
        "platform": "fuzz", "items": "data", "id": "id", "text": "title+text", "url_field": "link",
        "url_template": "https://x.test/p/{id}", "author": "user.name", "time": "ts", "time_format": time_format,
        "likes": "n", "reposts": "data.0", "views": "0", "comments": "user.1",
    }
    with respx.mock() as mock:
        serve(mock, payload)
        try:
            posts = source(client, **mapping).fetch()
        except SourceError:
            return
    check_posts(posts, "fuzz", markup_free=False)
    for post in posts:
        assert isinstance(post.author, str) and isinstance(post.text, str)
        for counter in (post.engagement.likes, post.engagement.reposts, post.engagement.views, post.engagement.comments):
            assert counter is None or (isinstance(counter, int) and counter >= 0)
