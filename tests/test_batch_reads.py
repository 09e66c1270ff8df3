"""Scoring a batch with its reads done up front (``BatchReads``) decides exactly what scoring
it one post at a time does: the same readings, mentions, tickets, reasons, timeline and
messages, replayed from real cascades; and what still goes through matching does."""

from __future__ import annotations

import csv
import dataclasses
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import write_config
from sqlalchemy import Engine, Result, event, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from monitor.config import load_config
from monitor.detect.spread import MAX_REPOSTS
from monitor.ingest.reads import CURVE_POSTS
from monitor.storage.models import Base, EventRow, MentionRow, MessageRow, NoticeRow, PostRow, SnapshotRow, TicketPostRow, TicketRow
from monitor.tickets.actions import resolve
from sources import Engagement, Post, source_kinds

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
SMH = REAL / "cascades" / "twitter_smh_casin"
KEEGAN = REAL / "streams" / "bluesky_keegan" / "case_study_likes.csv"
POLL = timedelta(minutes=2)


def smh(n: int) -> list[float]:
    """Seconds from the root tweet to each retweet of SMH cascade ``n`` (computationalmedia/cascade-influence)."""
    with open(SMH / f"SMH-cascade-{n}.csv", encoding="utf-8") as f:
        return sorted(float(row["time"]) for row in csv.DictReader(f))[1:]  # the first row is the root itself


def keegan() -> list[float]:
    """Seconds from a real Bluesky post to each of its 2,889 likes (brianckeegan/bluesky-datascience)."""
    with open(KEEGAN, encoding="utf-8") as f:
        return sorted(3600 * float(row["hours_since_post"]) for row in csv.DictReader(f))


def wipe(engine: Engine) -> None:
    """An empty database with ids from 1: on PostgreSQL the test's apps share one schema."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


def replay(make_app: Any, folder: Path, clock: Any, *, batch_reads: bool) -> dict[str, list[Any]]:
    """Four hours of polls every two minutes: brand posts whose reposts and likes follow
    real cascades, a repost of one of them, near-copies of one (one edited into a complaint
    later), a new complaint half way through a poll's batch,
    and every open ticket resolved at 90 minutes (so the growth after it meets resolved
    tickets, reopens them and raises them). What the database then holds, ids and all."""
    folder.mkdir()
    start = clock.now
    app = make_app(write_config(folder))
    wipe(app.engine)
    pipeline = app._parts.pipeline
    pipeline.batch_reads = batch_reads
    posts = [  # (id, text, when it appears, counter, the real cascade its counter follows, repost_of)
        ("p1", "艾克美保温杯漏水了，客服一直不回复", 0, "reposts", smh(3), ""),
        ("p2", "买的艾克美杯子用了一周就漏水，质量问题太多", 4, "reposts", smh(12), ""),
        ("p3", "艾克美新品发布会今天开始，现场人很多", 6, "likes", keegan(), ""),
        ("p4", "转发：艾克美保温杯漏水了，客服一直不回复", 20, "likes", smh(0), "p1"),
        ("p5", "艾克美水杯漏水，烫伤了孩子的手", 50, "reposts", smh(7), ""),
        # near-copies of p3, two new in one poll: the second must find the first's issue
        ("p6", "艾克美新品发布会今天开始了，现场人真多", 10, "likes", smh(1), ""),
        ("p7", "艾克美新品发布会今天开始，现场的人很多啊", 10, "likes", smh(2), ""),
        ("p8", "今天艾克美新品发布会开始，现场人很多", 30, "likes", smh(4), ""),
        ("p9", "艾克美的新品发布会今天开始，现场人很多", 70, "reposts", smh(5), ""),
        # and two near-copies of each other only, new in the same poll
        ("p10", "艾克美客服电话一直打不通，等了一个小时也没人接", 40, "likes", smh(6), ""),
        ("p11", "艾克美客服电话一直打不通，等了一个小时都没人接", 40, "likes", smh(8), ""),
    ]
    for step in range(120):
        at = step * POLL
        batch = []
        for n, (pid, body, appears, counter, times, repost_of) in enumerate(posts):
            if at < timedelta(minutes=appears):
                continue
            count = sum(1 for t in times if t <= (at - timedelta(minutes=appears)).total_seconds())
            if pid == "p8" and at >= timedelta(minutes=100):  # edited into a complaint: it leaves p3's issue
                body += "，杯子还漏水"
            post = Post(
                "test", pid, f"https://test.example/{pid}", body, created_at=start + timedelta(minutes=appears),
                engagement=Engagement(**{counter: count}), repost_of=repost_of, author=f"user{n}",
            )
            batch.insert({"p5": 1, "p6": 0, "p7": 0, "p8": 0, "p9": 0, "p10": 0, "p11": 0}.get(pid, len(batch)), post)  # new posts before and between grown ones
        pipeline.ingest("test", batch)
        if step == 45:
            with app.sessions() as session:
                for ticket in session.scalars(select(TicketRow).where(TicketRow.status != "resolved")):
                    resolve(session, ticket.id, clock.now, "lead", "replied and refunded / 已回复并退款")
                session.commit()
        app.dispatch()
        clock.advance(seconds=POLL.total_seconds())
    with app.sessions() as s:
        ids = dict(s.execute(select(PostRow.id, PostRow.platform_id)).all())
        mention_posts = dict(s.execute(select(MentionRow.id, MentionRow.post_id)).all())
        return {
            "readings": [(ids[r.post_id], r.at, r.reposts, r.likes) for r in s.scalars(select(SnapshotRow).order_by(SnapshotRow.id))],
            "mentions": [
                (ids[m.post_id], m.brand, m.issue_key, m.categories, m.terms, m.seen_at, ids[mention_posts[m.spread_of]] if m.spread_of else None)
                for m in s.scalars(select(MentionRow).order_by(MentionRow.id))
            ],
            "tickets": [
                (t.id, t.issue_key, t.status, t.severity, t.categories, t.reasons, t.title, t.opened_at, t.due_at, t.resolved_at)
                for t in s.scalars(select(TicketRow).order_by(TicketRow.id))
            ],
            "ticket posts": sorted((link.ticket_id, ids[link.post_id], link.joined_at) for link in s.scalars(select(TicketPostRow))),
            "timeline": [(e.ticket_id, e.at, e.kind, e.detail, e.actor) for e in s.scalars(select(EventRow).order_by(EventRow.id))],
            "notices": [(n.route, n.ticket_id, n.kind, n.severity, n.previous_severity, n.created_at, n.status) for n in s.scalars(select(NoticeRow).order_by(NoticeRow.id))],
            "messages": [
                # the commands name the config's folder; links carry random tokens
                (m.route, m.channel, m.recipients, m.ticket_ids, m.subject, re.sub(r"[A-Za-z0-9_-]{32,}", "<token>", m.body_text.replace(str(folder), "<folder>")))
                for m in s.scalars(select(MessageRow).order_by(MessageRow.id))
            ],
        }


def test_a_real_cascade_replayed_batch_read_and_post_by_post_gives_the_same_tickets_and_messages(tmp_path, make_app, clock):
    if not SMH.is_dir() or not KEEGAN.is_file():
        pytest.skip(f"real cascades not found under {REAL}")
    start = clock.now
    one_by_one = replay(make_app, tmp_path / "one-by-one", clock, batch_reads=False)
    clock.now = start
    batched = replay(make_app, tmp_path / "batched", clock, batch_reads=True)
    for what in one_by_one:
        assert batched[what] == one_by_one[what], what
    # and the replay is no empty one: the cascades raised, reopened and alerted
    kinds = {kind for _, _, kind, _, _ in batched["timeline"]}
    assert {"opened", "severity_raised", "resolved"} <= kinds and ("reopened" in kinds or len(batched["tickets"]) > 2)
    assert any(severity == "urgent" for _, _, _, severity, *_ in batched["tickets"])
    assert len(batched["readings"]) > 200 and batched["messages"]
    issues = {pid: issue for pid, _, issue, *_ in batched["mentions"]}
    assert issues["p6"] == issues["p3"] and issues["p7"] == issues["p3"]  # near-copies joined p3's issue
    assert issues["p10"] == issues["p11"] != issues["p3"]  # and p10 the issue p11 started in the same poll
    assert issues["p8"].startswith("cat:quality:")



def post(pid: str, body: str, *, reposts: int | None = None, likes: int | None = None, repost_of: str = "", created_at: datetime | None = None) -> Post:
    return Post("test", pid, f"https://test.example/{pid}", body, created_at=created_at, engagement=Engagement(reposts=reposts, likes=likes), repost_of=repost_of)


def tickets(app: Any) -> list[tuple[str, str, list[str], list[str]]]:
    with app.sessions() as s:
        return [(t.issue_key, t.severity, t.categories, t.reasons) for t in s.scalars(select(TicketRow).order_by(TicketRow.id))]


def _app_scoring(make_app, tmp_path, batch_reads: bool):
    """An app on the test config whose pipeline scores one post at a time or the batch at once."""
    app = make_app(write_config(tmp_path))
    app._parts.pipeline.batch_reads = batch_reads
    return app, app._parts.pipeline


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_repost_arriving_with_its_originals_growth_counts_toward_its_velocity(tmp_path, make_app, clock, batch_reads):
    """In one poll a new repost (with 60 likes of its own) comes before its original, whose
    reposts rose by 50: the original spread by 110 within the window, urgent, not 50."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    original = post("o", "艾克美保温杯今天发布新款", reposts=0, created_at=clock.now)
    pipeline.ingest("test", [original])
    clock.advance(minutes=10)
    repost = post("r", "好看！//转发：艾克美保温杯今天发布新款", likes=60, repost_of="o", created_at=clock.now - timedelta(minutes=5))
    pipeline.ingest("test", [repost, dataclasses.replace(original, engagement=Engagement(reposts=50))])
    [(_, severity, _, reasons)] = tickets(app)
    assert severity == "urgent" and any("+110" in reason for reason in reasons)


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_an_edited_post_whose_counters_grew_is_matched_again(tmp_path, make_app, clock, batch_reads):
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    pipeline.ingest("test", [post("p", "艾克美保温杯颜值很高", likes=1)])
    assert tickets(app) == []
    clock.advance(minutes=5)
    pipeline.ingest("test", [post("p", "艾克美保温杯颜值很高，可是烫伤了孩子", likes=3)])
    [(issue, severity, categories, reasons)] = tickets(app)
    assert (severity, categories) == ("urgent", ["safety"]) and reasons == ["crisis terms 烫伤 (safety) → urgent"]


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_after_a_reload_a_grown_post_is_scored_as_the_new_keywords_match_it(tmp_path, make_app, clock, batch_reads):
    """A reload re-matches recent posts (``rematch_recent``) but never deletes a mention:
    the keywords in force decide, at each growth, whether a stored mention is scored."""
    path = write_config(tmp_path)
    app = make_app(path)
    app._parts.pipeline.batch_reads = batch_reads
    app._parts.pipeline.ingest("test", [post("a", "艾克美小区门口的保温杯店开业", likes=0), post("b", "Acme thermos, new colours", likes=0)])
    with app.sessions() as s:
        assert s.scalars(select(PostRow.platform_id).where(PostRow.matched.is_(True))).all() == ["b"]  # "a" is excluded by 艾克美小区
    # the reload: "艾克美小区" no longer excluded, and "Acme" no longer a keyword
    path.write_text(path.read_text(encoding="utf-8").replace('exclude = ["艾克美小区"]', "exclude = []").replace('keywords = ["艾克美", "Acme"]', 'keywords = ["艾克美"]'), encoding="utf-8")
    app.apply(load_config(path, source_kinds()))
    app._parts.pipeline.batch_reads = batch_reads
    with app.sessions() as s:
        assert sorted(s.scalars(select(PostRow.platform_id).join(MentionRow, MentionRow.post_id == PostRow.id)).all()) == ["a", "b"]  # re-matched at the reload
    clock.advance(minutes=10)
    app._parts.pipeline.ingest("test", [post("a", "艾克美小区门口的保温杯店开业", likes=120), post("b", "Acme thermos, new colours", likes=120)])
    [(issue, severity, _, reasons)] = tickets(app)  # "a" went viral and is scored; "b" no longer names a brand
    assert severity == "urgent" and reasons == ["engagement velocity +120 in 30m (≥ 100) → urgent"]
    with app.sessions() as s:
        ticket = s.scalar(select(TicketRow))
        assert [link.post.platform_id for link in ticket.posts] == ["a"]


def issue_of(app: Any, pid: str) -> str:
    with app.sessions() as s:
        return s.scalar(select(MentionRow.issue_key).join(PostRow, PostRow.id == MentionRow.post_id).where(PostRow.platform_id == pid))


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_new_mention_counts_toward_its_issues_volume_for_the_rest_of_the_batch(tmp_path, make_app, clock, batch_reads):
    """Four near-copies, then a poll where one of them grew (its issue's volume read: 4) and
    a fifth arrives: the fifth makes the volume 5, the important threshold, and opens a ticket."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    text = "艾克美新品发布会今天开始，现场人很多"
    pipeline.ingest("test", [post(f"c{n}", text, likes=0) for n in range(1, 5)])
    assert tickets(app) == []
    clock.advance(minutes=5)
    pipeline.ingest("test", [post("c1", text, likes=1), post("c5", text, likes=0)])
    [(_, severity, _, reasons)] = tickets(app)
    assert severity == "important" and any("volume 5" in reason for reason in reasons)


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_post_taken_back_mid_batch_lends_its_undone_growth_to_no_repost_after_it(tmp_path, make_app, clock, monkeypatch, batch_reads):
    """The original's counters jumped by 150 and its scoring fails as its ticket is opened,
    so its reading is taken back (the next poll sees the jump again); a new repost of it
    later in the same batch is scored without that reading: no ticket on growth that is
    not stored. The next poll stores the jump and alerts once."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    real = pipeline.desk.consider
    broken = {"on": True}

    def consider(session, mention, row, *args, **kwargs):
        if broken["on"] and row.platform_id == "o":
            raise RuntimeError("boom")
        return real(session, mention, row, *args, **kwargs)

    original = post("o", "艾克美保温杯今天发布新款", reposts=0, created_at=clock.now)
    pipeline.ingest("test", [original])
    clock.advance(minutes=10)
    monkeypatch.setattr(pipeline.desk, "consider", consider)
    repost = post("r", "转发：艾克美保温杯今天发布新款", likes=0, repost_of="o", created_at=clock.now)
    grown = dataclasses.replace(original, engagement=Engagement(reposts=150))
    report = pipeline.ingest("test", [grown, repost])
    assert report.posts == 1 and tickets(app) == []
    broken["on"] = False
    clock.advance(minutes=2)
    pipeline.ingest("test", [grown, repost])
    [(_, severity, _, reasons)] = tickets(app)
    assert severity == "urgent" and any("+150" in reason for reason in reasons)


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_near_copy_of_a_post_edited_into_a_complaint_in_the_same_batch_does_not_join_the_issue_it_left(tmp_path, make_app, clock, batch_reads):
    """The first post is edited into a quality complaint (it leaves its near-duplicate
    issue) in the poll where a near-copy of its old text arrives, after another new post
    that looked for near-copies before the edit: the near-copy finds no near-duplicate left
    and starts an issue of its own, as a query at that moment says."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    text = "艾克美新品发布会今天开始，现场人很多"
    pipeline.ingest("test", [post("x", text, likes=0)])
    left = issue_of(app, "x")
    assert left.startswith("dup:")
    clock.advance(minutes=5)
    other = post("z", "Acme thermos, new colours", likes=0)
    pipeline.ingest("test", [other, post("x", text + "，杯子还漏水", likes=0), post("y", "艾克美新品发布会今天开始了，现场人很多", likes=0)])
    assert issue_of(app, "x").startswith("cat:quality:")
    assert issue_of(app, "y").startswith("dup:") and issue_of(app, "y") != left


@contextmanager
def rows_per_statement() -> Iterator[list[int]]:
    """The rows each SELECT run through a session returns, while the block runs."""
    counts: list[int] = []

    def count(state: ORMExecuteState) -> Result[Any] | None:
        if not state.is_select:
            return None
        frozen = state.invoke_statement().freeze()
        counts.append(len(frozen.data))
        return frozen()

    event.listen(Session, "do_orm_execute", count)
    try:
        yield counts
    finally:
        event.remove(Session, "do_orm_execute", count)


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_viral_originals_reposts_are_read_no_more_than_scoring_uses(tmp_path, make_app, clock, batch_reads):
    """An original with more reposts than scoring looks at (``MAX_REPOSTS``, the newest):
    when it grows, no statement reads more of them, however many the database holds (a
    post reposted 100,000 times is followed every poll)."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    original = post("o", "艾克美保温杯今天发布新款", reposts=0, created_at=clock.now)
    pipeline.ingest("test", [original])
    clock.advance(minutes=5)
    pipeline.ingest("test", [post(f"r{n}", "转发：艾克美保温杯今天发布新款", repost_of="o", created_at=clock.now) for n in range(MAX_REPOSTS + 50)])
    clock.advance(minutes=5)
    with rows_per_statement() as largest:
        pipeline.ingest("test", [dataclasses.replace(original, engagement=Engagement(reposts=80))])
    assert max(largest) <= MAX_REPOSTS
    [(_, severity, _, reasons)] = tickets(app)  # its reposts raised it to urgent as they came
    assert severity == "urgent" and any("100 reposts/quotes seen" in reason for reason in reasons)


@pytest.mark.parametrize("batch_reads", [False, True], ids=["one by one", "batched"])
def test_a_drain_of_long_followed_posts_holds_the_readings_of_a_few_at_a_time(tmp_path, make_app, clock, batch_reads):
    """Posts followed for hours have a reading for every poll they grew in: a drain handing
    over hundreds of them reads their curves a slice of posts at a time, not every curve
    of the batch at once (the memory of a batch stays that of a few posts' curves). The
    post of the third slice goes viral in the last poll (it opens an urgent ticket), and a
    repost of it at the end of the batch (the next slice) is scored with its original's
    curve: it joins that ticket."""
    app, pipeline = _app_scoring(make_app, tmp_path, batch_reads)
    rng = random.Random(7)  # texts that are no near-copies of each other: an issue each
    texts = ["艾克美" + "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(12)) for _ in range(3 * CURVE_POSTS)]
    batch = [post(f"f{n}", text, likes=0, created_at=clock.now) for n, text in enumerate(texts)]
    polls = 4
    for likes in range(polls):
        pipeline.ingest("test", [dataclasses.replace(p, engagement=Engagement(likes=likes)) for p in batch])
        clock.advance(minutes=2)
    last = [dataclasses.replace(p, engagement=Engagement(likes=polls)) for p in batch]
    viral = 2 * CURVE_POSTS + 50
    last[viral] = dataclasses.replace(batch[viral], engagement=Engagement(likes=polls + 150))
    last.append(post("r", "转发：" + texts[viral], repost_of=f"f{viral}", created_at=clock.now))
    with rows_per_statement() as counts:
        report = pipeline.ingest("test", last)
    assert report.mentions == len(last)
    assert max(counts) <= CURVE_POSTS * (polls + 1)
    [(_, severity, _, reasons)] = tickets(app)
    assert severity == "urgent" and any(f"+{polls + 150} " in reason for reason in reasons)  # created within the window: all of it
    with app.sessions() as s:
        ticket = s.scalar(select(TicketRow))
        assert ticket.title == texts[viral] and sorted(link.post.platform_id for link in ticket.posts) == [f"f{viral}", "r"]
