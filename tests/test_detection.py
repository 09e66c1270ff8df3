"""What raises a ticket (DESIGN.md), through the real pipeline: loopback platform,
real SQLite file, the App exactly as the daemon builds it, and a fake clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from monitor.storage.models import MentionRow, NoticeRow, TicketRow
from monitor.tickets.actions import list_tickets, ticket_summary
from tests.conftest import BASE_CONFIG, START, mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"


def tickets(app):
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s)]


def queued_routes(app):
    """Who was decided to be told (notices; pacing turns them into messages later)."""
    with app.sessions() as s:
        return sorted((n.key.split("-", 3)[-1]) for n in s.scalars(select(NoticeRow)))


def test_viral_post_without_crisis_term_becomes_urgent_by_velocity(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    text = "艾克美保温杯的盖子一拧就弹开，太吓人了"
    created = START - timedelta(minutes=1)

    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=5)])
    app.poll("masto")
    assert tickets(app) == []  # a mention, but nothing that raises a ticket yet

    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=40, replies=10, favs=10)])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    assert any("velocity +60" in r for r in ticket["reasons"])

    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=90, replies=20, favs=20)])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent"
    assert ticket["categories"] == []
    assert ticket["urls"] == ["http://127.0.0.1/@someone/1"]
    assert any("velocity +130" in r and "urgent" in r for r in ticket["reasons"])
    # due_at follows the urgent SLA (1h) from the moment it became urgent
    assert ticket["due_at"] == (clock.now + timedelta(hours=1)).isoformat()
    assert queued_routes(app) == ["important-pr", "urgent-management", "urgent-pr"]


def test_old_popular_post_is_not_viral_on_first_sight(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("9", "艾克美用了三年还不错", created=START - timedelta(days=3), reblogs=5000)])
    app.poll("masto")
    clock.advance(minutes=10)
    app.poll("masto")
    assert tickets(app) == []


def test_safety_term_is_urgent_at_once_and_tells_management(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("2", "孩子用艾克美保温杯被烫伤了，手上起了水泡")])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent"
    assert ticket["categories"] == ["safety"]
    assert ticket["due_at"] == (START + timedelta(hours=1)).isoformat()
    assert queued_routes(app) == ["urgent-management", "urgent-pr"]


def test_benign_offbrand_and_excluded_posts_raise_nothing(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(
        TIMELINE,
        [
            status("3", "刚买的艾克美保温杯颜值很高，推荐！", reblogs=2),
            status("4", "楼下电动车起火了，还有人烫伤，记者已经到了", reblogs=500),
            status("5", "艾克美小区今天停水，听说有人烫伤了", reblogs=3),
            status("6", "Acmeville residents protest injury claims"),  # "Acme" only inside a longer word
        ],
    )
    app.poll("masto")
    assert tickets(app) == []
    with app.sessions() as s:
        assert s.scalar(select(func.count(MentionRow.id))) == 1  # the benign mention is stored and counted
    assert queued_routes(app) == []


def test_six_same_issue_complaints_make_one_important_ticket_for_pr_only(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    texts = [
        "艾克美保温杯用了两天盖子就关不严，客服也不回消息",
        "艾克美保温杯用了两天盖子就关不严，客服也不回消息！！",
        "艾克美保温杯用了两天盖子就关不严,客服也不回消息 @艾克美官方",
        "转发：艾克美保温杯用了两天盖子就关不严，客服也不回消息",
        "艾克美保温杯用了两天盖子就关不严，客服也不回消息 https://t.example/x",
        "艾克美保温杯用了两天盖子就关不严，客服也不回消息。。。",
    ]
    posts = []
    for i, text in enumerate(texts):
        posts.append(status(str(100 + i), text, created=clock.now, who=f"user{i}"))
        loopback.json(TIMELINE, posts)
        app.poll("masto")
        clock.advance(minutes=20)
        if i < 4:
            assert tickets(app) == [], f"no ticket before the 5th complaint (after {i + 1})"
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    assert ticket["post_count"] == 6
    assert any("volume" in r for r in ticket["reasons"])
    assert queued_routes(app) == ["important-pr"]


def test_same_category_complaints_rise_from_normal_to_important(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    texts = ["艾克美水杯漏水", "艾克美的杯子底部漏水了", "又是艾克美，漏水漏了一桌子", "艾克美保温壶漏水严重", "艾克美漏水问题谁来管", "艾克美漏水第六单"]
    posts = []
    for i, text in enumerate(texts):
        posts.append(status(str(200 + i), text, created=clock.now, who=f"u{i}"))
        loopback.json(TIMELINE, posts)
        app.poll("masto")
        clock.advance(hours=1)
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    assert ticket["categories"] == ["quality"]
    assert ticket["post_count"] == 6
    assert queued_routes(app) == ["important-pr", "normal-pr"]
    with app.sessions() as s:
        kinds = [e.kind for e in s.get(TicketRow, ticket["id"]).events]
    assert kinds.count("opened") == 1 and kinds.count("severity_raised") == 1 and kinds.count("post_joined") == 6


def test_ingesting_the_same_batch_twice_changes_nothing(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("7", "艾克美杯子被央视315曝光了", reblogs=3), status("8", "Acme is fine", reblogs=1)])
    app.poll("masto")
    before = (tickets(app), queued_routes(app))
    app.poll("masto")
    app.poll("masto")
    assert (tickets(app), queued_routes(app)) == before
    assert before[0][0]["categories"] == ["media"]


def test_resolved_ticket_lets_the_issue_open_a_new_one(tmp_path, loopback, make_app, clock):
    from monitor.tickets.actions import resolve

    # reopen_within = "0s": a resolved issue never reopens, the next post opens a new ticket
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), '\n[tickets]\nreopen_within = "0s"\n'))
    loopback.json(TIMELINE, [status("10", "艾克美杯子过敏")])
    app.poll("masto")
    with app.sessions() as s:
        resolve(s, 1, clock.now, "test", "refunded")
        s.commit()
    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("10", "艾克美杯子过敏"), status("11", "我也对艾克美过敏")])
    app.poll("masto")
    statuses = sorted((t["id"], t["status"]) for t in tickets(app))
    assert statuses == [(1, "resolved"), (2, "open")]


def test_tracked_post_is_reread_after_it_leaves_the_timeline(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    text = "艾克美保温杯的盖子一拧就弹开"
    created = START - timedelta(minutes=2)
    loopback.json(TIMELINE, [status("42", text, created=created, reblogs=3)])
    app.poll("masto")
    # the post scrolled out of the tag timeline, but keeps spreading
    loopback.json(TIMELINE, [])
    loopback.json("/api/v1/statuses/42", status("42", text, created=created, reblogs=150, replies=9))
    clock.advance(minutes=4)
    app.poll("masto")
    assert loopback.hits["/api/v1/statuses/42"] == 1
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent"


def test_hostile_counters_and_a_huge_post_do_not_hide_a_crisis(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    absurd = status("50", "Acme cup injury, my lawyer is on it")
    absurd.update(reblogs_count=10**30, replies_count="-5", favourites_count=1.5)
    huge = status("51", "艾克美漏水 " + "啊" * 100_000, who="spammer")
    loopback.json(TIMELINE, [absurd, huge])
    app.poll("masto")
    by_sev = {t["severity"]: t for t in tickets(app)}
    assert by_sev["urgent"]["urls"] == ["http://127.0.0.1/@someone/50"]
    assert by_sev["normal"]["urls"] == ["http://127.0.0.1/@spammer/51"]
    with app.sessions() as s:
        from monitor.storage.models import PostRow

        assert max(len(t) for t in s.scalars(select(PostRow.text))) <= 20_000


def test_a_new_feeds_undated_backlog_pages_nobody_but_later_items_do(tmp_path, loopback, make_app, clock):
    from tests.conftest import rss_source

    def feed(*items):
        body = "".join(f"<item><title>{t}</title><link>https://news.test/{i}</link></item>" for i, t in items)
        return (200, {"Content-Type": "application/rss+xml"}, f'<rss version="2.0"><channel><title>n</title>{body}</channel></rss>'.encode())

    app = make_app(write_config(tmp_path, rss_source(f"{loopback.base}/news.xml", "news")))
    loopback.routes["/news.xml"] = feed((1, "艾克美杯子被曝光（旧闻）"))
    app.poll("news")
    assert tickets(app) == []  # an undated item in the first poll is history
    clock.advance(minutes=10)
    loopback.routes["/news.xml"] = feed((1, "艾克美杯子被曝光（旧闻）"), (2, "艾克美杯子再次被记者曝光"))
    app.poll("news")
    [ticket] = tickets(app)
    assert ticket["urls"] == ["https://news.test/2"]


def test_a_feed_whose_first_poll_was_empty_pages_for_its_first_undated_item(tmp_path, loopback, make_app, clock):
    """The backlog is what a source already held when it first answered: a feed that was
    empty then has none, so the first real complaint on it is news, dated or not."""
    from tests.conftest import rss_source

    empty = (200, {"Content-Type": "application/rss+xml"}, b'<rss version="2.0"><channel><title>n</title></channel></rss>')
    app = make_app(write_config(tmp_path, rss_source(f"{loopback.base}/news.xml", "news")))
    loopback.routes["/news.xml"] = empty
    app.poll("news")
    clock.advance(minutes=10)
    loopback.routes["/news.xml"] = (200, empty[1], '<rss version="2.0"><channel><title>n</title><item><title>艾克美杯子被记者曝光</title><link>https://news.test/1</link></item></channel></rss>'.encode())
    app.poll("news")
    [ticket] = tickets(app)
    assert ticket["urls"] == ["https://news.test/1"]


def test_a_failed_first_poll_leaves_the_backlog_rule_for_the_first_answer(tmp_path, loopback, make_app, clock):
    from tests.conftest import rss_source

    app = make_app(write_config(tmp_path, rss_source(f"{loopback.base}/news.xml", "news")))
    loopback.routes["/news.xml"] = (503, {}, b"down")
    app.poll("news")
    clock.advance(minutes=10)
    loopback.routes["/news.xml"] = (200, {"Content-Type": "application/rss+xml"}, '<rss version="2.0"><channel><title>n</title><item><title>艾克美杯子被曝光（旧闻）</title><link>https://news.test/1</link></item></channel></rss>'.encode())
    app.poll("news")
    assert tickets(app) == []  # the first answer's undated items are still backlog


def test_a_new_category_tells_the_route_that_watches_it(tmp_path, loopback, make_app, clock):
    legal_route = '\n[[alerts.routes]]\nname = "legal"\nto = ["law@example.com"]\ncategories = ["media"]\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), legal_route))
    loopback.json(TIMELINE, [status("60", "艾克美杯子烫伤了孩子", who="a")])
    app.poll("masto")
    assert queued_routes(app) == ["urgent-management", "urgent-pr"]
    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("60", "艾克美杯子烫伤了孩子", who="a"), status("61", "艾克美杯子烫伤，记者已经在路上", who="b")])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["categories"] == ["safety", "media"]
    assert queued_routes(app) == ["urgent-legal", "urgent-management", "urgent-pr"]  # only the newly matching route


def test_a_post_stamped_a_little_in_the_future_is_still_new(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("70", "艾克美的盖子弹开了", created=START + timedelta(minutes=2), reblogs=120)])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent"


def test_a_post_on_track_to_cross_velocity_urgent_is_raised_to_important_before_it_crosses(tmp_path, loopback, make_app, clock):
    """The pace rule alone (``forecast_trigger = false``; tests/test_forecast.py has the
    same post with the forecast on, which does not raise it)."""
    base = BASE_CONFIG.replace('track_for = "48h"\n', 'track_for = "48h"\nforecast_trigger = false\n')
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), base=base))
    text = "艾克美保温杯的盖子一拧就弹开"
    created = START - timedelta(minutes=40)  # an older post, so only growth we see counts
    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=5)])
    app.poll("masto")
    clock.advance(minutes=2)
    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=15)])
    app.poll("masto")
    assert tickets(app) == []  # +10: too little to call a trend
    clock.advance(minutes=2)
    loopback.json(TIMELINE, [status("1", text, created=created, reblogs=28)])
    app.poll("masto")  # +23 in 4 min, 6.5/min and rising: ~+200 in 30 min at this pace
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    [reason] = [r for r in ticket["reasons"] if "on track" in r]
    assert "+23 so far" in reason and "urgent at 100" in reason


def test_a_steady_pace_that_stays_under_the_threshold_is_not_projected_to_go_viral(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    text = "艾克美保温杯的盖子一拧就弹开"
    created = START - timedelta(minutes=40)
    for reblogs in (5, 9, 13, 17, 21, 25, 29):  # 2 a minute: +60 in 30 min at most
        loopback.json(TIMELINE, [status("1", text, created=created, reblogs=reblogs)])
        app.poll("masto")
        clock.advance(minutes=2)
    assert tickets(app) == []


def test_projection_uses_pace_and_acceleration_and_ignores_readings_too_close_to_tell():
    from monitor.detect.scoring import Reading, project

    t0 = START
    steady = [Reading(t0, 0), Reading(t0 + timedelta(minutes=2), 10), Reading(t0 + timedelta(minutes=4), 20)]
    assert project(steady, t0 + timedelta(minutes=4), timedelta(minutes=30)).gain == 150  # 5/min for 30 min
    rising = [Reading(t0, 0), Reading(t0 + timedelta(minutes=2), 4), Reading(t0 + timedelta(minutes=4), 20)]
    assert project(rising, t0 + timedelta(minutes=4), timedelta(minutes=30)).gain == 480  # 8/min, at most doubled by speeding up
    assert project([Reading(t0, 0), Reading(t0 + timedelta(seconds=10), 50)], t0 + timedelta(seconds=10), timedelta(minutes=30)) is None
    assert project([Reading(t0, 0)], t0, timedelta(minutes=30)) is None


def test_a_post_with_a_nul_and_a_lone_surrogate_is_stored_and_mailed(tmp_path, loopback, make_app):
    """JSON lets a platform send "\\u0000" and "\\ud800": PostgreSQL refuses the first in text,
    UTF-8 (the mail) cannot encode the second. The complaint must still raise its ticket."""
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    hostile = status("80", "艾克美保温杯\x00烫伤了孩子\ud800", who="a\x00b")
    loopback.json(TIMELINE, [hostile])
    app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent" and "\x00" not in ticket["title"]
    assert app.deliver().sent == 2
