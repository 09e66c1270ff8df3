"""Reposts and quotes are a post's spread, not new complaints: the sources say what a post
reposts (Weibo ``retweeted_status``, Mastodon boosts, Bluesky quote embeds), and the
pipeline puts a repost in its original's ticket and counts it toward its velocity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from monitor.tickets.actions import list_tickets, ticket_summary
from sources.bluesky import post_view_to_post
from sources.mastodon import status_to_posts
from sources.weibo import mblog_to_post
from tests.conftest import START, status, write_config

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
GET_INDEX = "/api/container/getIndex"
SHANGHAI = timezone(timedelta(hours=8))


def fixture(path: str) -> Any:
    file = FIXTURES / path
    if not file.is_file():
        pytest.skip(f"real-world fixture {path} not found under {FIXTURES}")
    return json.loads(file.read_text(encoding="utf-8"))


def test_real_weibo_reposts_name_their_original_and_every_post_its_authors_reach():
    cards = fixture("weibo/weibocrawler_getIndex_user_2304136074526225.json")["data"]["cards"]
    posts = {card["mblog"]["mid"]: (card["mblog"], mblog_to_post(card["mblog"], START, SHANGHAI)) for card in cards}
    reposts = {mid: post for mid, (mblog, post) in posts.items() if "retweeted_status" in mblog}
    assert len(reposts) == 5
    assert reposts["4806110835644979"].repost_of == "4806104234071351"
    assert all(post.repost_of for post in reposts.values())
    assert all(post.repost_of == "" for mid, (_, post) in posts.items() if mid not in reposts)
    # "43.4万" followers, a verified person (verified_type 0)
    assert {(post.author_followers, post.author_kind) for _, post in posts.values()} == {(434_000, "verified")}


@pytest.mark.parametrize(
    "user, kind",
    [
        ({"verified": True, "verified_type": 3, "followers_count": 1_200_000}, "media"),
        ({"verified": True, "verified_type": 1}, "government"),
        ({"verified": True, "verified_type": "7"}, "organization"),
        ({"verified": True, "verified_type": 220}, "verified"),
        ({"verified": False, "verified_type": -1}, ""),
        ({"verified": "yes", "verified_type": 3}, ""),
        ({"verified": True, "verified_type": None}, ""),
        ("not a user", ""),
    ],
)
def test_weibo_verified_types_become_author_kinds(user, kind):
    post = mblog_to_post({"mid": "1", "text": "x", "user": user}, START, SHANGHAI)
    assert post is not None and post.author_kind == kind


def test_a_mastodon_boost_gives_the_original_and_the_boost_as_its_spread():
    original = status("7", "艾克美杯子漏水", who="alice") | {"account": {"acct": "alice", "followers_count": 12}}
    boost = status("8", "", who="bob") | {"reblog": original, "account": {"acct": "bob", "followers_count": "3"}}
    first, second = status_to_posts(boost)
    assert (first.id, first.author, first.repost_of, first.author_followers) == (original["uri"], "alice", "", 12)
    assert (second.id, second.author, second.repost_of, second.text) == (boost["uri"], "bob", original["uri"], first.text)
    assert [p.id for p in status_to_posts(original)] == [original["uri"]]


def test_a_real_bluesky_quote_post_names_the_post_it_quotes():
    views = fixture("bluesky/bskyr_searchPosts_redistricting_2025-05.json")["posts"]
    quoted = {post.repost_of for post in map(post_view_to_post, views) if post is not None and post.repost_of}
    assert "at://did:plc:pjiafkey2cokiupsxpswqlk7/app.bsky.feed.post/3lpjgwfr3gs27" in quoted
    assert len(quoted) == 2
    thread = fixture("bluesky/atproto_getPostThread_embed_media.json")["thread"]["post"]  # a quote with media
    assert post_view_to_post(thread).repost_of.startswith("at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/")


# -- through the pipeline, from a Weibo search on loopback ------------------------------------


def weibo_source(base: str) -> str:
    return f'\n[[sources]]\nname = "wb"\nkind = "weibo"\nkeyword = "艾克美"\nbase_url = "{base}"\nevery = "1m"\n'


def mblog(mid: str, text: str, at: datetime, *, who: str = "someone", reposts: int = 0, original: dict | None = None) -> dict:
    local = at.astimezone(SHANGHAI)
    found = {
        "mid": mid, "bid": f"B{mid}", "text": text, "created_at": local.strftime("%a %b %d %H:%M:%S +0800 %Y"),
        "user": {"screen_name": who, "followers_count": 10, "verified": False, "verified_type": -1},
        "reposts_count": reposts, "comments_count": 0, "attitudes_count": 0,
    }
    if original is not None:
        found["retweeted_status"] = original
    return found


def serve(loopback, mblogs: list[dict]) -> None:
    loopback.json(GET_INDEX, {"ok": 1, "data": {"cards": [{"card_type": 9, "mblog": m} for m in mblogs]}})


def tickets(app):
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s)]


ORIGINAL = "艾克美保温杯漏水，杯盖密封圈完全不行，包里的书全湿了"


def test_reposts_join_the_originals_ticket_and_count_as_its_spread_not_as_more_complaints(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, weibo_source(loopback.base)))
    original = mblog("100", ORIGINAL, clock.now, who="顾客A")
    shown = [original]
    serve(loopback, shown)
    app.poll("wb")
    [ticket] = tickets(app)
    assert ticket["severity"] == "normal"  # quality
    for i, comment in enumerate(["转发微博", "同款，太坑了", "@艾克美官方 管管", "转发", "扩散"]):
        clock.advance(minutes=20)
        shown.append(mblog(str(200 + i), comment, clock.now, who=f"路人{i}", original=original))
        serve(loopback, shown)
        app.poll("wb")
    [ticket] = tickets(app)
    assert ticket["post_count"] == 6 and ticket["reposts"] == 5
    # six posts, one complaint: the batch rule (5 complaints) did not fire
    assert ticket["severity"] == "normal"
    assert not any("volume" in r for r in ticket["reasons"])


def test_a_post_reposted_sixty_times_within_the_window_is_raised_by_its_spread(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, weibo_source(loopback.base)))
    original = mblog("100", ORIGINAL, clock.now - timedelta(hours=2), who="顾客A")
    serve(loopback, [original])
    app.poll("wb")
    clock.advance(minutes=10)
    # a feed shows the reposts while the original's counter has not moved (or is not re-read)
    serve(loopback, [original, *(mblog(str(300 + i), "转发微博", clock.now, who=f"u{i}", original=original) for i in range(60))])
    app.poll("wb")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important" and ticket["reposts"] == 60
    # raised the moment the 50th repost came in (velocity_important)
    assert any("engagement velocity +50 in 30m, 50 reposts/quotes" in r and "important" in r for r in ticket["reasons"]), ticket["reasons"]


def test_a_repost_whose_comment_is_a_complaint_of_its_own_is_clustered_as_one(tmp_path, make_app, clock):
    """On Weibo the complaint is often in the reposter's comment: reposting a launch post
    with "my child was scalded" is a scald complaint, not the launch post's spread."""
    from sqlalchemy import select

    from monitor.storage.models import MentionRow, PostRow, TicketRow
    from sources import Post
    from tests.conftest import write_config

    def weibo(n, text, repost_of=""):
        return Post("weibo", f"m{n}", f"https://weibo.example/{n}", text, repost_of=repost_of)

    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    pipeline.ingest("s", [weibo(1, "艾克美新品发布会今天举行")])
    clock.advance(minutes=1)
    pipeline.ingest("s", [weibo(2, "艾克美保温杯漏水，杯盖密封圈不行 //转发: 艾克美新品发布会今天举行", "m1")])
    clock.advance(minutes=1)
    pipeline.ingest("s", [weibo(3, "艾克美杯子把我家孩子烫伤了，手背起泡 //转发: 艾克美新品发布会今天举行", "m1")])
    clock.advance(minutes=1)
    pipeline.ingest("s", [weibo(4, "艾克美杯子把我家孩子烫伤了，手背起泡")])
    clock.advance(minutes=1)
    pipeline.ingest("s", [weibo(5, "艾克美杯子把我家孩子烫伤了 //转发: 艾克美保温杯漏水，杯盖密封圈不行", "m2")])
    with app.sessions() as s:
        issues = dict(s.execute(select(PostRow.platform_id, MentionRow.issue_key).join(PostRow, PostRow.id == MentionRow.post_id)).all())
        tickets = {t.issue_key: (t.severity, len(t.posts)) for t in s.scalars(select(TicketRow))}
    assert issues["m2"].startswith("cat:quality:") and issues["m3"].startswith("cat:safety:")
    assert issues["m3"] == issues["m4"] == issues["m5"]  # one scald complaint, told in a comment, directly, and on a repost of the leak
    assert tickets[issues["m3"]][0] == "urgent" and issues["m1"] not in tickets
