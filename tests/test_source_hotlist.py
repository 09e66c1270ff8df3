"""The hotlist source against a loopback server serving the lists' endpoint shapes, built
from the real archives (tests/hotlist_bodies.py names the file behind each body), and
hostile answers: every answer becomes Posts with rank and heat, or one SourceError."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources import HttpPolicy, ParseError, PoliteHttp, ResponseError, SourceContext, SourceError, validate_options
from sources.hotlist import LISTS, MAX_ENTRIES, MAX_WORDS, HotListSource, baidu_page_data, parse_heat, read_baidu, read_bilibili_popular, read_douyin, read_toutiao, read_weibo
from tests.hotlist_bodies import HOTLISTS, archive, baidu_page, bilibili_body, bilibili_popular_body, douyin_body, signal_tracker_days, snapshots, toutiao_body, weibo_body, zhihu_body


@pytest.fixture
def polite():
    with httpx.Client() as client:
        yield PoliteHttp(client, HttpPolicy(read_timeout=2, connect_timeout=2, total_timeout=3, max_bytes=1_000_000), rng=random.Random(0))


def hotlist(polite: PoliteHttp, base: str, name: str = "weibo") -> HotListSource:
    settings, problems = validate_options(HotListSource.options, {"list": name, "base_url": base})
    assert problems == [] and HotListSource.check(settings) == []
    return HotListSource(f"{name}-hot", settings, SourceContext(http=polite))


def test_weibo_entries_are_posts_with_rank_and_heat_ads_and_pinned_skipped(loopback, polite):
    real = archive("weibo-top-search")
    loopback.json("/ajax/side/hotSearch", weibo_body(ad_at=2))
    posts = hotlist(polite, loopback.base).fetch()
    assert [p.title for p in posts] == [e["title"] for e in real]  # the ad and the pinned 置顶 item are not there
    first, third = posts[0], posts[2]
    assert first.platform == "weibo-hot" and first.id == real[0]["title"] and first.author == "微博热搜"
    assert (first.engagement.rank, first.engagement.heat) == (1, real[0]["hot"])
    assert (third.engagement.rank, third.engagement.heat) == (3, real[2]["hot"])  # realpos, not the position counting the ad
    assert first.url.startswith("https://s.weibo.com/weibo?q=%23") and first.created_at is not None
    assert first.engagement.total == 0  # heat is no engagement velocity


@pytest.mark.parametrize(
    ("name", "path", "body"),
    [
        ("zhihu", "/api/v3/feed/topstory/hot-lists/total", zhihu_body),
        ("toutiao", "/hot-event/hot-board/", toutiao_body),
        ("bilibili", "/main/hotword", bilibili_body),
        ("bilibili-popular", "/x/web-interface/popular", bilibili_popular_body),
        ("douyin", "/aweme/v1/web/hot/search/list/", douyin_body),
    ],
)
def test_each_json_list_reads_its_real_entries_in_order(loopback, polite, name, path, body):
    payload = body()
    loopback.json(path, payload)
    posts = hotlist(polite, loopback.base, name).fetch()
    assert posts and posts[0].platform == f"{name}-hot" and posts[0].author == LISTS[name].title
    assert [p.engagement.rank for p in posts] == list(range(1, len(posts) + 1))
    assert all(p.engagement.heat is not None for p in posts)
    assert all(p.url.startswith("https://") for p in posts)


def test_zhihu_heat_is_read_from_its_display_text(loopback, polite):
    loopback.json("/api/v3/feed/topstory/hot-lists/total", zhihu_body())
    first = hotlist(polite, loopback.base, "zhihu").fetch()[0]
    assert first.engagement.heat == (archive("weibo-top-search")[0]["hot"] // 10_000) * 10_000
    assert first.url == "https://www.zhihu.com/question/600000000"


def test_baidu_reads_the_page_data_and_skips_the_pinned_item(loopback, polite):
    loopback.routes["/board"] = (200, {"Content-Type": "text/html; charset=utf-8"}, baidu_page())
    posts = hotlist(polite, loopback.base, "baidu").fetch()
    real = archive("baidu-hot-search")
    assert [p.title for p in posts] == [e["title"] for e in real]
    assert posts[0].engagement.rank == 1 and posts[0].engagement.heat == real[0]["hot"]
    assert real[0]["summary"][:20] in posts[0].text


def test_a_login_page_is_one_clear_error(loopback, polite):
    page = "<!DOCTYPE html><html><head><title>Sina Visitor System</title></head><body>登录</body></html>".encode()
    loopback.routes["/ajax/side/hotSearch"] = (200, {"Content-Type": "text/html"}, page)
    with pytest.raises(ResponseError) as caught:
        hotlist(polite, loopback.base).fetch()
    message = str(caught.value)
    assert "\n" not in message and "HTML page" in message and "headers_env" in message and "weibo-hot" in message


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json at all", ParseError),
        (json.dumps({"ok": -100, "msg": "请先登录"}).encode(), ResponseError),
        (json.dumps({"ok": 1, "data": {"realtime": "nope"}}).encode(), ParseError),
        (json.dumps([1, 2, 3]).encode(), ResponseError),
        (b"[" * 100_000, ParseError),
    ],
)
def test_unusable_answers_are_source_errors(loopback, polite, body, error):
    loopback.routes["/ajax/side/hotSearch"] = (200, {"Content-Type": "application/json"}, body)
    with pytest.raises(error) as caught:
        hotlist(polite, loopback.base).fetch()
    assert "\n" not in str(caught.value)


def test_hostile_entries_are_capped_and_skipped(loopback, polite):
    realtime = [{"word": f"话题{i}" + "x" * 2000, "num": "1e999", "realpos": True} for i in range(300)]
    realtime += [None, 7, {"word": ""}, {"word": {"x": 1}}, {"num": 5}]
    loopback.json("/ajax/side/hotSearch", {"ok": 1, "data": {"realtime": realtime}})
    posts = hotlist(polite, loopback.base).fetch()
    assert len(posts) == MAX_ENTRIES
    assert all(len(p.title) <= 200 and p.engagement.heat is None for p in posts)
    assert [p.engagement.rank for p in posts[:3]] == [1, 2, 3]


def test_a_hotlist_source_takes_its_cookie_from_the_environment(loopback, make_app, tmp_path, monkeypatch):
    """The cookie Douyin wants is named in ``headers_env`` (never the file); how the secret
    travels is tested for every kind in test_source_secrets.py."""
    from tests.conftest import write_config

    body = json.dumps(douyin_body()).encode()  # built here: without the archive the test skips, not the server

    def answer():
        return (200, {"Content-Type": "application/json"}, body)

    loopback.routes["/aweme/v1/web/hot/search/list/"] = answer
    monkeypatch.setenv("DOUYIN_COOKIE", "ttwid=abc")
    source = f'\n[[sources]]\nname = "douyin-hot"\nkind = "hotlist"\nlist = "douyin"\nevery = "10m"\nbase_url = "{loopback.base}"\nheaders_env = {{ Cookie = "DOUYIN_COOKIE" }}\n'
    app = make_app(write_config(tmp_path, source))
    app.poll("douyin-hot")
    assert app.health["douyin-hot"].failures == 0 and loopback.hits["/aweme/v1/web/hot/search/list/"] == 1


def test_check_enforces_each_lists_floor_on_every(tmp_path):
    from monitor.config import ConfigError, load_config
    from sources import source_kinds
    from tests.conftest import write_config

    for name, spec in LISTS.items():
        ok = f'\n[[sources]]\nname = "{name}"\nkind = "hotlist"\nlist = "{name}"\nevery = "{int(spec.floor.total_seconds())}s"\n'
        load_config(write_config(tmp_path, ok), source_kinds())
        too_fast = ok.replace(f'every = "{int(spec.floor.total_seconds())}s"', f'every = "{int((spec.floor - timedelta(seconds=1)).total_seconds())}s"')
        with pytest.raises(ConfigError, match=r"sources\[0\]\.every: must be at least"):
            load_config(write_config(tmp_path, too_fast), source_kinds())
    with pytest.raises(ConfigError, match=r"sources\[0\]\.list: 'weixin' is not a hot list"):
        load_config(write_config(tmp_path, '\n[[sources]]\nname = "x"\nkind = "hotlist"\nlist = "weixin"\nevery = "10m"\n'), source_kinds())


@pytest.mark.parametrize(
    ("text", "heat"),
    [("622 万热度", 6_220_000), ("1.2亿", 120_000_000), ("1,234,567", 1_234_567), ("100万+", 1_000_000), ("热度 3.5w", 35_000), (1108263, 1108263),
     ("1.5", None), ("-3", None), ("", None), ("万", None), (True, None), (1.5, None), ("9" * 41, None), ("1e9", None)],
)
def test_heat_forms(text, heat):
    assert parse_heat(text) == heat


@given(st.one_of(st.text(max_size=60), st.integers(), st.floats(allow_nan=True), st.none(), st.booleans(), st.lists(st.integers(), max_size=3)))
def test_parse_heat_never_raises_and_is_a_bounded_count(value):
    heat = parse_heat(value)
    assert heat is None or (isinstance(heat, int) and 0 <= heat <= 2**53)


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", " 万热度", "万", "亿", " 热度"]))
def test_parse_heat_reads_what_it_is_shown(number, unit):
    scale = {"": 1, " 热度": 1, " 万热度": 10_000, "万": 10_000, "亿": 100_000_000}[unit]
    expected = number * scale
    assert parse_heat(f"{number:,}{unit}") == (expected if expected <= 2**53 else None)


def test_an_unusable_answer_never_raises_anything_but_a_source_error(loopback, polite):
    for body in (b"", b"null", b'{"ok":1}', b'{"ok":1,"data":{"realtime":[{"word":"x","realpos":-1,"num":"abc"}]}}', "\ud800".encode("utf-8", "surrogatepass")):
        loopback.routes["/ajax/side/hotSearch"] = (200, {"Content-Type": "application/json"}, body)
        try:
            hotlist(polite, loopback.base).fetch()
        except SourceError:
            pass


def _expected(entries):
    """What a list's parser should give for archived entries: the topic (as it is kept:
    spaces folded) in order, ranked from 1, with its heat."""
    kept = [e for e in entries if " ".join(e["title"].split())]
    return [(" ".join(e["title"].split())[:200], i, e["hot"]) for i, e in enumerate(kept[:MAX_ENTRIES], 1)]


@pytest.mark.parametrize(
    ("platform", "read"),
    [
        ("weibo-top-search", lambda entries: read_weibo(weibo_body(entries, ad_at=min(3, len(entries))))),
        ("toutiao-hot", lambda entries: read_toutiao(toutiao_body(entries))),
        ("douyin-hot", lambda entries: read_douyin(douyin_body(entries))),
        ("baidu-hot-search", lambda entries: read_baidu(baidu_page_data(baidu_page(entries).decode()))),
        ("bilibili-hot", lambda entries: read_bilibili_popular(bilibili_popular_body(entries))),
    ],
)
def test_every_archived_snapshot_parses_to_its_ranks_and_heat(platform, read):
    """All 72 archived snapshots of each list (13 days), rebuilt in the endpoint's shape."""
    checked = 0
    for entries in snapshots(platform):
        got = [(e.words, e.rank, e.heat) for e in read(entries)]
        assert got == _expected(entries)
        checked += 1
    assert checked >= 60


def test_bilibili_popular_videos_are_posts_by_their_bv_id_with_views_as_heat(loopback, polite):
    real = archive("bilibili-hot")
    body = bilibili_popular_body()
    body["data"]["list"].insert(2, {"title": "no id", "bvid": "../../etc", "stat": {"view": 1}})  # not a video: skipped
    body["data"]["list"].insert(2, {"title": "id and a newline", "bvid": "BV1y9ZDBhE4p\n", "stat": {"view": 1}})  # nor is this
    loopback.json("/x/web-interface/popular", body)
    posts = hotlist(polite, loopback.base, "bilibili-popular").fetch()
    assert [p.title for p in posts] == [" ".join(e["title"].split()) for e in real]
    first = posts[0]
    assert first.platform == "bilibili-popular-hot" and first.author == "B站热门" and first.id == real[0]["url"].rsplit("/", 1)[-1]
    assert first.url == f"https://www.bilibili.com/video/{first.id}" and (first.engagement.rank, first.engagement.heat) == (1, real[0]["hot"])
    assert posts[2].engagement.rank == 3  # the skipped item takes no place
    i, video = next((i, e) for i, e in enumerate(real) if e.get("summary", "-") != "-")
    assert posts[i].text == f"{posts[i].title}\nUP主 UP主{i} · {' '.join(video['summary'].split())[:1000]}"  # the uploader and the description
    assert first.text == f"{first.title}\nUP主 UP主0" if real[0].get("summary", "-") == "-" else first.text.startswith(f"{first.title}\nUP主 UP主0 · ")
    refused = {"code": -352, "message": "风控校验失败", "ttl": 1, "data": {"v_voucher": "voucher_x"}}
    loopback.json("/x/web-interface/popular", refused)
    with pytest.raises(ResponseError, match=r"code=-352\): 风控校验失败"):
        hotlist(polite, loopback.base, "bilibili-popular").fetch()


def test_thirty_days_of_weibo_topics_parse_with_their_heat():
    """weibo_signal_tracker: 30 days × 100 topics with Weibo's own heat (``count``)."""
    for entries in signal_tracker_days():
        got = read_weibo(weibo_body(entries))
        assert [(e.words, e.rank, e.heat) for e in got] == _expected(entries)


def test_the_same_list_again_is_no_new_reading_once_stored(loopback, polite):
    loopback.routes["/ajax/side/hotSearch"] = (200, {"Content-Type": "application/json", "ETag": '"v1"'}, json.dumps(weibo_body()).encode())
    source = hotlist(polite, loopback.base)
    assert source.fetch()
    assert source.fetch()  # not stored yet (no commit): read again
    source.commit()
    assert source.fetch() == []
    loopback.json("/ajax/side/hotSearch", weibo_body(ad_at=0))  # the list moved
    assert source.fetch()


def test_a_topic_that_leaves_the_list_gets_one_off_list_reading(loopback, polite):
    real = archive("weibo-top-search")
    loopback.json("/ajax/side/hotSearch", weibo_body(real))
    source = hotlist(polite, loopback.base)
    source.fetch()
    source.commit()
    loopback.json("/ajax/side/hotSearch", weibo_body(real[1:]))
    posts = source.fetch()
    gone = [p for p in posts if p.engagement.off_list]
    assert [p.id for p in gone] == [real[0]["title"]] and (gone[0].engagement.rank, gone[0].engagement.heat) == (None, None) and gone[0].engagement.known
    assert posts[0].engagement.rank == 1  # realpos of the rest as the list now says
    source.commit()
    loopback.json("/ajax/side/hotSearch", weibo_body(real[2:]))
    assert [p.id for p in source.fetch() if p.engagement.off_list] == [real[1]["title"]]  # the first is not told again


JUSTJAVAC = HOTLISTS / "weibo_justjavac" / "raw"


@pytest.mark.skipif(not JUSTJAVAC.is_dir(), reason="shared/fixtures/real/hotlists not found")
def test_a_month_of_real_weibo_topics_from_another_scraper_all_read():
    """justjavac/weibo-trending-hot-search's daily files (9,848 topic-days scraped from
    s.weibo.com, a source the other tests do not use): each topic, put in the JSON list at
    the rank its address says, comes back with its words and that rank."""
    days = 0
    for path in sorted(JUSTJAVAC.glob("*.json")):
        topics = json.loads(path.read_text(encoding="utf-8"))
        realtime = []
        for topic in topics[:MAX_ENTRIES]:
            rank = parse_qs(urlsplit(topic["url"]).query).get("band_rank", [None])[0]
            realtime.append({"word": topic["title"], "realpos": int(rank) if rank else None, "num": 1000})
        entries = read_weibo({"ok": 1, "data": {"realtime": realtime}})
        assert [e.words for e in entries] == [t["word"].strip()[:MAX_WORDS] for t in realtime if t["word"].strip()]
        assert all(e.rank == (t["realpos"] or e.rank) for e, t in zip(entries, realtime, strict=True))
        days += 1
    assert days == 30


def test_a_hostile_list_is_read_within_its_bounds():
    """Hundreds of thousands of entries, megabyte words, nested junk and absurd numbers:
    at most MAX_ENTRIES entries come back, each within its bounds, and nothing raises."""
    junk = [{"word": "艾克美" * 400_000, "realpos": 10**30, "num": "9" * 500}, {"word": {"a": [[[]]]}}, None, "x", 7,
            {"word": "烫伤", "realpos": -3, "num": float("inf")}, {"word": "ok", "realpos": True, "num": "1.5亿"}]
    entries = read_weibo({"ok": 1, "data": {"realtime": junk * 40_000}})
    assert len(entries) <= MAX_ENTRIES
    assert all(len(e.words) <= MAX_WORDS and 1 <= e.rank and (e.heat is None or e.heat >= 0) for e in entries)
    assert {e.words for e in entries} <= {"艾克美" * (MAX_WORDS // 3) + "艾克美"[: MAX_WORDS % 3], "烫伤", "ok"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["title", "bvid", "desc", "owner", "name", "stat", "view", "list", "data", "code"]), inner, max_size=5),
    max_leaves=25,
)


@given(st.lists(_JSON, max_size=8), st.sampled_from(["BV1y9ZDBhE4p", "BV1", "bv1y9ZDBhE4p", "", "BV1y9ZDBhE4p\n"]))
def test_a_popular_videos_answer_of_any_shape_reads_within_bounds_or_is_a_source_error(items, bvid):
    payload = {"code": 0, "data": {"list": [*items, {"title": "艾克美测评", "bvid": bvid, "stat": {"view": "12万"}}]}}
    try:
        entries = read_bilibili_popular(payload)
    except SourceError:
        return
    assert len(entries) <= MAX_ENTRIES and all(e.key.startswith("BV") and len(e.key) == 12 and e.rank == i for i, e in enumerate(entries, 1))
    assert ("艾克美测评" in [e.words for e in entries]) == (bvid == "BV1y9ZDBhE4p")
