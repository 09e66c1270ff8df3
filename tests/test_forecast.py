"""The engagement forecast (monitor/detect/forecast.py): its invariants on any monotone
counter, and what it must say on plain cases. How well it forecasts is bench/forecast.py's
question, on real cascades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.detect import forecast as fc
from monitor.detect.scoring import Reading

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
