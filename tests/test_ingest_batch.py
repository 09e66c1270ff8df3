"""The batch store path of ``Pipeline.ingest``: a poll's posts stored in a few statements,
with the same outcome as storing them one at a time (new, seen again, edited, grown,
repeated within the batch), and a post whose matching fails left to be retried."""

from __future__ import annotations

from conftest import write_config
from sqlalchemy import func, select

from monitor.storage.models import MentionRow, PostRow, SnapshotRow
from monitor.storage.posts import store_batch
from sources import Engagement, Post


def post(n: int, text: str = "今天天气不错", likes: int | None = None) -> Post:
    return Post("test", f"p{n}", f"https://test.example/{n}", text, engagement=Engagement(likes=likes))


def counts(app):
    with app.sessions() as s:
        return (
            s.scalar(select(func.count(PostRow.id))),
            s.scalar(select(func.count(SnapshotRow.id))),
            s.scalar(select(func.count(MentionRow.id))),
        )


def test_a_batch_stores_new_posts_once_and_reports_what_changed(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    batch = [post(1), post(2, "艾克美保温杯漏水了", likes=3), post(3, likes=0), post(1)]  # p1 twice in one batch
    report = pipeline.ingest("s", batch)
    assert (report.posts, report.new_posts, report.mentions) == (4, 3, 1)
    assert counts(app) == (3, 2, 1)

    clock.advance(minutes=1)
    again = pipeline.ingest("s", batch[:3])
    assert (again.posts, again.new_posts, again.mentions) == (3, 0, 0)  # nothing new: nothing matched
    assert counts(app) == (3, 2, 1)

    clock.advance(minutes=1)
    changed = pipeline.ingest("s", [post(1, "艾克美杯子烫伤了孩子"), post(2, "艾克美保温杯漏水了", likes=9), post(4)])
    assert (changed.posts, changed.new_posts, changed.mentions) == (3, 1, 2)  # p1 edited into a mention, p2 grew
    assert counts(app) == (4, 3, 2)
    with app.sessions() as s:
        p1 = s.scalar(select(PostRow).where(PostRow.platform_id == "p1"))
        assert p1.text == "艾克美杯子烫伤了孩子" and p1.matched and p1.last_seen_at == clock.now


def test_store_batch_skips_a_post_stored_meanwhile(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path))
    with app.sessions() as s:
        stored, failed = store_batch(s, "s", [post(1), post(2)], clock.now)
        assert [(x.post.id, x.new) for x in stored] == [("p1", True), ("p2", True)] and not failed
        stored, failed = store_batch(s, "s", [post(2), post(3)], clock.now)
        assert [(x.post.id, x.new) for x in stored] == [("p2", False), ("p3", True)] and not failed
        s.commit()
    assert counts(app)[0] == 3


def test_a_post_whose_matching_fails_is_not_stored_and_is_retried(tmp_path, make_app, clock, monkeypatch):
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    real = pipeline._upsert_mention
    broken = {"on": True}

    def upsert_mention(session, row, found, now, *args, **kwargs):
        if broken["on"] and row.platform_id == "p2":
            raise RuntimeError("boom")
        return real(session, row, found, now, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_upsert_mention", upsert_mention)
    batch = [post(1), post(2, "艾克美保温杯漏水了", likes=3), post(3, "Acme cup defect")]
    report = pipeline.ingest("s", batch)
    assert (report.posts, report.new_posts, report.mentions) == (2, 2, 1)
    assert counts(app) == (2, 0, 1)  # p2 and its snapshot taken back, p1 and p3 kept

    broken["on"] = False
    clock.advance(minutes=1)
    retry = pipeline.ingest("s", batch)
    assert (retry.posts, retry.new_posts, retry.mentions) == (3, 1, 1)
    assert counts(app) == (3, 1, 2)


def test_a_post_the_matcher_chokes_on_is_taken_back_and_the_rest_of_the_poll_kept(tmp_path, make_app, clock, monkeypatch):
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    real = pipeline.matcher.match
    broken = {"on": True}

    def match(text):
        if broken["on"] and "poison" in text:
            raise RecursionError("boom")
        return real(text)

    monkeypatch.setattr(pipeline.matcher, "match", match)
    batch = [post(1, "艾克美保温杯漏水了"), post(2, "poison 艾克美"), post(3)]
    report = pipeline.ingest("s", batch)
    assert (report.posts, report.new_posts, report.mentions) == (2, 2, 1)
    assert counts(app)[0] == 2  # the poison post is not stored, so the next poll tries it again
    broken["on"] = False
    clock.advance(minutes=1)
    assert pipeline.ingest("s", batch).new_posts == 1
    assert counts(app)[0] == 3


def test_an_empty_batch_opens_no_transaction(tmp_path, make_app):
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    pipeline.sessions = None  # any use of the database would fail
    report = pipeline.ingest("s", [])
    assert (report.posts, report.new_posts, report.mentions, report.tickets) == (0, 0, 0, set())
