"""The Weibo source against a real m.weibo.cn ``getIndex`` answer (shared/fixtures/real/weibo,
see SOURCES.md there) served through respx, Weibo's many ``created_at`` forms, and
hostile bodies: every answer becomes Posts or a ``SourceError``, never another exception."""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, RateLimited, ResponseError, SourceContext, SourceError, TransportError, validate_options
from sources import weibo as weibo_module
from sources.weibo import REPOST_SEPARATOR, WeiboSource, mblog_to_post, parse_weibo_time

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
WEIBO = FIXTURES / "weibo"
TIMELINE = "weibocrawler_getIndex_user_2304136074526225.json"
UID = "6074526225"  # containerid 230413<uid> in the capture; our source asks for 107603<uid>

API = "https://m.weibo.cn"
GET_INDEX = f"{API}/api/container/getIndex"
SHOW = f"{API}/statuses/show"
UTC = UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fixture_bytes(name: str = TIMELINE) -> bytes:
    path = WEIBO / name
    if not path.is_file():
        pytest.skip(
            f"real-world fixture weibo/{name} not found under {WEIBO} "
            "(expected the shared checkout next to the repo: <parent>/shared/fixtures/real/weibo)"
        )
    return path.read_bytes()


def fixture_json(name: str = TIMELINE) -> Any:
    return json.loads(fixture_bytes(name))


def fixture_mblogs() -> list[dict]:
    return [card["mblog"] for card in fixture_json()["data"]["cards"]]


def weibo(client: httpx.Client, tz: ZoneInfo = SHANGHAI, **raw: Any) -> WeiboSource:
    if not raw:
        raw = {"uid": UID}
    settings_, problems = validate_options(WeiboSource.options, raw)
    assert problems == []
    return WeiboSource("w", settings_, SourceContext(http=PoliteHttp(client, rng=random.Random(0)), timezone=tz))


def page(*cards: Any, ok: Any = 1) -> dict:
    return {"ok": ok, "data": {"cards": list(cards)}}


def mblog(mid: str = "4806111732961615", **overrides: Any) -> dict:
    base = {
        "created_at": "Wed Aug 24 22:03:13 +0800 2022",
        "id": mid,
        "mid": mid,
        "bid": "M2yZDcqrZ",
        "text": "艾克美的水壶<br />漏水了",
        "user": {"id": 6074526225, "screen_name": "Lo娘嘀咕嘀咕"},
        "reposts_count": 1,
        "comments_count": 2,
        "attitudes_count": 3,
    }
    base.update(overrides)
    return base


def check_posts(posts: list[Post]) -> None:
    assert len(posts) == len({p.id for p in posts})
    for post in posts:
        assert isinstance(post, Post)
        assert post.platform == "weibo"
        assert post.id.isdigit() and post.ref == post.id
        assert post.url.startswith("https://m.weibo.cn/status/")
        assert post.text == post.text.strip()
        assert "<" not in post.text and "&lt;" not in post.text
        assert not post.text.endswith("全文")
        assert post.created_at is not None and post.created_at.utcoffset().total_seconds() == 0


# -- the real timeline ---------------------------------------------------------------------


def test_real_timeline_gives_every_post(router, client):
    raw = fixture_mblogs()
    route = router.get(GET_INDEX).respond(200, content=fixture_bytes(), headers={"Content-Type": "application/json; charset=utf-8"})
    posts = weibo(client).fetch()
    assert route.call_count == 1
    assert len(posts) == 10
    check_posts(posts)
    assert [p.id for p in posts] == [m["mid"] for m in raw]
    for post, m in zip(posts, raw, strict=True):
        assert post.url == f"https://m.weibo.cn/status/{m['bid']}"
        assert post.author == m["user"]["screen_name"] == "Lo娘嘀咕嘀咕"
        assert post.engagement.reposts == m["reposts_count"]
        assert post.engagement.comments == m["comments_count"]
        assert post.engagement.likes == m["attitudes_count"]
    first = posts[0]
    assert first.id == "4806111732961615"
    assert first.url == "https://m.weibo.cn/status/M2yZDcqrZ"
    # "Wed Aug 24 22:03:13 +0800 2022" is 14:03:13 UTC
    assert first.created_at == datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)
    assert posts[-1].created_at == datetime(2022, 8, 24, 13, 59, 14, tzinfo=UTC)  # Wed Aug 24 21:59:14 +0800 2022
    # the topic link's text and the emoji's alt text survive; the markup does not
    assert first.text.startswith("🌟#今日话题#🌟\n-房间整理[送花花]\n本日工作已结束")
    assert (first.engagement.reposts, first.engagement.comments, first.engagement.likes) == (0, 68, 135)


def test_real_timeline_emoji_with_unquoted_alt(router, client):
    router.get(GET_INDEX).respond(200, content=fixture_bytes())
    post = next(p for p in weibo(client).fetch() if p.id == "4806111225976914")
    assert post.text == "【投稿】这里有点好奇一个现象，暗黑泡泡龙店家说库存爆仓无人补款，但是我在🐟求成🐶也求不到原价的黑短L和XL[泪][泪]这也太难了，这是为啥啊"
    assert (post.engagement.comments, post.engagement.likes) == (58, 307)


def test_real_reposts_carry_the_original_text(router, client):
    router.get(GET_INDEX).respond(200, content=fixture_bytes())
    posts = {p.id: p for p in weibo(client).fetch()}
    # a repost of a long (isLongText) post: the repost's own id and counters, the "...全文" link dropped
    repost = posts["4806111561517050"]
    assert repost.url == "https://m.weibo.cn/status/M2yZm6mEy"
    assert repost.created_at == datetime(2022, 8, 24, 14, 2, 32, tzinfo=UTC)
    comment, original = repost.text.split(REPOST_SEPARATOR)
    assert comment == "捞"
    assert original.startswith("#本期种草#▸ @SEVEN-BABY-Lolita原创工坊 ◂ 雾中花信")
    assert original.endswith("@SEVEN-BABY-Lolita原创工坊\n༶•┈┈┈┈┈┈┈୨♡୧┈┈")  # was "…┈┈ ...<a href="/status/…">全文</a>"
    assert "全文" not in repost.text
    assert (repost.engagement.reposts, repost.engagement.comments, repost.engagement.likes) == (0, 0, 2)
    # a repost of someone else's short post
    other = posts["4806110835644979"]
    assert other.author == "Lo娘嘀咕嘀咕"
    assert other.text.endswith(REPOST_SEPARATOR + "【挂店铺】我是之前中奖裙子流团了被换成内搭的娃子(第一张是我的投稿)，不能一条一条回复，为了让姐妹们避雷，我把聊天记录挂出来啦@Lo娘嘀咕嘀咕")
    assert sum(REPOST_SEPARATOR in p.text for p in posts.values()) == 5


def test_string_counters(router, client):
    payload = fixture_json()
    assert payload["data"]["cards"][0]["mblog"]["user"]["followers_count"] == "43.4万"  # the capture's own string count
    card = payload["data"]["cards"][0]
    card["mblog"].update(reposts_count="1.2k", comments_count="100万+", attitudes_count="43.4万")
    router.get(GET_INDEX).respond(200, json=payload)
    post = weibo(client).fetch()[0]
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (1200, 1_000_000, 434_000)
    card["mblog"].update(reposts_count="转发", comments_count=None, attitudes_count="1,234")
    router.get(GET_INDEX).respond(200, json=payload)
    post = weibo(client).fetch()[0]
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (None, None, None)


def test_created_at_follows_the_configured_zone_only_for_wall_times(router, client, monkeypatch):
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
    monkeypatch.setattr(weibo_module, "_utcnow", lambda: now)
    cards = [
        {"card_type": 9, "mblog": mblog("1", created_at="今天 10:03")},
        {"card_type": 9, "mblog": mblog("2", created_at="5分钟前")},
        {"card_type": 9, "mblog": mblog("3", created_at="Wed Aug 24 22:03:13 +0800 2022")},
    ]
    router.get(GET_INDEX).respond(200, json=page(*cards))
    shanghai = [p.created_at for p in weibo(client).fetch()]
    assert shanghai == [datetime(2026, 11, 22, 2, 3, tzinfo=UTC), now - timedelta(minutes=5), datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)]
    in_utc = [p.created_at for p in weibo(client, tz=ZoneInfo("UTC")).fetch()]
    assert in_utc == [datetime(2026, 11, 22, 10, 3, tzinfo=UTC), now - timedelta(minutes=5), datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)]


# -- requests ------------------------------------------------------------------------------


def test_user_timeline_request(router, client):
    route = router.get(GET_INDEX).respond(200, json=page())
    assert weibo(client).fetch() == []
    request = route.calls.last.request
    assert dict(request.url.params) == {"type": "uid", "value": UID, "containerid": f"107603{UID}"}
    assert request.headers["Accept"] == "application/json"


def test_keyword_search_request(router, client):
    route = router.get(GET_INDEX).respond(200, json=page())
    assert weibo(client, keyword="艾克美 漏水").fetch() == []
    request = route.calls.last.request
    assert dict(request.url.params) == {"containerid": "100103type=61&q=艾克美 漏水&t=0", "page_type": "searchall"}
    # the containerid is one parameter: its own = and & are escaped
    assert "containerid=100103type%3D61%26q%3D%E8%89%BE%E5%85%8B%E7%BE%8E" in str(request.url)


def test_base_url_is_used(router, client):
    route = router.get("http://weibo.test/api/container/getIndex").respond(200, json=page())
    assert weibo(client, uid=UID, base_url="http://weibo.test/").fetch() == []
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({}, "neither"),
        ({"keyword": "艾克美", "uid": UID}, "both"),
        ({"uid": "Lo娘嘀咕嘀咕"}, "numeric"),
        ({"uid": "123&containerid=1"}, "numeric"),
    ],
)
def test_listing_must_be_exactly_one_of_keyword_or_uid(router, client, raw, match):
    route = router.get(GET_INDEX).respond(200, json=page())
    settings_, problems = validate_options(WeiboSource.options, raw)
    assert problems == []  # both optional in the spec: the source itself says what is wrong
    source = WeiboSource("w", settings_, SourceContext(http=PoliteHttp(client)))
    with pytest.raises(ResponseError, match=match) as caught:
        source.fetch()
    assert "keyword" in str(caught.value) or "uid" in str(caught.value)
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("raw", "key"),
    [({}, "keyword"), ({"keyword": "艾克美", "uid": UID}, "uid"), ({"uid": "Lo娘嘀咕嘀咕"}, "uid"), ({"uid": UID}, None), ({"keyword": "艾克美"}, None)],
)
def test_check_reports_the_listing_problem_before_the_daemon_starts(raw, key):
    settings_, problems = validate_options(WeiboSource.options, raw)
    assert problems == []
    found = WeiboSource.check(settings_)
    assert [k for k, _ in found] == ([key] if key else [])


# -- card shapes ---------------------------------------------------------------------------


def test_search_page_with_card_groups(router, client):
    raw = fixture_mblogs()
    cards = [
        {"card_type": 11, "card_group": [{"card_type": 4, "desc": "热门"}, {"card_type": 9, "mblog": raw[0]}, {"card_type": 9, "mblog": raw[1]}]},
        {"card_type": 9, "mblog": raw[2]},
        {"card_type": 11, "card_group": [{"card_type": 9, "mblog": raw[0]}, {"card_type": 42, "mblog": raw[3]}, "junk", None]},
        {"card_type": 58, "desc": "没有更多了"},
        {"card_type": 9, "mblog": None},
        {"card_type": 9},
        {"card_type": 11, "card_group": None},
        "junk",
    ]
    router.get(GET_INDEX).respond(200, json=page(*cards))
    posts = weibo(client, keyword="嘀咕").fetch()
    assert [p.id for p in posts] == [raw[0]["mid"], raw[1]["mid"], raw[2]["mid"]]  # the repeat once, card 42 not at all
    check_posts(posts)


def test_mblog_fields():
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    post = mblog_to_post(mblog("123", bid=None, created_at="刚刚"), now, SHANGHAI)
    assert post is not None
    assert post.url == "https://m.weibo.cn/status/123"  # no bid: the id works too
    assert post.text == "艾克美的水壶\n漏水了"
    assert post.created_at == now
    post = mblog_to_post({"id": 4806111732961615, "text": "x"}, now, SHANGHAI)  # an int id, no mid
    assert post is not None and post.id == post.ref == "4806111732961615"
    assert post.author == "" and post.created_at is None
    assert post.engagement.known is False
    assert mblog_to_post({"text": "no id"}, now, SHANGHAI) is None
    assert mblog_to_post("x", now, SHANGHAI) is None


def test_long_text_ellipsis_forms():
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    long = mblog(isLongText=True, text='第一行<br />第二行…<a href="https://m.weibo.cn/status/4806111732961615">全文</a>')
    assert mblog_to_post(long, now, SHANGHAI).text == "第一行\n第二行"
    short = mblog(isLongText=False, text="读了全文")
    assert mblog_to_post(short, now, SHANGHAI).text == "读了全文"


def test_deleted_original_of_a_repost():
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    post = mblog_to_post(mblog(text="转发微博", retweeted_status={"id": "1", "text": "抱歉，此微博已被作者删除。", "user": None}), now, SHANGHAI)
    assert post is not None and post.text == "转发微博 //转发: 抱歉，此微博已被作者删除。"


# -- broken answers ------------------------------------------------------------------------


def test_a_search_with_no_results_yet_is_empty_not_a_failure(router, client):
    router.get(GET_INDEX).respond(200, json={"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}})
    assert weibo(client).fetch() == []


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"ok": 0, "msg": "这里还没有内容", "data": {"cards": [{"card_type": 58}]}}, "这里还没有内容"),
        ({"ok": -100, "url": "https://passport.weibo.cn/signin/welcome"}, "ok=-100"),
        ({"data": {"cards": []}}, "ok=None"),
        ({"ok": True, "data": {"cards": []}}, "ok=True"),
        ({"ok": "1", "data": {"cards": []}}, "ok='1'"),
    ],
)
def test_answer_that_is_not_ok_is_a_response_error(router, client, payload, match):
    router.get(GET_INDEX).respond(200, json=payload)
    with pytest.raises(ResponseError, match=match) as caught:
        weibo(client).fetch()
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<!DOCTYPE html><html><head><title>Sina Visitor System</title></head></html>",
        b'{"ok":1,"data":{"cards":[',
        b"null",
        b"[]",
        b'"ok"',
        b'{"ok":1}',
        b'{"ok":1,"data":null}',
        b'{"ok":1,"data":{"cards":{"card_type":9}}}',
        b"\xff\xfe\x00",
    ],
)
def test_broken_answer_is_a_parse_error(router, client, body):
    router.get(GET_INDEX).respond(200, content=body)
    with pytest.raises(ParseError):
        weibo(client).fetch()


@pytest.mark.parametrize("fraction", [0.01, 0.3, 0.5, 0.99])
def test_truncated_real_answer_is_a_parse_error(router, client, fraction):
    body = fixture_bytes()
    router.get(GET_INDEX).respond(200, content=body[: int(len(body) * fraction)])
    with pytest.raises(ParseError):
        weibo(client).fetch()


def test_http_errors_are_source_errors(router, client):
    router.get(GET_INDEX).respond(418)  # Weibo's "slow down, scraper": the whole host waits
    with pytest.raises(RateLimited):
        weibo(client).fetch()
    router.get(GET_INDEX).respond(503)
    with pytest.raises(TransportError):
        weibo(client, uid="1").fetch()


# -- refresh -------------------------------------------------------------------------------


def show(mblog_: dict) -> dict:
    return {"ok": 1, "data": mblog_}


def test_refresh_reads_each_ref(router, client):
    raw = fixture_mblogs()
    a = router.get(SHOW, params={"id": raw[0]["mid"]}).respond(200, json=show(raw[0]))
    b = router.get(SHOW, params={"id": raw[8]["mid"]}).respond(200, json=show(raw[8]))
    posts = weibo(client).refresh([raw[0]["mid"], raw[8]["mid"]])
    assert a.call_count == b.call_count == 1
    assert a.calls.last.request.url.params["id"] == raw[0]["mid"]
    assert [p.id for p in posts] == [raw[0]["mid"], raw[8]["mid"]]
    assert posts[0].created_at == datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)
    assert posts[0].engagement.likes == 135
    assert REPOST_SEPARATOR in posts[1].text
    check_posts(posts)


def test_refresh_skips_deleted_and_bad_refs(router, client):
    good = router.get(SHOW, params={"id": "1"}).respond(200, json=show(mblog("1")))
    gone = router.get(SHOW, params={"id": "2"}).respond(404)
    deleted = router.get(SHOW, params={"id": "3"}).respond(200, json={"ok": 0, "msg": "该微博不存在"})
    last = router.get(SHOW, params={"id": "5"}).respond(200, json=show(mblog("5")))
    anything = router.get(SHOW).respond(200, json=show(mblog("9")))
    posts = weibo(client).refresh(["1", "2", "M2yZDcqrZ", "", "../admin", "1", "3", "5"])
    assert [p.id for p in posts] == ["1", "5"]  # 2 and 3 are gone: their tracking ends
    assert [r.call_count for r in (good, gone, deleted, last)] == [1, 1, 1, 1]
    assert anything.call_count == 0  # the bid, the empty and the path were never sent


@pytest.mark.parametrize(
    "answer",
    [
        {"text": "<html>Sina Visitor System</html>"},  # a login wall is not a deleted post
        {"json": {"ok": 0, "msg": "请求过于频繁"}},  # nor is throttling
        {"status_code": 403},
    ],
)
def test_refresh_ends_the_round_on_anything_but_a_definite_gone(router, client, answer):
    router.get(SHOW, params={"id": "1"}).respond(200, json=show(mblog("1")))
    router.get(SHOW, params={"id": "2"}).respond(**({"status_code": 200} | answer))
    after = router.get(SHOW, params={"id": "3"}).respond(200, json=show(mblog("3")))
    with pytest.raises(SourceError):
        weibo(client).refresh(["1", "2", "3"])
    assert after.call_count == 0


def test_refresh_reads_at_most_refresh_batch(router, client):
    route = router.get(SHOW).respond(200, json={"ok": 0, "msg": "该微博不存在"})
    refs = ["", "bad", "M2yZDcqrZ"] * 5 + [str(n) for n in range(1, 30)]
    assert weibo(client).refresh(refs) == []
    assert route.call_count == WeiboSource.refresh_batch == 10  # refs that cannot be sent take no slot
    assert [c.request.url.params["id"] for c in route.calls] == [str(n) for n in range(1, 11)]


def test_refresh_stops_at_a_transport_error(router, client):
    router.get(SHOW, params={"id": "1"}).respond(200, json=show(mblog("1")))
    router.get(SHOW, params={"id": "2"}).respond(502)
    after = router.get(SHOW, params={"id": "3"}).respond(200, json=show(mblog("3")))
    with pytest.raises(TransportError):
        weibo(client).refresh(["1", "2", "3"])
    assert after.call_count == 0


def test_refresh_stops_when_rate_limited(router, client):
    router.get(SHOW, params={"id": "1"}).respond(429, headers={"Retry-After": "120"})
    after = router.get(SHOW, params={"id": "2"}).respond(200, json=show(mblog("2")))
    source = weibo(client)
    with pytest.raises(RateLimited):
        source.refresh(["1", "2"])
    with pytest.raises(TransportError):  # the host is backing off: nothing is sent
        source.refresh(["2"])
    assert after.call_count == 0


# -- parse_weibo_time ----------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # Sunday 22 Nov 2026, 16:00 in Shanghai
NEW_YEAR = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # 1 Jan 2026, 00:30 in Shanghai


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("Wed Aug 24 22:03:13 +0800 2022", NOW, datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)),
        ("Thu Jul 28 22:09:09 +0800 2022", NOW, datetime(2022, 7, 28, 14, 9, 9, tzinfo=UTC)),
        ("Tue Feb 23 12:28:47 -0500 2021", NOW, datetime(2021, 2, 23, 17, 28, 47, tzinfo=UTC)),
        ("刚刚", NOW, NOW),
        ("30秒前", NOW, NOW - timedelta(seconds=30)),
        ("5分钟前", NOW, NOW - timedelta(minutes=5)),
        ("59分钟前", NOW, NOW - timedelta(minutes=59)),
        ("3小时前", NOW, NOW - timedelta(hours=3)),
        ("2天前", NOW, NOW - timedelta(days=2)),
        (" 5 分钟前 ", NOW, NOW - timedelta(minutes=5)),
        ("今天 10:03", NOW, datetime(2026, 11, 22, 2, 3, tzinfo=UTC)),
        ("今天 00:10", NOW, datetime(2026, 11, 21, 16, 10, tzinfo=UTC)),
        ("昨天 10:00", NOW, datetime(2026, 11, 21, 2, 0, tzinfo=UTC)),
        ("昨天 23:59", NOW, datetime(2026, 11, 21, 15, 59, tzinfo=UTC)),
        ("前天 08:00", NOW, datetime(2026, 11, 20, 0, 0, tzinfo=UTC)),
        ("11-21 09:00", NOW, datetime(2026, 11, 21, 1, 0, tzinfo=UTC)),
        ("11-21", NOW, datetime(2026, 11, 20, 16, 0, tzinfo=UTC)),
        ("08-24", NOW, datetime(2026, 8, 23, 16, 0, tzinfo=UTC)),
        ("11-23 09:00", NOW, datetime(2025, 11, 23, 1, 0, tzinfo=UTC)),  # later this year: so last year
        ("12-25", NOW, datetime(2025, 12, 24, 16, 0, tzinfo=UTC)),
        ("2021-11-21", NOW, datetime(2021, 11, 20, 16, 0, tzinfo=UTC)),
        ("2021-11-21 09:00", NOW, datetime(2021, 11, 21, 1, 0, tzinfo=UTC)),
        ("2021-11-21 09:00:30", NOW, datetime(2021, 11, 21, 1, 0, 30, tzinfo=UTC)),
        # New Year's night in Shanghai, still 31 December in UTC
        ("12-31 23:00", NEW_YEAR, datetime(2025, 12, 31, 15, 0, tzinfo=UTC)),  # last year's, not this year's
        ("12-31", NEW_YEAR, datetime(2025, 12, 30, 16, 0, tzinfo=UTC)),
        ("01-01 00:10", NEW_YEAR, datetime(2025, 12, 31, 16, 10, tzinfo=UTC)),
        ("今天 00:10", NEW_YEAR, datetime(2025, 12, 31, 16, 10, tzinfo=UTC)),
        ("昨天 23:00", NEW_YEAR, datetime(2025, 12, 31, 15, 0, tzinfo=UTC)),
        ("5分钟前", NEW_YEAR, NEW_YEAR - timedelta(minutes=5)),
        # 29 February seen in a year without one: the last year that had it, if it was last year
        ("02-29", datetime(2025, 3, 1, tzinfo=UTC), datetime(2024, 2, 28, 16, 0, tzinfo=UTC)),
    ],
)
def test_parse_weibo_time(text, now, expected):
    parsed = parse_weibo_time(text, now, SHANGHAI)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset().total_seconds() == 0


def test_parse_weibo_time_in_another_zone():
    la = ZoneInfo("America/Los_Angeles")  # NOW is 00:00 on 22 Nov there
    assert parse_weibo_time("今天 10:03", NOW, la) == datetime(2026, 11, 22, 18, 3, tzinfo=UTC)
    assert parse_weibo_time("昨天 10:03", NOW, la) == datetime(2026, 11, 21, 18, 3, tzinfo=UTC)
    assert parse_weibo_time("2021-07-01", NOW, la) == datetime(2021, 7, 1, 7, 0, tzinfo=UTC)  # PDT
    assert parse_weibo_time("Wed Aug 24 22:03:13 +0800 2022", NOW, la) == datetime(2022, 8, 24, 14, 3, 13, tzinfo=UTC)


def test_parse_weibo_time_naive_now_is_utc():
    assert parse_weibo_time("5分钟前", NOW.replace(tzinfo=None), SHANGHAI) == NOW - timedelta(minutes=5)


@pytest.mark.parametrize(
    "text",
    [
        None, 1661349793, "", "   ", "abc", "刚才", "分钟前", "-5分钟前", "5分钟后", "今天 25:00", "昨天 10:61", "13-01",
        "02-30", "2021-02-30", "0000-01-01", "2021-11-21T09:00:00", "Wed Foo 24 22:03:13 +0800 2022",
        "Wed Aug 24 22:03:13 +2400 2022", "Wed Aug 32 22:03:13 +0800 2022", "999999999天前", "１１-２１",
        "02-29",  # on 22 Nov 2026: neither 2026 nor 2025 had one
        "11-21 09:00" * 10,
    ],
)
def test_parse_weibo_time_unknown_forms_are_none(text):
    assert parse_weibo_time(text, NOW, SHANGHAI) is None


def test_parse_weibo_time_at_the_ends_of_the_calendar():
    assert parse_weibo_time("12-31", datetime(1, 1, 1, tzinfo=UTC), SHANGHAI) is None
    assert parse_weibo_time("999999999天前", datetime(2026, 1, 1, tzinfo=UTC), SHANGHAI) is None
    assert parse_weibo_time("今天 10:00", datetime.max.replace(tzinfo=UTC), SHANGHAI) is None
    assert parse_weibo_time("Fri Dec 31 23:59:59 -0100 9999", NOW, SHANGHAI) is None


# -- properties ----------------------------------------------------------------------------

weibo_like_text = st.from_regex(
    r"\A(刚刚|\d{1,10}\s?(秒|分钟|小时|天)前|(今天|昨天|前天)( \d{1,2}:\d{2})?|\d{1,2}-\d{1,2}( \d{1,2}:\d{2})?"
    r"|\d{4}-\d{1,2}-\d{1,2}( \d{1,2}:\d{2}(:\d{2})?)?|[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d [+-]\d{4} \d{4})\Z"
)
zones = st.sampled_from([SHANGHAI, ZoneInfo("UTC"), ZoneInfo("America/Los_Angeles"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12")])
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=st.text(max_size=40) | weibo_like_text, now=st.datetimes(timezones=st.just(UTC)), tz=zones)
def test_parse_weibo_time_never_raises(text, now, tz):
    parsed = parse_weibo_time(text, now, tz)
    assert parsed is None or (isinstance(parsed, datetime) and parsed.utcoffset() == timedelta(0))


@PROPERTY
@given(text=weibo_like_text, now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_parse_weibo_time_relative_forms_are_never_after_now(text, now):
    """Counting back, and "MM-DD" (this year's or last year's), never give a time after now."""
    parsed = parse_weibo_time(text, now, SHANGHAI)
    if parsed is not None and (text == "刚刚" or text.endswith("前") or re.match(r"\d{1,2}-", text)):
        assert parsed <= now


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
mblogs = st.fixed_dictionaries(
    {},
    optional={
        "mid": st.sampled_from(["4806111732961615", "1"]) | json_values,
        "id": json_values,
        "bid": json_values,
        "text": st.sampled_from(['x<a href="/status/1">全文</a>', "<span><img alt=[泪]>", "…全文"]) | json_values,
        "isLongText": json_values,
        "created_at": weibo_like_text | json_values,
        "user": st.fixed_dictionaries({}, optional={"screen_name": json_values}) | json_values,
        "reposts_count": json_values,
        "comments_count": json_values,
        "attitudes_count": json_values,
        "retweeted_status": json_values,
    },
)
cards = st.fixed_dictionaries({"card_type": st.sampled_from([9, 11, "9"]) | json_values}, optional={"mblog": mblogs | json_values})
group_cards = st.fixed_dictionaries({"card_type": st.just(11), "card_group": st.lists(cards | json_values, max_size=3)})
answers = (
    json_values
    | st.fixed_dictionaries({"ok": st.just(1) | json_values, "data": st.fixed_dictionaries({"cards": st.lists(cards | group_cards | json_values, max_size=4)}) | json_values})
    | st.fixed_dictionaries({"ok": st.just(1), "data": mblogs | json_values})
)


def only_source_errors(body: bytes, *calls) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(GET_INDEX).respond(200, content=body)
        mock.get(SHOW).respond(200, content=body)
        for call in calls:
            check_result(call)


def check_result(call) -> None:
    try:
        posts = call()
    except SourceError:
        return
    assert isinstance(posts, list)
    for post in posts:
        assert isinstance(post, Post) and post.platform == "weibo" and post.id
        assert post.created_at is None or post.created_at.utcoffset().total_seconds() == 0


@PROPERTY
@given(payload=answers)
def test_any_json_answer_gives_posts_or_a_source_error(client, payload):
    source = weibo(client)
    only_source_errors(json.dumps(payload).encode(), source.fetch, lambda: source.refresh(["1", "4806111732961615"]))


@PROPERTY
@given(body=st.binary(max_size=300))
def test_any_bytes_give_posts_or_a_source_error(client, body):
    source = weibo(client)
    only_source_errors(body, source.fetch, lambda: source.refresh(["1"]))


def test_a_mutated_real_answer_gives_posts_or_a_source_error(router, client):
    """Each mblog field of the real capture replaced by odd values in turn (in a plain
    post and in a repost of a long post)."""
    payload = fixture_json()
    payload["data"]["cards"] = [payload["data"]["cards"][0], payload["data"]["cards"][1]]
    odd_values = [None, "", -1, [], {"a": 1}, "x" * 5000, 10**30, "\ud800"]
    route = router.get(GET_INDEX)
    source = weibo(client)
    for field in sorted(payload["data"]["cards"][0]["mblog"]):
        for value in odd_values:
            mutated = copy.deepcopy(payload)
            for card in mutated["data"]["cards"]:
                card["mblog"][field] = value
            route.respond(200, content=json.dumps(mutated).encode())
            check_result(source.fetch)
