"""The learned early warning (monitor/detect/early.py): its features read the counter the
same whatever the poll spacing, the shipped weights say what their docstring says, the
rule decides alone under ``forecast_rule = "learned"``, and on the real cascades the bench
started from it beats the pace rule. How well it does held out is bench/forecast_learned.py's
question (bench/RESULTS.md)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from monitor.config import ScoringConfig
from monitor.detect import early
from monitor.detect import forecast as fc
from monitor.detect.scoring import Evidence, Outlook, Projection, Reading, assess, project
from monitor.storage.models import PostRow, SnapshotRow, TicketRow
from sources import Engagement, Post
from tests.conftest import START, status, write_config
from tests.test_bench import REAL, _bench
from tests.test_detection import TIMELINE, tickets
from tests.test_forecast import _forecasting, counters, young_post_taking_off

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
OUTLOOK = Outlook(60.0, 30.0, 120.0, 0.8, False)


@settings(max_examples=200, deadline=None)
@given(counters(), st.integers(-3600, 3 * 86400), st.booleans())
def test_the_counter_between_readings_lies_between_them(readings, offset, created):
    at = readings[0].at + timedelta(seconds=offset)
    got = early.counter_at(readings, T0 if created else None, at)
    before = [r.total for r in readings if r.at <= at]
    after = [r.total for r in readings if r.at >= at]
    low = before[-1] if before else (0 if created else readings[0].total)
    high = after[0] if after else readings[-1].total
    assert low <= got <= high
    for r in readings:
        assert early.counter_at(readings, T0 if created else None, r.at) == r.total  # a reading is read as it is


def _linear(every_minutes: int, per_minute: int, until: int) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=m), per_minute * m) for m in range(every_minutes, until + 1, every_minutes)]


def test_the_gains_read_the_same_whether_the_post_is_polled_every_minute_or_every_five():
    """A source polled every minute and one polled every five see the same post: the model
    fitted on 5-minute polls must not read a 1-minute gain as a slowdown."""
    now = T0 + timedelta(minutes=40)
    seen = {every: early.features(_linear(every, 3, 40), T0, now, WINDOW, 100, 90, None, OUTLOOK) for every in (1, 5, 10)}
    assert seen[1] == pytest.approx(seen[5])
    assert seen[10] == pytest.approx(seen[5])
    gains = seen[5][3:6]
    assert gains == pytest.approx([early.math.log1p(15) - early.math.log(100)] * 3)  # 3 a minute over each 5-minute sixth


def test_a_post_speeding_up_is_likelier_to_cross_than_one_slowing_down_with_the_same_count():
    speeding = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 2), (10, 6), (15, 14), (20, 40))]
    slowing = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 20), (10, 30), (15, 36), (20, 40))]
    now = T0 + timedelta(minutes=20)
    odds = [early.chance(r, T0, now, WINDOW, 100, 40, None, OUTLOOK) for r in (speeding, slowing)]
    assert odds[0] > odds[1]


def test_a_chance_at_forecast_chance_warns_and_says_its_numbers():
    learned = ScoringConfig(forecast_chance=0.3)
    assert learned.forecast_rule == "learned"
    evidence = Evidence(categories=(), velocity=30, volume=0, outlook=Outlook(140.4, 90.2, 210.0, 0.8, True), chance=0.3)
    verdict = assess(evidence, learned)
    assert verdict.severity is not None and verdict.severity.name == "important"
    assert verdict.reasons == ("forecast +140 (90–210) in 30m at 80 %, chance of crossing 越线概率 30 % (warns from 30 %; urgent at 100) → important",)
    assert assess(replace(evidence, chance=0.29), learned).severity is None


def test_under_the_learned_rule_a_low_chance_holds_back_what_the_interval_and_pace_rules_would_raise():
    reaches = Outlook(140.0, 110.0, 210.0, 0.8, True)
    evidence = Evidence(categories=(), velocity=30, volume=0, projection=Projection(300, 10.0), outlook=reaches, chance=ScoringConfig().forecast_chance / 2)
    assert assess(evidence, ScoringConfig()).severity is None
    interval = assess(evidence, ScoringConfig(forecast_rule="interval"))
    assert interval.severity is not None and interval.reasons == ("forecast +140 (110–210) in 30m at 80 % (urgent at 100) → important",)


def test_the_mails_band_does_not_move_the_chance():
    """``forecast_confidence`` widens the forecast's band in the mail; the weights read the
    bounds at the confidence they were fitted at, so setting it to 0.95 or 0.5 must not
    raise or silence the learned warning (at 0.95 this post read 9 %, under the cut, where
    at 0.8 it reads 13 %)."""
    readings = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 2), (10, 6), (15, 14), (20, 30))]
    now = readings[-1].at
    projection = project(readings, now, WINDOW)
    odds = [early.chance(readings, T0, now, WINDOW, 100, 30, projection, fc.outlook(readings, T0, now, WINDOW, 100, confidence=confidence)) for confidence in (0.5, 0.8, 0.95)]
    assert odds[0] == odds[1] == odds[2] > ScoringConfig().forecast_chance


def _original_cascades(monkeypatch: pytest.MonkeyPatch) -> list:
    if not (REAL / "cascades" / "twitter_smh_casin").is_dir():
        pytest.skip(f"real cascades not available ({REAL})")
    monkeypatch.setenv("FORECAST_SETS", "twitter-seismic,twitter-smh,bluesky-likes")
    return _bench("forecast").load(REAL)


def test_on_the_first_real_cascades_the_learned_rule_warns_of_more_crossings_than_the_pace_rule_with_fewer_false_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 22 cascades the bench began with (20 SMH Twitter cascades, the SEISMIC tweet, a
    Bluesky post's likes), replayed at 5-minute polls. They are among the 301 the weights
    were fitted on: this guards the shipped rule against a regression, the held-out
    figures are bench/forecast_learned.py's. At 50: 11 crossings warned against 4, 16
    cascades flagged in vain against 26, as early (a median 25 minutes). (At 100 it warns
    of 7 crossings the pace rule misses, and flags 10 in vain against 6: the bench's
    trade-off table.)"""
    forecast = _bench("forecast")
    cascades = _original_cascades(monkeypatch)
    at_50 = forecast.at_threshold(ScoringConfig(), 50)
    learned = forecast.replay(cascades, 300.0, at_50, forecast.rule("learned, in-sample", at_50, ()))
    pace = forecast.replay(cascades, 300.0, at_50, forecast.rule("pace", at_50, ()))
    assert learned.warned > pace.warned and learned.flagged_false < pace.flagged_false
    assert forecast.statistics.median(learned.leads) >= forecast.statistics.median(pace.leads)


def test_the_learned_rule_is_the_default_and_interval_keeps_the_rule_before_it():
    assert ScoringConfig().forecast_rule == "learned"
    assert replace(ScoringConfig(), forecast_rule="interval").forecast_rule == "interval"


def test_in_the_daemon_a_young_post_taking_off_is_raised_with_its_chance_in_the_reason(tmp_path, loopback, make_app, clock):
    reason = young_post_taking_off(make_app(_forecasting(tmp_path, loopback, 0.8, "learned")), loopback, clock)
    assert re.fullmatch(r"forecast \+\d+ \(\d+–\d+\) in 30m at 80 %, chance of crossing 越线概率 \d+ % \(warns from 9 %; urgent at 100\) → important", reason)


def test_in_the_daemon_an_older_post_whose_burst_is_fading_is_not_raised(tmp_path, loopback, make_app, clock):
    """A three-hour-old post gains 15, then 7, 3 and 1 in five-minute steps: more than a
    fifth of the line within the window, but slowing; the pace rule is quiet and so is the
    learned chance."""
    app = make_app(_forecasting(tmp_path, loopback, 0.8, "learned"))
    text = "艾克美保温杯的盖子一拧就弹开"
    for reblogs in (200, 215, 222, 225, 226):
        clock.advance(minutes=5)
        loopback.json(TIMELINE, [status("1", text, created=START - timedelta(hours=3), reblogs=reblogs)])
        app.poll("masto")
    assert [t["reasons"] for t in tickets(app)] == []


@settings(max_examples=200, deadline=None)
@given(counters(), st.booleans(), st.integers(1, 100_000), st.integers(0, 10**9), st.integers(-3600, 86400))
def test_any_counter_gives_a_finite_chance(readings, created, line, velocity, after):
    """Whatever a platform reports (a post "created" after its first reading, a counter in
    the billions, a line of 1), the chance is a number between 0 and 1."""
    now = readings[-1].at + timedelta(seconds=max(after, 0))
    created_at = readings[0].at + timedelta(seconds=after) if created else None
    got = early.features(readings, created_at, now, WINDOW, line, velocity, Projection(velocity, 1.0), Outlook(float("nan"), -5.0, float("inf"), 0.8, False))
    assert all(early.math.isfinite(x) for x in got) and len(got) == len(early.FEATURES)
    odds = early.chance(readings, created_at, now, WINDOW, line, velocity, None, Outlook(3.0, 1.0, 9.0, 0.8, False))
    assert 0.0 <= odds <= 1.0


def test_a_post_with_a_billion_likes_two_days_old_is_scored_and_its_growth_kept(tmp_path, make_app, clock):
    """A post first read 40 hours after it was made, with a billion likes (absurd, but a
    count the platform may send), then gaining 15 and 15 in five-minute polls: into the
    early band. The counter before the first reading was a count times a timedelta, past
    timedelta's 999,999,999 days: the post was taken back every poll (its growth lost, an
    error logged) instead of scored."""
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    created = clock.now - timedelta(hours=40)
    for likes in (10**9, 10**9 + 15, 10**9 + 30):
        report = pipeline.ingest("test", [Post("test", "big", "https://test.example/big", "艾克美保温杯今天发布新款", created_at=created, engagement=Engagement(likes=likes))])
        assert report.posts == 1
        clock.advance(minutes=5)
    with app.sessions() as s:
        post_id = s.scalar(select(PostRow.id).where(PostRow.platform_id == "big"))
        assert [r.likes for r in s.scalars(select(SnapshotRow).where(SnapshotRow.post_id == post_id).order_by(SnapshotRow.at))] == [10**9, 10**9 + 15, 10**9 + 30]


def test_a_reposts_likes_do_not_read_as_the_post_itself_speeding_up(tmp_path, make_app, clock):
    """The original's reposts go 2, 5, 10, 20 in five-minute polls (a chance of about 6 %,
    under the cut); a repost of it gains 24 likes in the last five minutes. Its spread (44)
    is in the early band, and the crossing rule counts it; but the chance was fitted on a
    post's own counter, and fed the spread it read 9 % and raised the post on likes the
    model never saw."""
    app = make_app(write_config(tmp_path))
    pipeline = app._parts.pipeline
    created = clock.now
    text = "艾克美保温杯今天发布新款"

    def original(reposts: int) -> Post:
        return Post("test", "o", "https://test.example/o", text, created_at=created, engagement=Engagement(reposts=reposts))

    for reposts in (2, 5, 10):
        clock.advance(minutes=5)
        pipeline.ingest("test", [original(reposts)])
    repost = Post("test", "r", "https://test.example/r", "转发：" + text, created_at=clock.now, engagement=Engagement(likes=0), repost_of="o")
    pipeline.ingest("test", [repost])
    clock.advance(minutes=5)
    pipeline.ingest("test", [original(20), dataclasses.replace(repost, engagement=Engagement(likes=24))])
    with app.sessions() as s:
        assert [t.reasons for t in s.scalars(select(TicketRow))] == []
