"""Re-reading tracked posts: batched, slower for quiet posts, and over after track_for."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.ingest.tracking import reread_due
from tests.conftest import START, mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"


def test_quiet_posts_are_reread_less_often():
    now = START
    assert reread_due(now - timedelta(minutes=2), now - timedelta(minutes=3), now)  # growing: every poll
    assert not reread_due(now - timedelta(minutes=2), now - timedelta(hours=2), now)  # quiet 2 h: every 30 min
    assert reread_due(now - timedelta(minutes=31), now - timedelta(hours=2), now)
    assert reread_due(now - timedelta(hours=1), now - timedelta(days=1), now)  # never less than hourly


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_more_recent_growth_never_makes_a_post_less_due(seen_ago, changed_ago, sooner):
    now = START
    seen = now - timedelta(seconds=seen_ago)
    changed = now - timedelta(seconds=changed_ago)
    # a post that changed more recently is due at least as soon
    later_change = now - timedelta(seconds=max(0, changed_ago - sooner))
    assert not reread_due(seen, changed, now) or reread_due(seen, later_change, now)


def test_rereads_stop_after_track_for_and_skip_quiet_posts(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美杯子", reblogs=1)])
    loopback.json("/api/v1/statuses/1", status("1", "艾克美杯子", reblogs=1))
    app.poll("masto")
    loopback.json(TIMELINE, [])  # it left the timeline

    reads = lambda: loopback.hits.get("/api/v1/statuses/1", 0)  # noqa: E731
    per_poll = []
    for _ in range(15):  # a 2-minute source for half an hour; the post never grows again
        before = reads()
        clock.advance(minutes=2)
        app.poll("masto")
        per_poll.append(reads() - before)
    assert per_poll[:4] == [1, 1, 1, 1]  # fresh: every poll
    assert sum(per_poll[-5:]) <= 2  # quiet for a while: less often
    clock.advance(hours=3)
    app.poll("masto")
    assert per_poll and reads() == sum(per_poll) + 1  # still tracked, and due after a long pause
    clock.advance(hours=46)  # past track_for (48h after first seen)
    total = reads()
    for _ in range(3):
        clock.advance(hours=1)
        app.poll("masto")
    assert reads() == total


def test_many_quiet_posts_do_not_crowd_out_a_growing_one(tmp_path, make_app, clock):
    from sqlalchemy import update

    from monitor.ingest.tracking import refs_to_reread
    from monitor.storage.models import PostRow
    from sources import Engagement, Post

    app = make_app(write_config(tmp_path))
    quiet = [Post("mastodon", f"q{i}", f"https://m.test/{i}", "艾克美", created_at=START, engagement=Engagement(likes=1), ref=f"q{i}") for i in range(30)]
    app._parts.pipeline.ingest("masto", quiet)
    clock.advance(hours=5)
    growing = Post("mastodon", "g", "https://m.test/g", "艾克美", created_at=clock.now, engagement=Engagement(likes=1), ref="g")
    app._parts.pipeline.ingest("masto", [growing])
    with app.sessions() as s:  # the quiet ones were all read a little while ago, the new one just now
        s.execute(update(PostRow).where(PostRow.ref != "g").values(last_seen_at=clock.now - timedelta(minutes=30)))
        s.commit()
    clock.advance(minutes=3)
    with app.sessions() as s:
        assert refs_to_reread(s, "masto", 2, set(), clock.now, timedelta(hours=48)) == ["g"]


def test_a_bug_in_a_source_is_that_source_failing(tmp_path, make_app):
    app = make_app(write_config(tmp_path, mastodon_source("http://127.0.0.1:9")))

    def broken():
        raise KeyError("likes")

    app.sources["masto"].fetch = broken
    assert app.poll("masto") is None
    health = app.health["masto"]
    assert health.failures == 1 and "KeyError" in health.last_error and "bug in the source" in health.last_error
