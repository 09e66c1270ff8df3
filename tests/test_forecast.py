"""The engagement forecast (monitor/detect/forecast.py): its invariants on any monotone
counter, and what it must say on plain cases. How well it forecasts is bench/forecast.py's
question, on real cascades."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ScoringConfig
from monitor.detect import forecast as fc
from monitor.detect.scoring import Evidence, Outlook, Projection, Reading, assess
from tests.conftest import BASE_CONFIG, START, mastodon_source, status, write_config
from tests.test_detection import TIMELINE, tickets

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


@st.composite
def counters(draw: st.DrawFn) -> list[Reading]:
    """A counter read at increasing times (seconds apart to hours apart) that never goes down."""
    gaps = draw(st.lists(st.integers(1, 4 * 3600), min_size=1, max_size=80))
    steps = draw(st.lists(st.integers(0, 5000), min_size=len(gaps), max_size=len(gaps)))
    at, total, out = T0, draw(st.integers(0, 1000)), []
    for gap, step in zip(gaps, steps, strict=True):
        at += timedelta(seconds=gap)
        total += step
        out.append(Reading(at, total))
    return out


@settings(max_examples=200, deadline=None)
@given(counters(), st.sampled_from(fc.MODELS), st.booleans(), st.floats(0.05, 0.99), st.integers(1, 48 * 3600))
def test_a_monotone_counter_gives_a_forecast_no_lower_than_now_inside_its_interval(readings, model, created, confidence, ahead):
    now = readings[-1].at
    got = fc.forecast(readings, T0 if created else None, now, timedelta(seconds=ahead), confidence=confidence, model=model)
    assert got is not None
    last = readings[-1].total
    assert last <= got.low <= got.point <= got.high
    assert all(map(lambda x: x == x and x != float("inf"), (got.low, got.point, got.high)))  # no NaN, no infinity


@settings(max_examples=100, deadline=None)
@given(counters(), st.integers(1, 500))
def test_the_outlook_flags_only_when_its_lower_bound_reaches_the_threshold(readings, threshold):
    now = readings[-1].at
    got = fc.outlook(readings, T0, now, WINDOW, threshold, confidence=0.8)
    assert got is not None
    assert got.low <= got.gain <= got.high
    assert got.reaches == (got.low >= threshold)


def test_a_flat_counter_is_forecast_flat():
    readings = [Reading(T0 + timedelta(minutes=5 * k), 40) for k in range(1, 13)]
    got = fc.forecast(readings, None, readings[-1].at, WINDOW)
    assert got is not None and got.low == got.point == got.high == 40


def test_no_reading_no_forecast():
    assert fc.forecast([], T0, T0, WINDOW) is None
    assert fc.outlook([Reading(T0 + timedelta(minutes=1), 5)], T0, T0, WINDOW, 100) is None  # the reading is after now


def test_readings_out_of_order_give_the_same_forecast():
    readings = [Reading(T0 + timedelta(minutes=5 * k), 3 * k * k) for k in range(1, 10)]
    now = readings[-1].at
    assert fc.forecast(list(reversed(readings)), T0, now, WINDOW) == fc.forecast(readings, T0, now, WINDOW)


def test_two_days_of_minute_readings_are_thinned_to_a_few_dozen():
    readings = [Reading(T0 + timedelta(minutes=k), 10 * k) for k in range(1, 48 * 60)]
    kept = fc._kept(readings, readings[-1].at)
    assert kept[0] == readings[0] and kept[-1] == readings[-1]
    assert len(kept) <= fc.KEEP + 40
    assert [r.at for r in kept] == sorted(r.at for r in kept)


def test_a_fast_young_post_is_forecast_to_cross_and_a_fading_one_not():
    fast = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 30), (10, 60), (15, 90))]  # +30 every 5 min: 100 in the window soon
    got = fc.outlook(fast, T0, fast[-1].at, WINDOW, 100, confidence=0.8)
    assert got is not None and got.reaches
    fading = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 30), (10, 38), (15, 40), (20, 41))]
    got = fc.outlook(fading, T0, fading[-1].at, WINDOW, 100, confidence=0.8)
    assert got is not None and not got.reaches


# --- the trigger (monitor/detect/scoring.py) and the pipeline --------------------------------

ON = ScoringConfig(forecast_trigger=True, forecast_rule="interval")
"""The interval rule; tests/test_early_warning.py has the learned one (the default)."""


def test_the_forecast_rule_states_the_forecast_and_its_interval():
    evidence = Evidence(categories=(), velocity=30, volume=0, outlook=Outlook(140.4, 90.2, 210.0, 0.8, True))
    verdict = assess(evidence, ON)
    assert verdict.severity is not None and verdict.severity.name == "important"
    assert verdict.reasons == ("forecast +140 (90–210) in 30m at 80 % (urgent at 100) → important",)


def test_a_pace_warning_stands_only_where_the_forecasts_upper_bound_reaches_the_line():
    pace = Projection(gain=300, per_minute=10.0)
    cannot = Outlook(60.0, 30.0, 90.0, 0.8, False)  # even its upper bound stays under 100
    assert assess(Evidence(categories=(), velocity=30, volume=0, projection=pace, outlook=cannot), ON).severity is None
    could = Outlook(150.0, 80.0, 300.0, 0.8, False)
    verdict = assess(Evidence(categories=(), velocity=30, volume=0, projection=pace, outlook=could), ON)
    assert verdict.severity is not None and verdict.severity.name == "important"
    assert verdict.reasons == ("forecast +150 (80–300) in 30m at 80 %, pace 10.0/min projects +300 (urgent at 100) → important",)
    assert assess(Evidence(categories=(), velocity=30, volume=0, outlook=could), ON).severity is None  # no pace flag, lower bound short: nothing


def test_without_a_forecast_or_with_the_rule_off_the_pace_rule_speaks_as_before():
    pace = Projection(gain=300, per_minute=10.0)
    off = ScoringConfig(forecast_trigger=False)
    for scoring, outlook in ((off, Outlook(60.0, 30.0, 90.0, 0.8, False)), (ON, None)):
        verdict = assess(Evidence(categories=(), velocity=30, volume=0, projection=pace, outlook=outlook), scoring)
        assert verdict.reasons == ("on track to go viral: +30 so far, 10.0/min projects +300 in 30m (urgent at 100) → important",)


def test_the_forecast_rule_is_on_by_default_and_waits_for_a_fifth_of_the_line():
    assert ScoringConfig().forecast_trigger
    too_little = Evidence(categories=(), velocity=10, volume=0, projection=Projection(300, 10.0), outlook=Outlook(150.0, 120.0, 200.0, 0.8, True))
    assert assess(too_little, ON).severity is None  # under MIN_SHARE of velocity_urgent: no trend yet, as for the pace rule


def test_the_outlook_of_a_post_short_of_the_line_is_its_likeliest_horizon():
    """When no horizon's lower bound reaches the line, the outlook shown is the one whose
    upper bound comes closest to it: the one a pace warning is checked against."""
    fading = [Reading(T0 + timedelta(minutes=m), n) for m, n in ((5, 30), (10, 38), (15, 40), (20, 41))]
    got = fc.outlook(fading, T0, fading[-1].at, WINDOW, 100, confidence=0.8)
    assert got is not None and not got.reaches
    window_ahead = fc.forecast(fading, T0, fading[-1].at, WINDOW, confidence=0.8)
    assert window_ahead is not None and got.high >= window_ahead.high - fading[-1].total


def _forecasting(tmp_path, loopback, confidence: float, rule: str = "interval"):
    base = BASE_CONFIG.replace('track_for = "48h"\n', f'track_for = "48h"\nforecast_trigger = true\nforecast_confidence = {confidence}\nforecast_rule = "{rule}"\n')
    assert base != BASE_CONFIG
    return write_config(tmp_path, mastodon_source(loopback.base), base=base)


def young_post_taking_off(app, loopback, clock) -> str:
    """A post gaining 10, 22, 40 a minute apart from its creation: the one ticket it raises
    must be important, and its forecast reason is returned."""
    text = "艾克美保温杯的盖子一拧就弹开"
    for reblogs in (10, 22, 40):  # a minute apart, from a post created at START
        clock.advance(minutes=1)
        loopback.json(TIMELINE, [status("1", text, created=START, reblogs=reblogs)])
        app.poll("masto")
    [ticket] = tickets(app)
    assert ticket["severity"] == "important"
    [reason] = [r for r in ticket["reasons"] if r.startswith("forecast +")]
    return reason


def test_a_young_post_forecast_to_cross_is_raised_to_important_with_the_forecast_in_its_reason(tmp_path, loopback, make_app, clock):
    reason = young_post_taking_off(make_app(_forecasting(tmp_path, loopback, 0.5)), loopback, clock)
    assert re.fullmatch(r"forecast \+\d+ \(\d+–\d+\) in 30m at 50 %.* \(urgent at 100\) → important", reason)


def test_a_late_burst_on_an_older_post_the_pace_rule_flags_is_not_forecast_to_cross(tmp_path, loopback, make_app, clock):
    app = make_app(_forecasting(tmp_path, loopback, 0.8))
    text = "艾克美保温杯的盖子一拧就弹开"
    created = START - timedelta(minutes=40)
    for reblogs in (5, 15, 28):  # test_detection's "on track to go viral" post: the pace rule says important
        loopback.json(TIMELINE, [status("1", text, created=created, reblogs=reblogs)])
        app.poll("masto")
        clock.advance(minutes=2)
    assert tickets(app) == []
