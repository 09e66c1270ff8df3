"""Forecasting a post's engagement from counter readings, on real cascades (issue 17).

    .venv/bin/python bench/forecast.py [--data ../shared/fixtures/real] [--every 5m]

Data: the cascade sets of ``bench/cascade_sets.py``, all under ``fixtures/real/cascades/``
(and ``streams/``), each printed with its count of cascades, events and crossings; a set
whose files are absent is skipped with a line, and ``FORECAST_SETS=name,…`` picks sets.
Provenance in ``fixtures/real/SOURCES.md`` and ``bench/data/cascades/PROVENANCE.md``.

* ``twitter-seismic``: the SEISMIC example cascade (cran/seismic @ b1bc6c9f, GPL-3), all
  15,563 retweets of tweet 127001313513967616 with their time in seconds
  (``twitter_seismic/tweet_derived.csv``, the rows of ``tweet.rda``).
* ``twitter-smh``: 20 Twitter retweet cascades (computationalmedia/cascade-influence
  @ fa437415, CC BY-NC 4.0), ``twitter_smh_casin/SMH-cascade-{0..19}.csv``.
* ``bluesky-likes``: 2,889 likes of one Bluesky post (brianckeegan/bluesky-datascience
  @ 34a3fa33, MIT), ``streams/bluesky_keegan/case_study_likes.csv``.
* ``weibo-casflow``: 30 Sina Weibo repost cascades of 1 June 2016, a sample of the
  DeepHawkes set (Xovee/casflow @ 10950aeb, MIT), 6 of which gain 100 in half an hour.
* ``twitter-tideh``: 100 tweets of more than 2,000 retweets from the SEISMIC data set
  (NII-Kobayashi/TiDeH @ 23bc22f8, MIT), all of which do, most before a first reading.
* ``weibo-ced``: every 25th of 3,387 Weibo posts with their reposts and comments, rumours
  and not (thunlp/Chinese_Rumor_Dataset @ c1178d8c, no licence stated): 136, 45 of which do.
* ``twitter-auspol``: the 13 #auspol retweet cascades of at least 50 retweets of 3,333
  (behavioral-ds/evently @ d3e6a693, CC BY-NC 4.0), none of which does.

The last four are ``<name>/events.csv.gz`` files (``cascade,seconds``) derived by
``bench/data/derive_cascades.py``. Left out, with the reason: ``cascades/youtube_hipie``
(daily views: a day is the finest step, so there is nothing to cut at 30 minutes) and the
hot-list archives (a topic's heat is a score that rises and falls, not a counter of events).

Each cascade becomes what a poller sees: the counter read every ``--every`` from the post's
creation (poll grids at five phases, so a cascade is not judged on one lucky alignment)
for ``track_for`` (48 h, the shipped value). At each cut (30 min, 1 h, 3 h of observation)
every model forecasts the counter at the end of the next ``velocity_window`` and at
``track_for``; the bench prints the median relative error. The trigger "will gain
``velocity_urgent`` (100) within ``velocity_window`` (30 min)" is replayed poll by poll for
the pace rule (``monitor.detect.scoring.assess`` with the real ``velocity`` and
``project``) and for the forecast rule; it prints, per rule, the cascades flagged early
(true and false), the recall of crossings warned of in time, the median lead time, and
the share of flags a crossing followed within the window. The shipped threshold is the
headline; smaller thresholds follow as a sensitivity check. All sets run in about 4 minutes
on a shared 2-core machine; one set in under 2.

``--variants`` also compares other intervals (:data:`VARIANTS`), each fitted on one fold of
cascades and scored on the other, beside the fit on all: a change to the forecast trigger
is judged held out, and on young posts (where the early rules decide) as well as overall.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import ScoringConfig
from monitor.detect import early as warning
from monitor.detect import forecast as fc
from monitor.detect.scoring import MIN_SHARE, Evidence, Outlook, Reading, assess, project, velocity

ROOT = Path(__file__).resolve().parents[1]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CUTS = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=3))
PHASES = 5


@dataclass(frozen=True, slots=True)
class Cascade:
    name: str
    times: tuple[float, ...]
    """Seconds after the post's creation of each counted event, sorted."""

    def count(self, at: float) -> int:
        return bisect.bisect_right(self.times, at)


def load(data: Path) -> list[Cascade]:
    """Every cascade of the sets ``bench/cascade_sets.py`` reads (all, or ``$FORECAST_SETS``),
    with a line per set: how many cascades, events, and crossings of the shipped line."""
    from bench.cascade_sets import describe, load_sets

    sets = load_sets(data)
    scoring = ScoringConfig()
    describe(sets, scoring.velocity_window.total_seconds(), scoring.velocity_urgent)
    return [Cascade(name, times) for s in sets for name, times in s.cascades]


def polls(cascade: Cascade, phase: float, every: float, until: float) -> list[Reading]:
    """The counter as a poller reads it: first at ``phase`` seconds after creation, then every ``every``."""
    out = []
    t = phase
    while t <= until:
        out.append(Reading(EPOCH + timedelta(seconds=t), cascade.count(t)))
        t += every
    return out


# --- the forecasters compared --------------------------------------------------------------

Forecaster = Callable[[Sequence[Reading], datetime, datetime, timedelta], fc.Forecast | None]


def pace(readings: Sequence[Reading], created: datetime, now: datetime, horizon: timedelta) -> fc.Forecast | None:
    """Today's rule: the recent pace (and acceleration) carried over ``horizon``."""
    seen = [r for r in readings if r.at <= now]
    got = project(seen, now, horizon)
    if got is None or not seen:
        return None
    total = seen[-1].total
    return fc.Forecast(horizon, total + got.gain, total + got.gain, total + got.gain, 0.0)


def still(readings: Sequence[Reading], created: datetime, now: datetime, horizon: timedelta) -> fc.Forecast | None:
    """No growth from now on: the floor any model must beat."""
    seen = [r for r in readings if r.at <= now]
    if not seen:
        return None
    return fc.Forecast(horizon, seen[-1].total, seen[-1].total, seen[-1].total, 0.0)


def model(kind: str) -> Forecaster:
    def run(readings: Sequence[Reading], created: datetime, now: datetime, horizon: timedelta) -> fc.Forecast | None:
        return fc.forecast(readings, created, now, horizon, confidence=0.8, model=kind)

    return run


FORECASTERS: dict[str, Forecaster] = {
    "pace rule (today)": pace,
    "no further growth": still,
    **{f"forecast: {name}": model(name) for name in fc.MODELS},
}


# --- measuring -----------------------------------------------------------------------------


def errors(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig) -> None:
    window, track = scoring.velocity_window, scoring.track_for
    print(f"Median relative error |forecast - actual| / actual (cascades with ≥ 1 event by the cut; {PHASES} poll phases each)\n")
    header = "| forecaster | " + " | ".join(f"{label} at {fmt(cut)}" for cut in CUTS for label in (f"+{fmt(window)}", f"{fmt(track)}")) + " |"
    print(header)
    print("| --- |" + " ---: |" * (2 * len(CUTS)))
    coverage: dict[str, list[bool]] = {}
    for name, forecaster in FORECASTERS.items():
        cells = []
        for cut in CUTS:
            for horizon in (window, track - cut):
                errs = []
                for cascade in cascades:
                    for k in range(PHASES):
                        phase = every * (k + 1) / PHASES
                        readings = polls(cascade, phase, every, cut.total_seconds())
                        if not readings or readings[-1].total == 0:
                            continue
                        now = readings[-1].at
                        got = forecaster(readings, EPOCH, now, horizon)
                        actual = cascade.count((now - EPOCH + horizon).total_seconds())
                        if got is None or actual == 0:
                            continue
                        errs.append(abs(got.point - actual) / actual)
                        if got.high > got.low:
                            coverage.setdefault(f"{name}, {'window' if horizon == window else 'track_for'}", []).append(got.low <= actual <= got.high)
                cells.append(f"{statistics.median(errs):.0%} (n={len(errs)})" if errs else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for name, hits in coverage.items():
        print(f"{name}: the 80 % interval held the actual value in {sum(hits) / len(hits):.0%} of {len(hits)} forecasts")
    print()


# --- the interval, calibrated on held-out cascades --------------------------------------------

CALIBRATE_FOR = timedelta(hours=6)
"""Forecasts made in a post's first hours (where an early warning is decided) are calibrated on."""
MIN_GAIN = 3.0
"""… those of at least this expected gain: below it a count is too coarse for a spread of
log ratios, and such a forecast never decides a threshold."""
FOLDS = 2


def fold_of(index: int) -> int:
    """Cascades in load order, alternately: each fold gets one of the two big ones."""
    return index % FOLDS


@dataclass(frozen=True, slots=True)
class Residual:
    horizon: float
    age: float
    gain: float
    variance: float
    actual: int
    readings: int


def residuals(cascade: Cascade, every: float, scoring: ScoringConfig) -> list[Residual]:
    """The window-ahead forecasts the trigger makes (a third, two thirds and all of the
    window ahead), at every poll of the first hours where the post grew within the window,
    with what then happened."""
    ahead = [scoring.velocity_window * step / 3 for step in (1, 2, 3)]
    out = []
    for k in range(PHASES):
        readings = polls(cascade, every * (k + 1) / PHASES, every, CALIBRATE_FOR.total_seconds())
        for i, reading in enumerate(readings):
            seen = readings[: i + 1]
            if velocity(seen, EPOCH, reading.at, scoring.velocity_window) < 1:
                continue
            got = fc.expected_gains(seen, EPOCH, reading.at, ahead)
            if got is None or got[1] <= 0:
                continue
            total, age, gains = got
            for horizon, (gain, variance) in zip(ahead, gains, strict=True):
                if gain >= MIN_GAIN:
                    actual = cascade.count((reading.at - EPOCH + horizon).total_seconds()) - total
                    out.append(Residual(horizon.total_seconds(), age, gain, variance, actual, len(seen)))
    return out


YOUNG = 3
"""Posts with at most this many readings are "young" (where the early rules decide)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """How a fitted gain becomes an interval. The shipped form is a floor with
    ``fc.CALIBRATION``'s slope; the variants compared in :func:`variants` add a floor of
    their own for young posts, or a correction of the gain by the post's age (SEISMIC's
    correction for cascades seen early: a factor fitted on training cascades per age)."""

    floor: float
    slope: float = fc.CALIBRATION.slope
    young_floor: float | None = None
    bias: tuple[tuple[float, float], ...] = ()
    """(from this age in seconds, multiply the gain by), ascending."""

    def calibration(self, readings: int) -> fc.Calibration:
        if self.young_floor is not None and readings <= YOUNG:
            return fc.Calibration(self.young_floor, self.slope)
        return fc.Calibration(self.floor, self.slope)

    def factor(self, age: float) -> float:
        return next((by for since, by in reversed(self.bias) if age >= since), 1.0)

    def bounds(self, gain: float, variance: float, horizon: float, age: float, readings: int, confidence: float) -> tuple[float, float, float]:
        """(the corrected gain, its interval)."""
        factor = self.factor(age)
        low, high = fc.interval(gain * factor, variance * factor, horizon, age, confidence, self.calibration(readings))
        return gain * factor, low, high


def coverage(rows: Sequence[Residual], interval: Interval, confidence: float) -> tuple[float, float]:
    """(share inside the interval, share above its upper bound)."""
    inside = above = 0
    for r in rows:
        _, low, high = interval.bounds(r.gain, r.variance, r.horizon, r.age, r.readings, confidence)
        inside += low <= r.actual <= high
        above += r.actual > high
    return inside / len(rows), above / len(rows)


def fit_floor(rows: Sequence[Residual], confidence: float, make: Callable[[float], Interval] = Interval) -> Interval:
    """The least floor whose interval holds ``confidence`` of ``rows`` (bisection; coverage
    grows with the floor)."""
    low, high = 0.0, 3.0
    for _ in range(30):
        mid = (low + high) / 2
        if coverage(rows, make(mid), confidence)[0] < confidence:
            low = mid
        else:
            high = mid
    return make(math.ceil(high * 100) / 100)  # rounded up: rounded to nearest, it could hold a little less


def calibrate(rows: Sequence[Sequence[Residual]], confidence: float) -> list[fc.Calibration]:
    """The floor for each fold, fitted on the other folds' cascades only (``rows``: each
    cascade's residuals); printed with its coverage on the fold it is used for, and the fit
    on all (what the daemon ships)."""
    print(f"Calibrating the window-ahead interval's floor (forecasts of ≥ {MIN_GAIN:.0f} in the first {fmt(CALIBRATE_FOR)}; {FOLDS} folds of cascades, alternately)\n")
    print(f"| fitted on | floor | held out on | its {confidence:.0%} interval holds | above its upper bound |")
    print("| --- | ---: | --- | ---: | ---: |")
    out = []
    for fold in range(FOLDS):
        train, test = split(rows, fold)
        fitted = fit_floor(train, confidence)
        inside, above = coverage(test, fitted, confidence)
        print(f"| the other fold(s) (n={len(train)}) | {fitted.floor:.2f} | fold {fold} (n={len(test)}) | {inside:.0%} | {above:.0%} |")
        out.append(fc.Calibration(fitted.floor, fitted.slope))
    everything = [r for got in rows for r in got]
    shipped = Interval(fc.CALIBRATION.floor, fc.CALIBRATION.slope)
    for label, interval in (("all (refitted)", fit_floor(everything, confidence)), ("shipped CALIBRATION", shipped), ("no floor (before)", Interval(0.0))):
        inside, above = coverage(everything, interval, confidence)
        print(f"| {label} | {interval.floor:.2f} | all (n={len(everything)}) | {inside:.0%} | {above:.0%} |")
    print()
    return out


def split(rows: Sequence[Sequence[Residual]], fold: int) -> tuple[list[Residual], list[Residual]]:
    """(the other folds' residuals, this fold's)."""
    train = [r for i, got in enumerate(rows) if fold_of(i) != fold for r in got]
    test = [r for i, got in enumerate(rows) if fold_of(i) == fold for r in got]
    return train, test


# --- the trigger ---------------------------------------------------------------------------


@dataclass
class Trigger:
    flagged_true: int = 0
    flagged_false: int = 0
    crossings: int = 0
    warned: int = 0
    leads: list[float] = field(default_factory=list)
    flag_polls: int = 0
    flag_polls_true: int = 0


RULES = ("pace", "lower bound", "shipped", "shipped, in-sample", "learned, in-sample")
"""The early rules replayed: today's pace rule; the forecast's lower bound alone (the first
version of the forecast rule); the interval rule (``forecast_rule = "interval"``: its lower
bound, or a pace flag its upper bound confirms); the learned chance (``forecast_rule =
"learned"``, the default), whose weights were fitted on these same cascades, so its row
here is in-sample: ``bench/forecast_learned.py`` scores it held out."""
LABELS = {
    "pace": "pace rule (forecast_trigger = false)",
    "lower bound": "forecast lower bound alone (first version)",
    "shipped": "forecast interval rule (forecast_rule = \"interval\": lower bound, or pace confirmed by the upper bound)",
    "shipped, in-sample": "… the same with the shipped CALIBRATION (fitted on all cascades)",
    "learned, in-sample": "learned chance ≥ forecast_chance (the default rule; weights fitted on these cascades, so in-sample)",
}


Decide = Callable[[int, Sequence[Reading], datetime, int], bool]
"""Does an early rule raise the post now: (the cascade's index, its readings so far, now,
its velocity) → yes or no."""


def replay(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig, decide: Decide) -> Trigger:
    """Poll by poll, as the pipeline would: the crossing rule (velocity ≥ urgent) and the
    early rule ``decide``."""
    window, until = scoring.velocity_window, scoring.track_for.total_seconds()
    out = Trigger()
    for index, cascade in enumerate(cascades):
        for k in range(PHASES):
            phase = every * (k + 1) / PHASES
            readings = polls(cascade, phase, every, until)
            crossed_at: datetime | None = None
            flags: list[datetime] = []
            for i, reading in enumerate(readings):
                now = reading.at
                seen = readings[: i + 1]
                v = velocity(seen, EPOCH, now, window)
                if v >= scoring.velocity_urgent:
                    crossed_at = now
                    break
                if decide(index, seen, now, v):
                    flags.append(now)
            flags_in_time = [f for f in flags if crossed_at is not None and crossed_at - window <= f]
            out.flag_polls += len(flags)
            out.flag_polls_true += len(flags_in_time)
            if crossed_at is not None:
                out.crossings += 1
                if flags_in_time:
                    out.warned += 1
                    out.leads.append((crossed_at - flags_in_time[0]).total_seconds() / 60)
            if flags:
                if flags_in_time:
                    out.flagged_true += 1
                else:
                    out.flagged_false += 1
    return out


def early(
    seen: Sequence[Reading], now: datetime, v: int, scoring: ScoringConfig, outlook: Callable[[], Outlook | None] | None, *, lower_only: bool = False, learned: bool = False
) -> bool:
    """Does the early rule raise the post to important now, through ``assess`` as the
    pipeline calls it (the forecast only where the early rules can speak, as
    ``Pipeline._outlook``)? ``outlook`` None is the pace rule alone; ``lower_only``, the
    forecast's lower bound alone; ``learned``, the shipped learned chance (as
    ``Pipeline._chance``), else the interval rule."""
    if not MIN_SHARE * scoring.velocity_urgent <= v < scoring.velocity_important:
        return False  # below it nothing is a trend, above it the crossing rules speak
    got = outlook() if outlook is not None else None
    if lower_only:
        return got is not None and got.reaches
    window = scoring.velocity_window
    projection = project(seen, now, window)
    odds = warning.chance(seen, EPOCH, now, window, scoring.velocity_urgent, v, projection, got) if learned and got is not None else None
    evidence = Evidence(categories=(), velocity=v, volume=0, projection=projection, outlook=got, chance=odds)
    rule_name = "learned" if learned else "interval"
    return assess(evidence, replace(scoring, forecast_trigger=outlook is not None, forecast_rule=rule_name)).severity is not None


def rule(name: str, scoring: ScoringConfig, calibrations: Sequence[fc.Calibration]) -> Decide:
    """One of :data:`RULES`; each cascade's forecast uses the calibration fitted without it
    (or the shipped one, for the in-sample rows)."""

    def decide(index: int, seen: Sequence[Reading], now: datetime, v: int) -> bool:
        def outlook() -> Outlook | None:
            calibration = fc.CALIBRATION if name.endswith("in-sample") else calibrations[fold_of(index)]
            return fc.outlook(seen, EPOCH, now, scoring.velocity_window, scoring.velocity_urgent, confidence=scoring.forecast_confidence, calibration=calibration)

        return early(seen, now, v, scoring, None if name == "pace" else outlook, lower_only=name == "lower bound", learned=name.startswith("learned"))

    return decide


def at_threshold(scoring: ScoringConfig, urgent: int) -> ScoringConfig:
    """``scoring`` with ``velocity_urgent`` at ``urgent`` and ``velocity_important`` at the shipped share of it."""
    return replace(scoring, velocity_urgent=urgent, velocity_important=max(1, urgent * scoring.velocity_important // scoring.velocity_urgent))


TRIGGER_HEADER = (
    "| velocity_urgent | rule | crossings warned (recall) | cascades flagged: true / false | precision (cascades) | flags followed by a crossing | median lead |\n"
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
)


def trigger_row(urgent: int, label: str, got: Trigger) -> str:
    flagged = got.flagged_true + got.flagged_false
    lead = f"{statistics.median(got.leads):.0f} min" if got.leads else "–"
    recall = f"{got.warned}/{got.crossings} = {got.warned / got.crossings:.2f}" if got.crossings else "–"
    precision = f"{got.flagged_true / flagged:.2f}" if flagged else "–"
    polls_true = f"{got.flag_polls_true}/{got.flag_polls}" if got.flag_polls else "0"
    return f"| {urgent} | {label} | {recall} | {got.flagged_true} / {got.flagged_false} | {precision} | {polls_true} | {lead} |"


def triggers(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig, thresholds: Sequence[int], calibrations: Sequence[fc.Calibration]) -> None:
    print(f"Trigger \"will gain velocity_urgent within {fmt(scoring.velocity_window)}\", replayed every {fmt(timedelta(seconds=every))} for {fmt(scoring.track_for)}"
          f" ({len(cascades)} cascades × {PHASES} poll phases; forecasts at {scoring.forecast_confidence:.0%}, each cascade's interval calibrated without it)\n")
    print(TRIGGER_HEADER)
    for urgent in thresholds:
        scoring_at = at_threshold(scoring, urgent)
        for name in RULES:
            print(trigger_row(urgent, LABELS[name], replay(cascades, every, scoring_at, rule(name, scoring_at, calibrations))))
    print()


# --- variants of the interval, fitted out of fold ----------------------------------------------

SLOPES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
AGE_BANDS = (0.0, 900.0, 1800.0, 3600.0)
"""The ages (seconds) from which SEISMIC's correction for young cascades gets a factor of its own."""


def sharpest(rows: Sequence[Residual], confidence: float, *, young_too: bool = False) -> Interval:
    """Floor and slope both fitted: of the slopes in :data:`SLOPES`, each with the least
    floor holding ``confidence`` (``young_too``: among posts with at most :data:`YOUNG`
    readings as well, where the early rules decide), the one with the narrowest mean spread."""
    young = [r for r in rows if r.readings <= YOUNG]

    def least(slope: float) -> Interval:
        make = functools.partial(Interval, slope=slope)
        fitted = fit_floor(rows, confidence, make)
        return max(fitted, fit_floor(young, confidence, make), key=lambda i: i.floor) if young_too and young else fitted

    fits = [least(slope) for slope in SLOPES]
    return min(fits, key=lambda i: statistics.fmean(i.calibration(r.readings).spread(r.horizon, r.age) for r in rows))


def young_floor(rows: Sequence[Residual], confidence: float) -> Interval:
    """A floor for posts with at most :data:`YOUNG` readings and one for the rest, each fitted on its own."""
    young = fit_floor([r for r in rows if r.readings <= YOUNG], confidence).floor
    return replace(fit_floor([r for r in rows if r.readings > YOUNG], confidence), young_floor=young)


def age_corrected(rows: Sequence[Residual], confidence: float) -> Interval:
    """SEISMIC's correction for cascades seen early, on counters: the gain times the median
    ratio of actual to forecast gain among the training forecasts made at that age (per
    band of :data:`AGE_BANDS`), then the floor fitted on the corrected forecasts."""
    bias = []
    for k, since in enumerate(AGE_BANDS):
        until = AGE_BANDS[k + 1] if k + 1 < len(AGE_BANDS) else float("inf")
        ratios = [(r.actual + 0.5) / (r.gain + 0.5) for r in rows if since <= r.age < until]
        bias.append((since, statistics.median(ratios) if ratios else 1.0))
    return fit_floor(rows, confidence, lambda floor: Interval(floor, bias=tuple(bias)))


VARIANTS: dict[str, Callable[[Sequence[Residual], float], Interval]] = {
    "floor (the shipped form)": fit_floor,
    "floor and slope, the sharpest holding 80 %": sharpest,
    f"… holding 80 % on posts with ≤ {YOUNG} readings too": functools.partial(sharpest, young_too=True),
    f"a floor of its own for posts with ≤ {YOUNG} readings": young_floor,
    "SEISMIC's correction by age, then the floor": age_corrected,
}


def judged(scoring: ScoringConfig, interval_of: Callable[[int], Interval], cache: dict[tuple[int, datetime, int], tuple[int, float, list[tuple[float, float]]]]) -> Decide:
    """The shipped forecast rule with the interval ``interval_of(cascade index)``; the fits
    (which do not depend on the interval) are shared through ``cache``."""
    window, ahead, confidence = scoring.velocity_window, fc.window_ahead(scoring.velocity_window), scoring.forecast_confidence

    def decide(index: int, seen: Sequence[Reading], now: datetime, v: int) -> bool:
        def outlook() -> Outlook | None:
            key = (index, seen[0].at, len(seen))
            if key not in cache:
                got = fc.expected_gains(seen, EPOCH, now, ahead)
                assert got is not None  # seen is never empty here
                cache[key] = got
            total, age, gains = cache[key]
            interval, made = interval_of(index), []
            for horizon, (gain, variance) in zip(ahead, gains, strict=True):
                point, low, high = interval.bounds(gain, variance, horizon.total_seconds(), age, len(seen), confidence) if age > 0 else (0.0, 0.0, 0.0)
                made.append(fc.Forecast(horizon, total + point, total + low, total + high, confidence))
            return fc.outlook_of(seen, EPOCH, now, window, scoring.velocity_urgent, made)

        return early(seen, now, v, scoring, outlook)

    return decide


def variants(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig, rows: Sequence[Sequence[Residual]], thresholds: Sequence[int]) -> None:
    """Other ways to make the interval (and SEISMIC's correction of the gain), each fitted on
    one fold and used on the other (held out) and fitted on all (in-sample, what would
    ship): their coverage, overall and on young posts, and the shipped trigger rule with
    each, beside the pace rule."""
    confidence = scoring.forecast_confidence
    everything = [r for got in rows for r in got]
    fits = {name: ([fit(split(rows, fold)[0], confidence) for fold in range(FOLDS)], fit(everything, confidence)) for name, fit in VARIANTS.items()}
    print(f"Variants of the interval, each fitted on the other fold (held out) and on all (in-sample); young: ≤ {YOUNG} readings\n")
    print("| variant | fitted on all | held out: holds / above | young, held out: holds / above | young, in-sample: holds / above |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, (folds, on_all) in fits.items():
        cells = []
        for young in (False, True):
            inside = above = n = 0.0
            for fold in range(FOLDS):
                test = [r for r in split(rows, fold)[1] if not young or r.readings <= YOUNG]
                got = coverage(test, folds[fold], confidence)
                inside, above, n = inside + got[0] * len(test), above + got[1] * len(test), n + len(test)
            cells.append(f"{inside / n:.0%} / {above / n:.0%}")
        young_rows = [r for r in everything if r.readings <= YOUNG]
        cells.append("{:.0%} / {:.0%}".format(*coverage(young_rows, on_all, confidence)))
        print(f"| {name} | {describe(on_all)} | " + " | ".join(cells) + " |")
    print()
    print(TRIGGER_HEADER)
    for urgent in thresholds:
        scoring_at = at_threshold(scoring, urgent)
        cache: dict[tuple[int, datetime, int], tuple[int, float, list[tuple[float, float]]]] = {}
        print(trigger_row(urgent, LABELS["pace"], replay(cascades, every, scoring_at, rule("pace", scoring_at, ()))))
        for name, (folds, on_all) in fits.items():
            held_out = replay(cascades, every, scoring_at, judged(scoring_at, held_out_of(folds), cache))
            print(trigger_row(urgent, f"{name}, held out", held_out))
            in_sample = replay(cascades, every, scoring_at, judged(scoring_at, held_out_of([on_all] * FOLDS), cache))
            print(trigger_row(urgent, f"{name}, in-sample", in_sample))
    print()


def held_out_of(folds: Sequence[Interval]) -> Callable[[int], Interval]:
    """Each cascade's interval: the one fitted without its fold."""
    return lambda index: folds[fold_of(index)]


def describe(interval: Interval) -> str:
    said = [f"floor {interval.floor:.2f}", f"slope {interval.slope:.1f}"]
    if interval.young_floor is not None:
        said.append(f"young floor {interval.young_floor:.2f}")
    if interval.bias:
        said.append("gain × " + ", ".join(f"{by:.2f} from {fmt(timedelta(seconds=since))}" for since, by in interval.bias))
    return "; ".join(said)


def cost(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig) -> None:
    """What one forecast costs on the hot path: a post read for the whole of ``track_for``."""
    biggest = max(cascades, key=lambda c: len(c.times))
    readings = polls(biggest, every, every, scoring.track_for.total_seconds())
    now = readings[-1].at
    for name in fc.MODELS:
        runs = 200
        started = time.perf_counter()
        for _ in range(runs):
            fc.outlook(readings, EPOCH, now, scoring.velocity_window, scoring.velocity_urgent, confidence=0.8, model=name)
        per = (time.perf_counter() - started) / runs
        print(f"cost of one outlook ({name}, {len(readings)} readings): {per * 1e6:.0f} µs")
    print()


def fmt(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every cascade bench takes (this one and ``forecast_learned``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/fixtures/real", help="the fixtures/real folder")
    parser.add_argument("--every", type=float, default=300, help="seconds between polls (default 300)")
    return parser


def cascades_from(data: Path) -> list[Cascade] | None:
    """The cascades under ``data``, or None (said in one line) when there are none."""
    if not (data / "cascades").is_dir():
        print(f"skipped: no cascades under {data} (pass --data)")
        return None
    return load(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--variants", action="store_true", help="also compare other intervals fitted out of fold (a few minutes more on the 22 cascades, half an hour or more with the extra sets)")
    args = parser.parse_args(argv)
    cascades = cascades_from(args.data)
    if cascades is None:
        return 0
    scoring = ScoringConfig()
    print(f"{len(cascades)} cascades, {sum(len(c.times) for c in cascades):,} events; shipped [scoring]: velocity_urgent {scoring.velocity_urgent}, "
          f"velocity_window {fmt(scoring.velocity_window)}, track_for {fmt(scoring.track_for)}\n")
    errors(cascades, args.every, scoring)
    rows = [residuals(cascade, args.every, scoring) for cascade in cascades]
    calibrations = calibrate(rows, scoring.forecast_confidence)
    thresholds = (scoring.velocity_urgent, 50, 20)
    triggers(cascades, args.every, scoring, thresholds, calibrations)
    if args.variants:
        variants(cascades, args.every, scoring, rows, thresholds)
    cost(cascades, args.every, scoring)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
