"""Ranks as a severity signal (issue 16), through the real pipeline: a loopback server
serving 微博热搜's endpoint shape built from the real archive (tests/hotlist_bodies.py:
multi_platform_x_hot_data/weibo-top-search/now.json), the App as the daemon builds it,
a real SQLite file and a fake clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from alerts import Severity
from monitor.config import ScoringConfig
from monitor.detect.scoring import Baseline, Evidence, Sighting, assess
from monitor.storage.models import PostRow, SnapshotRow
from tests.conftest import write_config
from tests.hotlist_bodies import weibo_body, with_topic
from tests.test_detection import queued_routes, tickets

HOT_SEARCH = "/ajax/side/hotSearch"
TOPIC = "艾克美保温杯盖子一拧就弹开"  # names the brand, no crisis term: only the rank speaks


def weibo_hot(base: str) -> str:
    return f'\n[[sources]]\nname = "weibo-hot"\nkind = "hotlist"\nlist = "weibo"\nevery = "5m"\nbase_url = "{base}"\n'


def test_brand_entering_weibo_hot_search_at_30_is_important_and_at_5_urgent_within_one_poll(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    loopback.json(HOT_SEARCH, weibo_body())
    app.poll("weibo-hot")
    assert tickets(app) == []  # the real list, no brand on it

    clock.advance(minutes=5)
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 30, 312_345)))
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    assert "on 微博热搜 at rank 30 (≤ 50), heat 312,345 → important" in ticket["reasons"]
    assert queued_routes(app) == ["important-pr"]

    clock.advance(minutes=5)
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 5, 1_234_567)))
    app.poll("weibo-hot")
    [ticket] = tickets(app)  # the same ticket, raised
    assert ticket["severity"] == "urgent"
    assert (
        "on 微博热搜 at rank 5 (≤ 10), heat 1,234,567, up from rank 30 in 5m 上升, climbing fast 快速上升: up 25 places (≥ 25) and heat +295 % (≥ 200 %) in 5m → urgent"
        in ticket["reasons"]
    )
    assert ticket["due_at"] == (clock.now + timedelta(hours=1)).isoformat()
    assert queued_routes(app) == ["important-pr", "urgent-management", "urgent-pr"]
    assert app.health["weibo-hot"].failures == 0

    clock.advance(minutes=5)
    loopback.json(HOT_SEARCH, weibo_body())  # the topic has left the list
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent"  # leaving the list lowers nothing
    with app.sessions() as s:
        post = s.scalar(select(PostRow).where(PostRow.platform == "weibo-hot", PostRow.platform_id == TOPIC))
        readings = [(r.rank, r.heat) for r in s.scalars(select(SnapshotRow).where(SnapshotRow.post_id == post.id).order_by(SnapshotRow.at))]
    assert readings == [(30, 312_345), (5, 1_234_567), (None, None)]


def test_a_topic_that_sat_still_then_climbed_within_the_window_is_climbing_fast(tmp_path, loopback, make_app, clock):
    """A reading is stored only when rank or heat moves: a topic at 40 for an hour and a
    half, then at 10, rose 30 places within the last hour though no reading falls in it."""
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 40, 100_000)))
    app.poll("weibo-hot")
    clock.advance(minutes=90)  # the same list all along: nothing new stored
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 10, 400_000)))
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    [reason] = [r for r in ticket["reasons"] if r.startswith("on 微博热搜 at rank 10")]
    assert ", climbing fast 快速上升: up 30 places (≥ 25) and heat +300 % (≥ 200 %) in 1h 00m → urgent" in reason


def readings_of(app, words: str) -> list[tuple[int | None, int | None]]:
    with app.sessions() as s:
        post = s.scalar(select(PostRow).where(PostRow.platform == "weibo-hot", PostRow.platform_id == words))
        return [(r.rank, r.heat) for r in s.scalars(select(SnapshotRow).where(SnapshotRow.post_id == post.id).order_by(SnapshotRow.at, SnapshotRow.id))]


def test_a_topic_that_left_the_list_while_the_daemon_was_down_is_recorded_leaving(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, weibo_hot(loopback.base))
    listed = with_topic(TOPIC, 5, 1_234_567)
    loopback.json(HOT_SEARCH, weibo_body(listed))
    make_app(config).poll("weibo-hot")  # then the process stops

    clock.advance(minutes=20)  # down for 20 minutes; meanwhile the topic and one other left
    stayed = [e for e in listed if e["title"] not in (TOPIC, listed[0]["title"])]
    loopback.json(HOT_SEARCH, weibo_body(stayed))
    restarted = make_app(config)
    restarted.poll("weibo-hot")
    assert readings_of(restarted, TOPIC) == [(5, 1_234_567), (None, None)]
    assert readings_of(restarted, listed[0]["title"])[-1] == (None, None)
    assert readings_of(restarted, stayed[0]["title"])[-1][0] == 1  # still listed: no off-list reading
    with restarted.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SnapshotRow).where(SnapshotRow.rank.is_(None))) == 2

    clock.advance(minutes=5)
    loopback.json(HOT_SEARCH, weibo_body(listed))  # back on the list: a new ranked reading
    restarted.poll("weibo-hot")
    assert readings_of(restarted, TOPIC) == [(5, 1_234_567), (None, None), (5, 1_234_567)]


def test_a_topic_low_on_the_list_or_without_the_brand_raises_nothing(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    entries = with_topic(TOPIC, 50, 90_000) + [{"title": "艾克美小区今天停水", "hot": 80_000, "url": ""}]  # excluded by the brand's own rule
    loopback.json(HOT_SEARCH, weibo_body(entries))
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"  # 50 is still ≤ hotlist_important
    loopback.json(HOT_SEARCH, weibo_body(with_topic("某某品牌发布会", 3, 2_000_000)))
    clock.advance(minutes=5)
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"  # only the brand's topic raises


def test_rank_rules_in_assess_and_off_at_zero():
    scoring = ScoringConfig()
    at = lambda rank, heat=None: assess(Evidence(categories=[], velocity=0, volume=0, hotlist=Sighting("知乎热榜", rank, heat)), scoring)  # noqa: E731
    assert at(51).severity is None
    assert at(50).severity is Severity.important and at(50).reasons == ("on 知乎热榜 at rank 50 (≤ 50) → important",)
    assert at(10, 7).severity is Severity.urgent and at(10, 7).reasons == ("on 知乎热榜 at rank 10 (≤ 10), heat 7 → urgent",)
    climbed = Sighting("微博热搜", 7, 1_234_567, 48, timedelta(minutes=10))
    assert assess(Evidence(categories=[], velocity=0, volume=0, hotlist=climbed), scoring).reasons == (
        "on 微博热搜 at rank 7 (≤ 10), heat 1,234,567, up from rank 48 in 10m 上升 → urgent",
    )
    fell = Sighting("微博热搜", 7, None, 3, timedelta(minutes=10))
    assert assess(Evidence(categories=[], velocity=0, volume=0, hotlist=fell), scoring).reasons == ("on 微博热搜 at rank 7 (≤ 10) → urgent",)
    off = ScoringConfig(hotlist_important=0, hotlist_urgent=0)
    assert assess(Evidence(categories=[], velocity=0, volume=0, hotlist=Sighting("知乎热榜", 1)), off).severity is None


def test_climbing_fast_is_said_only_past_its_thresholds_and_off_at_zero():
    scoring = ScoringConfig()
    reason = lambda since, rank=9, heat=900_000, s=scoring: assess(  # noqa: E731
        Evidence(categories=[], velocity=0, volume=0, hotlist=Sighting("微博热搜", rank, heat, since=since)), s
    ).reasons[0]
    assert reason(Baseline(34, 300_000, timedelta(minutes=40))) == (
        "on 微博热搜 at rank 9 (≤ 10), heat 900,000, climbing fast 快速上升: up 25 places (≥ 25) and heat +200 % (≥ 200 %) in 40m → urgent"
    )
    assert reason(Baseline(33, 300_001, timedelta(minutes=40))) == "on 微博热搜 at rank 9 (≤ 10), heat 900,000 → urgent"  # 24 places, +199 %: ordinary churn
    assert reason(Baseline(20, 100_000, timedelta(minutes=50))).endswith("climbing fast 快速上升: heat +800 % (≥ 200 %) in 50m → urgent")
    assert reason(Baseline(40, None, timedelta(minutes=20)), heat=None).endswith("climbing fast 快速上升: up 31 places (≥ 25) in 20m → urgent")
    off = ScoringConfig(hotlist_climb_ranks=0, hotlist_heat_growth=0)
    assert reason(Baseline(50, 1_000, timedelta(minutes=20)), s=off) == "on 微博热搜 at rank 9 (≤ 10), heat 900,000 → urgent"


def test_climbing_fast_is_measured_within_the_window_on_the_stored_readings(tmp_path, loopback, make_app, clock):
    """Two hours from rank 50 to rank 10 is not fast: the first reading within the hour
    (rank 34) is the baseline, 24 places."""
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    for rank, heat in ((50, 100_000), (34, 150_000), (10, 400_000)):
        loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, rank, heat)))
        app.poll("weibo-hot")
        clock.advance(minutes=60)
    [ticket] = tickets(app)
    assert ticket["reasons"][-1] == "on 微博热搜 at rank 10 (≤ 10), heat 400,000, up from rank 34 in 1h 上升 → urgent"


def test_the_same_climb_within_half_an_hour_is_climbing_fast(tmp_path, loopback, make_app, clock):
    """(Its own test, so its own database on PostgreSQL too: a second app in one test
    shares the first one's database there and would find the same topic's ticket.)"""
    app2 = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    for rank, heat in ((45, 100_000), (8, 350_000)):
        loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, rank, heat)))
        app2.poll("weibo-hot")
        clock.advance(minutes=30)
    [ticket] = tickets(app2)
    assert ticket["reasons"][-1].endswith("climbing fast 快速上升: up 37 places (≥ 25) and heat +250 % (≥ 200 %) in 30m → urgent")


def test_check_refuses_an_urgent_rank_below_the_important_one(tmp_path):
    import pytest

    from monitor.config import ConfigError, load_config
    from sources import source_kinds

    path = write_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('track_for = "48h"', 'track_for = "48h"\nhotlist_important = 5\nhotlist_urgent = 20'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scoring\.hotlist_urgent: rank 20 is lower on the list than hotlist_important \(5\)"):
        load_config(path, source_kinds())


def test_the_alert_mail_shows_rank_and_heat_per_list_and_when_the_topic_first_appeared_on_each(tmp_path, loopback, make_app, clock, smtp):
    import io

    from PIL import Image

    from tests.conftest import smtp_block
    from tests.hotlist_bodies import zhihu_body
    from tests.test_charts import blue_rows, red_rows

    zhihu = zhihu_body()
    zhihu["data"][19]["target"]["title"] = "如何看待艾克美保温杯盖子弹开？"  # rank 20 on 知乎热榜
    config = weibo_hot(loopback.base) + f'\n[[sources]]\nname = "zhihu-hot"\nkind = "hotlist"\nlist = "zhihu"\nevery = "5m"\nbase_url = "{loopback.base}"\n'
    app = make_app(write_config(tmp_path, config, smtp_block(smtp.port)))
    loopback.json("/api/v3/feed/topstory/hot-lists/total", zhihu)
    for i, rank in enumerate((30, 12, 5)):
        loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, rank, 2_000_000 // rank)))
        app.poll("weibo-hot")
        if i == 0:
            clock.advance(minutes=2)
            app.poll("zhihu-hot")
        clock.advance(minutes=5)
    app.deliver()
    mails = smtp.wait_for(3)
    mail = [m for m in mails if "pr-team" in m["To"] and "urgent" in m["Subject"]][-1]
    html = mail.get_body(("html",)).get_content()
    assert "热榜排名与热度 rank and heat on the hot lists" in html and "互动曲线" not in html  # a hot-list topic has no engagement to draw
    weibo = f"微博热搜 · {TOPIC} · 首次上榜 first on the list 11-22 16:00 · best rank 5 · peak heat 400,000 · now rank 5"
    zhihu_line = "知乎热榜 · 如何看待艾克美保温杯盖子弹开？ · 首次上榜 first on the list 11-22 16:02 · best rank 20"
    assert weibo in html and zhihu_line in html and html.index(weibo) < html.index(zhihu_line)  # best-placed list first
    assert 'src="cid:rank-curve-weibo-hot"' in html and 'src="cid:rank-curve-zhihu-hot"' in html
    text = mail.get_body(("plain",)).get_content()
    assert f"热榜 hot list: {weibo} (rank and heat curve in the HTML part)" in text and f"热榜 hot list: {zhihu_line}" in text
    images = {part["Content-ID"]: part.get_content() for part in mail.walk() if part.get_content_type() == "image/png"}
    assert set(images) == {"<rank-curve-weibo-hot>", "<rank-curve-zhihu-hot>"}
    png = images["<rank-curve-weibo-hot>"]
    assert Image.open(io.BytesIO(png)).size == (480, 230)
    assert min(red_rows(png, 420, 470)) < min(red_rows(png, 95, 130)) - 40  # rank 30 → 5: up on the inverted axis
    assert min(blue_rows(png, 420, 470)) < min(blue_rows(png, 95, 130)) - 30  # heat 66,666 → 400,000: up


def test_a_topic_that_joins_after_the_posts_a_mail_lists_still_gets_its_list_chart(tmp_path, loopback, make_app, clock, smtp, monkeypatch):
    """A mail lists the first posts of a ticket only; a topic that reaches a list after the
    first complaints (here: after the first post, the cap made 1) still gets its chart."""
    from monitor.delivery import notify
    from tests.conftest import smtp_block
    from tests.hotlist_bodies import zhihu_body

    monkeypatch.setattr(notify, "MAX_POSTS_IN_MESSAGE", 1)
    zhihu = zhihu_body()
    zhihu["data"][7]["target"]["title"] = "如何看待艾克美保温杯盖子弹开？"  # rank 8 on 知乎热榜
    config = weibo_hot(loopback.base) + f'\n[[sources]]\nname = "zhihu-hot"\nkind = "hotlist"\nlist = "zhihu"\nevery = "5m"\nbase_url = "{loopback.base}"\n'
    app = make_app(write_config(tmp_path, config, smtp_block(smtp.port)))
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 30, 312_345)))
    app.poll("weibo-hot")  # the ticket's first post
    clock.advance(minutes=1)
    loopback.json("/api/v3/feed/topstory/hot-lists/total", zhihu)
    app.poll("zhihu-hot")  # its second: past the posts the mail lists
    app.deliver()
    mail = [m for m in smtp.wait_for(2) if "pr-team" in m["To"] and "urgent" in m["Subject"]][-1]
    html = mail.get_body(("html",)).get_content()
    assert "知乎热榜 · 如何看待艾克美保温杯盖子弹开？ · 首次上榜 first on the list" in html and 'src="cid:rank-curve-zhihu-hot"' in html
    images = {part["Content-ID"] for part in mail.walk() if part.get_content_type() == "image/png"}
    assert images == {"<rank-curve-weibo-hot>", "<rank-curve-zhihu-hot>"}


def test_the_console_shows_each_list_with_when_the_topic_first_appeared_and_draws_rank_and_heat(tmp_path, loopback, make_app, clock, tokenizers):
    import re

    from monitor.storage.models import TicketRow
    from monitor.web.console import Console
    from monitor.web.users import add_user
    from tests.hotlist_bodies import zhihu_body
    from tests.webkit import PASSWORD, client_for, sign_in

    zhihu = zhihu_body()
    zhihu["data"][19]["target"]["title"] = "如何看待艾克美保温杯盖子弹开？"  # rank 20 on 知乎热榜
    config = weibo_hot(loopback.base) + f'\n[[sources]]\nname = "zhihu-hot"\nkind = "hotlist"\nlist = "zhihu"\nevery = "5m"\nbase_url = "{loopback.base}"\n'
    app = make_app(write_config(tmp_path, config))
    loopback.json("/api/v3/feed/topstory/hot-lists/total", zhihu)
    for i, rank in enumerate((30, 12, 5)):
        loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, rank, 2_000_000 // rank)))
        app.poll("weibo-hot")
        if i == 1:
            app.poll("zhihu-hot")
        clock.advance(minutes=5)
    loopback.json(HOT_SEARCH, weibo_body())  # gone from 微博热搜 at 16:15
    app.poll("weibo-hot")
    console = Console(config=lambda: app.config, sessions=app.sessions, read_sessions=app.read_sessions, secret=b"x" * 40, clock=clock, tokenizers=tokenizers, write_lock=app.write_lock)
    with app.sessions() as s:
        add_user(s, "王经理", PASSWORD, clock())
        s.commit()
        ticket_id = s.scalars(select(TicketRow)).one().id
    client = client_for(console)
    assert sign_in(client).status_code == 303
    page = client.get(f"/tickets/{ticket_id}", headers={"accept-language": "en"}).text
    table = page[page.index('id="hot-lists"'):page.index("</table>")]
    rows = [re.sub(r"<[^>]+>", " ", row).split() for row in table.split("<tr>")[2:]]
    # list, topic, first on the list, best rank, peak heat, now
    assert " ".join(rows[0]) == f"微博热搜 {TOPIC} 2026-11-22 16:00 5 400,000 left the list 2026-11-22 16:15"
    assert " ".join(rows[1]) == "知乎热榜 如何看待艾克美保温杯盖子弹开？ 2026-11-22 16:05 20 100,000 20"  # "10 万热度"
    assert page.count('<svg class="curve rank"') == 2 and page.count('class="heat-dot"') == 4  # a rank-and-heat chart per topic, one per list (知乎: one reading)
    weibo_chart = page[page.index('<svg class="curve rank"'):]
    weibo_chart = weibo_chart[: weibo_chart.index("</svg>")]
    assert weibo_chart.count('class="dot"') == 3 and weibo_chart.count('class="heat-dot"') == 3  # three readings on the list, then gone
    assert '<text x="40" y="14" text-anchor="end">1</text>' in weibo_chart  # rank 1 at the top
    rank_y = [float(y) for y in re.findall(r'<circle cx="[0-9.]+" cy="([0-9.]+)" r="2.5" class="dot"/>', weibo_chart)]
    heat_y = [float(y) for y in re.findall(r'<circle cx="[0-9.]+" cy="([0-9.]+)" r="2" class="heat-dot"/>', weibo_chart)]
    assert rank_y == sorted(rank_y, reverse=True) and heat_y == sorted(heat_y, reverse=True) and min(heat_y) > max(rank_y)  # both climb; heat below
    api = client.get(f"/api/tickets/{ticket_id}").json()
    assert [h["list"] for h in api["hot_lists"]] == ["微博热搜", "知乎热榜"] and api["hot_lists"][0]["left_at"] is not None
    weibo_post = next(p for p in api["posts"] if p["platform"] == "weibo-hot")
    assert [(r["rank"], r["heat"]) for r in weibo_post["ranks"]] == [(30, 66_666), (12, 166_666), (5, 400_000), (None, None)]


def test_a_topic_in_a_ticket_full_of_engaged_posts_still_has_its_rank_chart(tmp_path, loopback, make_app, clock, monkeypatch):
    """The console draws the most engaged posts' curves; a hot-list topic has no engagement,
    so it must not queue behind them for its rank-and-heat chart (the cap made 1 here)."""
    from monitor.storage.models import TicketRow
    from monitor.web import views
    from tests.conftest import mastodon_source, status
    from tests.test_detection import TIMELINE

    monkeypatch.setattr(views, "MAX_CURVES", 1)
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base), mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("2", "孩子用艾克美保温杯被烫伤了，手上起了水泡", reblogs=40)])
    app.poll("masto")
    loopback.json(HOT_SEARCH, weibo_body(with_topic("艾克美保温杯烫伤儿童", 40, 150_000)))
    app.poll("weibo-hot")
    with app.read_sessions() as s:
        detail = views.ticket_page(s, s.scalars(select(TicketRow)).one(), clock())
    by_platform = {p["platform"]: p for p in detail["posts"]}
    assert set(by_platform) == {"mastodon", "weibo-hot"}  # one ticket: the complaint and the topic
    assert by_platform["mastodon"]["curve"] and [(r["rank"], r["heat"]) for r in by_platform["weibo-hot"]["ranks"]] == [(40, 150_000)]


def test_the_same_brand_on_two_lists_is_one_ticket_showing_each_list(tmp_path, loopback, make_app, clock):
    from tests.hotlist_bodies import zhihu_body

    zhihu = zhihu_body()
    zhihu["data"][7]["target"]["title"] = "如何看待艾克美保温杯盖子弹开？"  # rank 8 on 知乎热榜
    config = weibo_hot(loopback.base) + f'\n[[sources]]\nname = "zhihu-hot"\nkind = "hotlist"\nlist = "zhihu"\nevery = "5m"\nbase_url = "{loopback.base}"\n'
    app = make_app(write_config(tmp_path, config))
    loopback.json(HOT_SEARCH, weibo_body(with_topic(TOPIC, 30, 312_345)))
    app.poll("weibo-hot")
    loopback.json("/api/v3/feed/topstory/hot-lists/total", zhihu)
    clock.advance(minutes=1)
    app.poll("zhihu-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent" and ticket["issue"] == "hot:lists"
    assert sorted(u.split("?")[0] for u in ticket["urls"]) == ["https://s.weibo.com/weibo", "https://www.zhihu.com/question/600000007"]
    assert any(r.startswith("on 知乎热榜 at rank 8 (≤ 10)") for r in ticket["reasons"])


def test_a_config_with_a_hotlist_source_for_each_list_passes_check(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from monitor.cli.commands import cli
    from sources.hotlist import LISTS

    monkeypatch.setenv("DOUYIN_COOKIE", "ttwid=abc")
    sources = "".join(
        f'\n[[sources]]\nname = "{name}-hot"\nkind = "hotlist"\nlist = "{name}"\nevery = "10m"\n' + ('headers_env = { Cookie = "DOUYIN_COOKIE" }\n' if name == "douyin" else "")
        for name in LISTS
    )
    result = CliRunner().invoke(cli, ["-c", str(write_config(tmp_path, sources)), "check"])
    assert result.exit_code == 0, result.output
    assert "7 source(s)" in result.output and set(LISTS) == {"weibo", "zhihu", "toutiao", "bilibili", "bilibili-popular", "douyin", "baidu"}


def test_crisis_terms_in_a_topic_add_their_category_beside_the_rank(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, weibo_hot(loopback.base)))
    loopback.json(HOT_SEARCH, weibo_body(with_topic("艾克美保温杯烫伤儿童", 40, 150_000)))
    app.poll("weibo-hot")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent" and ticket["categories"] == ["safety"]
    assert any(r.startswith("crisis terms 烫伤") for r in ticket["reasons"])
    assert "on 微博热搜 at rank 40 (≤ 50), heat 150,000 → important" in ticket["reasons"]
