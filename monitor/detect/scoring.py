"""Severity from the rules of DESIGN.md, as pure functions of the evidence and ``now``.

Each rule that fires returns a reason naming the rule and its numbers; a ticket keeps
them so every alert can say why it was raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts import Severity
from monitor.config import ScoringConfig
from monitor.durations import format_duration, human_duration

CLOCK_SKEW = timedelta(minutes=5)
"""Platforms' clocks run a little ahead at times: a post "created" in the next minutes is new."""


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    total: int


@dataclass(frozen=True, slots=True)
class Verdict:
    severity: Severity | None
    reasons: tuple[str, ...]


def velocity(readings: Sequence[Reading], created_at: datetime | None, now: datetime, window: timedelta) -> int:
    """Engagement gained within ``window`` before ``now``.

    The baseline is the last reading at or before the window's start. A post created
    inside the window gained everything it has within it (baseline 0). Otherwise, with
    no reading that old, the first reading is the baseline: growth we did not see is
    not counted, so a years-old popular post is never "viral" on first sight.
    """
    past = sorted((r for r in readings if r.at <= now), key=lambda r: r.at)
    if not past:
        return 0
    start = now - window
    before = [r for r in past if r.at <= start]
    if before:
        baseline = before[-1].total
    elif created_at is not None and start <= created_at <= now + CLOCK_SKEW:
        baseline = 0
    else:
        baseline = past[0].total
    return max(0, past[-1].total - baseline)


MIN_SPAN = timedelta(seconds=30)
"""Readings closer than this say little about a rate."""
MIN_SHARE = 0.2
"""A projection counts only once the post has gained this share of ``velocity_urgent``
within the window: two likes a minute apart are not a trend."""


@dataclass(frozen=True, slots=True)
class Projection:
    gain: int
    """Engagement expected over the next window at the recent pace."""
    per_minute: float


def project(readings: Sequence[Reading], now: datetime, window: timedelta) -> Projection | None:
    """Where the post is heading: the pace over the last readings (growth rate), sped up
    by its acceleration when it is speeding up, carried over one window. ``None`` when
    the readings are too few or too close to tell."""
    past = sorted((r for r in readings if now - window <= r.at <= now), key=lambda r: r.at)
    if len(past) < 2:
        return None
    last, prev = past[-1], past[-2]
    span = (last.at - prev.at).total_seconds()
    if span < MIN_SPAN.total_seconds():
        return None
    rate = max(0.0, (last.total - prev.total) / span)
    accel = 0.0
    if len(past) >= 3:
        older = past[-3]
        span0 = (prev.at - older.at).total_seconds()
        if span0 >= MIN_SPAN.total_seconds():
            rate0 = max(0.0, (prev.total - older.total) / span0)
            accel = max(0.0, (rate - rate0) / ((span + span0) / 2))
    seconds = window.total_seconds()
    gain = rate * seconds + min(0.5 * accel * seconds * seconds, rate * seconds)  # acceleration at most doubles it
    return Projection(int(gain), rate * 60)


@dataclass(frozen=True, slots=True)
class Outlook:
    """The forecast velocity over the next window (``monitor.detect.forecast.outlook``)."""

    gain: float
    low: float
    high: float
    confidence: float
    reaches: bool
    """Does the lower bound reach the threshold?"""


@dataclass(frozen=True, slots=True)
class Author:
    """Who posted, as far as the platform tells their reach."""

    name: str
    kind: str = ""
    followers: int | None = None

    def reaches(self, scoring: ScoringConfig) -> bool:
        """A verified media or government account (``reach_kinds``), or one with at least
        ``reach_followers`` followers: what it says about the brand is itself news."""
        big = scoring.reach_followers > 0 and self.followers is not None and self.followers >= scoring.reach_followers
        return big or (bool(self.kind) and self.kind in scoring.reach_kinds)

    def describe(self) -> str:
        parts = [self.kind] if self.kind else []
        if self.followers is not None:
            parts.append(f"{self.followers:,} followers")
        return f"author {self.name or '?'}" + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A hot-list topic's first ranked reading within ``hotlist_climb_window``: what its
    rank and heat velocity are measured against."""

    rank: int
    heat: int | None
    ago: timedelta


@dataclass(frozen=True, slots=True)
class Sighting:
    """A topic naming the brand on a hot list, at its latest reading."""

    title: str
    """The list as it is called (微博热搜)."""
    rank: int
    heat: int | None = None
    climbed_from: int | None = None
    """The rank at the reading before, when the topic has moved up since."""
    climbed_in: timedelta | None = None
    """… and how long ago that reading was."""
    since: Baseline | None = None
    """The first ranked reading within ``hotlist_climb_window``, for "climbing fast"."""

    def describe(self, limit: int, scoring: ScoringConfig | None = None) -> str:
        heat = f", heat {self.heat:,}" if self.heat is not None else ""
        climb = ""
        if self.climbed_from is not None and self.climbed_from > self.rank:
            within = f" in {format_duration(self.climbed_in)}" if self.climbed_in is not None else ""
            climb = f", up from rank {self.climbed_from}{within} 上升"
        fast = self.climbing_fast(scoring) if scoring is not None else ""
        return f"on {self.title} at rank {self.rank} (≤ {limit}){heat}{climb}{fast}"

    def climbing_fast(self, scoring: ScoringConfig) -> str:
        """``", climbing fast …"`` when, against ``since``, the topic rose at least
        ``hotlist_climb_ranks`` places or its heat grew ``hotlist_heat_growth`` percent
        (thresholds measured on real 微博热搜 readings: bench/hotlist_climb.py); empty
        otherwise. The numbers said are the ones that crossed."""
        since = self.since
        if since is None or since.ago <= timedelta(0):
            return ""
        said = []
        rose = since.rank - self.rank
        if scoring.hotlist_climb_ranks and rose >= scoring.hotlist_climb_ranks:
            said.append(f"up {rose} places (≥ {scoring.hotlist_climb_ranks})")
        if scoring.hotlist_heat_growth and self.heat is not None and since.heat:
            grew = (self.heat - since.heat) * 100 // since.heat
            if grew >= scoring.hotlist_heat_growth:
                said.append(f"heat +{grew:,} % (≥ {scoring.hotlist_heat_growth} %)")
        if not said:
            return ""
        return f", climbing fast 快速上升: {' and '.join(said)} in {human_duration(since.ago)}"


@dataclass(frozen=True, slots=True)
class Evidence:
    categories: Sequence[tuple[str, Severity, Sequence[str]]]
    """(category, its least severity, the terms found) for each crisis category."""
    velocity: int
    volume: int
    projection: Projection | None = None
    reposts: int = 0
    """Reposts and quotes of the post seen within the window (part of ``velocity``)."""
    author: Author | None = None
    outlook: Outlook | None = None
    """The forecast over the next window, given when ``forecast_trigger`` is on and the
    early rules could speak."""
    chance: float | None = None
    """With the outlook and ``forecast_rule = "learned"``: the learned chance that the post
    gains ``velocity_urgent`` within the next window (``monitor.detect.early``)."""
    hotlist: Sighting | None = None


def _early(evidence: Evidence, scoring: ScoringConfig, window: str) -> str | None:
    """The early warning below the crossing rules, or ``None``: the pace rule, and with
    ``forecast_trigger`` the forecast, decided by ``forecast_rule``. ``learned``: important
    when the learned chance of crossing reaches ``forecast_chance`` (it weighs the pace, the gains
    speeding up or slowing and the forecast's interval together; bench/RESULTS.md).
    ``interval``: important when the forecast's lower bound reaches ``velocity_urgent``,
    and a pace flag stands only where its upper bound reaches the line too. Without a
    forecast (no readings of the post's own counter) the pace rule speaks alone."""
    if evidence.velocity < MIN_SHARE * scoring.velocity_urgent:
        return None  # two likes a minute apart are not a trend
    urgent = scoring.velocity_urgent
    pace = evidence.projection if evidence.projection is not None and evidence.projection.gain >= urgent else None
    got = evidence.outlook if scoring.forecast_trigger else None
    if got is not None:
        said = f"forecast +{got.gain:.0f} ({got.low:.0f}–{got.high:.0f}) in {window} at {got.confidence:.0%}".replace("%", " %")
        chance = evidence.chance if scoring.forecast_rule == "learned" else None
        if chance is not None:
            if chance < scoring.forecast_chance:
                return None
            odds = f"chance of crossing 越线概率 {chance:.0%} (warns from {scoring.forecast_chance:.0%}; urgent at {urgent})".replace("%", " %")
            return f"{said}, {odds} → important"
        if got.reaches:
            return f"{said} (urgent at {urgent}) → important"
        if pace is not None and got.high >= urgent:
            return f"{said}, pace {pace.per_minute:.1f}/min projects +{pace.gain} (urgent at {urgent}) → important"
        return None
    if pace is not None:
        return (
            f"on track to go viral: +{evidence.velocity} so far, {pace.per_minute:.1f}/min projects +{pace.gain} in {window} "
            f"(urgent at {urgent}) → important"
        )
    return None


def assess(evidence: Evidence, scoring: ScoringConfig) -> Verdict:
    """The highest severity any rule gives, with a reason per rule that fired."""
    found: list[tuple[Severity, str]] = []
    for name, severity, terms in evidence.categories:
        found.append((severity, f"crisis terms {'、'.join(terms)} ({name}) → {severity.name}"))
    window = format_duration(scoring.velocity_window)
    shared = f", {evidence.reposts} reposts/quotes seen 转发" if evidence.reposts else ""
    if evidence.velocity >= scoring.velocity_urgent:
        found.append((Severity.urgent, f"engagement velocity +{evidence.velocity} in {window}{shared} (≥ {scoring.velocity_urgent}) → urgent"))
    elif evidence.velocity >= scoring.velocity_important:
        found.append((Severity.important, f"engagement velocity +{evidence.velocity} in {window}{shared} (≥ {scoring.velocity_important}) → important"))
    else:
        early = _early(evidence, scoring, window)
        if early is not None:
            found.append((Severity.important, early))
    seen = evidence.hotlist
    if seen is not None and 0 < seen.rank <= scoring.hotlist_urgent:
        found.append((Severity.urgent, f"{seen.describe(scoring.hotlist_urgent, scoring)} → urgent"))
    elif seen is not None and 0 < seen.rank <= scoring.hotlist_important:
        found.append((Severity.important, f"{seen.describe(scoring.hotlist_important, scoring)} → important"))
    if evidence.volume >= scoring.volume_important:
        vwin = format_duration(scoring.volume_window)
        found.append((Severity.important, f"same-issue volume {evidence.volume} mentions in {vwin} (≥ {scoring.volume_important}) → important"))
    if not found:
        return Verdict(None, ())
    severity = max(sev for sev, _ in found)
    reasons = [reason for _, reason in found]
    if evidence.categories and evidence.author is not None and evidence.author.reaches(scoring):
        # a journalist's, a regulator's or a big account's crisis post: one step up
        raised = Severity(min(severity + 1, Severity.urgent))
        reasons.append(f"{evidence.author.describe()} posting a crisis term 大V/媒体/政务 → {raised.name}")
        severity = raised
    return Verdict(severity, tuple(reasons))
