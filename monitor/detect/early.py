"""The learned early warning: the chance that a post gains ``velocity_urgent`` within the
next ``velocity_window``, from what its readings say now.

Why learned, not a rule: on 301 real repost cascades (``bench/forecast_learned.py``,
bench/RESULTS.md) the recent-pace rule warns of most crossings but flags about three
cascades that never cross for every one that does; the forecast's interval rule cuts those
false flags to a quarter but gives up the cascades that speed up. A logistic regression
over the same evidence both rules read (the counter, the post's age, the velocity, the
gains of the last three sixths of the window, the pace projection and the forecast's
point and bounds, each against the line) weighs them as the data says: a gain speeding
up counts, a forecast that cannot reach the line counts against.

The weights are fitted by ``bench/forecast_learned.py --fit`` on the real cascades and
shipped as :data:`MODEL`; nothing is fitted in the daemon. Every feature is a ratio to the
line or to the window, so one fit serves any ``velocity_urgent`` and ``velocity_window``,
and the gains are read off the counter at fixed times (interpolated between readings), so
it does not depend on how often a source is polled.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.detect import forecast
from monitor.detect.scoring import Outlook, Projection, Reading

FEATURES = (
    "log count / line",
    "log age / window",
    "log velocity / line",
    "log gain of the last sixth / line",
    "log gain of the sixth before / line",
    "log gain of the sixth before that / line",
    "log pace projection / line",
    "log forecast point / line",
    "log forecast low / line",
    "log forecast high / line",
    "log line / 100",
)
"""What the model sees; "x / line" is log(1 + x) − log(line)."""
BIGGEST = 1e18
"""No counter or forecast is read as more: a platform's absurd number stays a finite feature."""
CONFIDENCE = 0.8
"""The forecast interval the weights were fitted on (``bench/forecast_learned.py`` at the
shipped ``forecast_confidence``): the features read its bounds, so a team that widens the
mail's band must not move the chance."""
STEPS = 6
"""The window is read in sixths: 5 minutes of the shipped 30, the poll the cascades were
replayed at."""


@dataclass(frozen=True, slots=True)
class Model:
    """p = σ(intercept + Σ weight · feature). The chance that warns is config
    (``forecast_chance``), so staff can trade earlier warnings for more false ones."""

    intercept: float
    weights: tuple[float, ...]

    def chance(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def counter_at(seen: Sequence[Reading], created_at: datetime | None, at: datetime) -> float:
    """The counter at ``at``, read off ``seen`` (sorted, oldest first) by linear
    interpolation; before the first reading it climbs from 0 at ``created_at`` (known), or
    is the first reading (a post first seen old: growth not seen is not counted). Found
    by bisection: a post read for two days costs what one read for an hour does. The share
    of a gap is a float before it meets a count: a count times a timedelta is a timedelta,
    which overflows past 999,999,999 days (50,000 likes on a post "created" in 1970)."""
    if not seen:
        return 0.0
    k = bisect.bisect_right(seen, at, key=lambda r: r.at)
    if k == len(seen):
        return float(seen[-1].total)
    after = seen[k]
    if k == 0:
        if created_at is None or created_at >= after.at:
            return float(after.total)
        if at <= created_at:
            return 0.0
        return after.total * ((at - created_at) / (after.at - created_at))
    before = seen[k - 1]
    return before.total + (after.total - before.total) * ((at - before.at) / (after.at - before.at))


def chance(
    readings: Sequence[Reading],
    created_at: datetime | None,
    now: datetime,
    window: timedelta,
    line: int,
    velocity: int,
    projection: Projection | None,
    outlook: Outlook,
    model: Model | None = None,
) -> float:
    """The chance that the post gains ``line`` within ``window`` from ``now``, by ``model``
    (default :data:`MODEL`). An ``outlook`` at another confidence than :data:`CONFIDENCE`
    (``forecast_confidence`` set otherwise) is made again at it."""
    model = model or MODEL
    seen = forecast.ordered(readings, now)
    if outlook.confidence != CONFIDENCE:
        outlook = forecast.outlook(seen, created_at, now, window, line, confidence=CONFIDENCE) or outlook
    return model.chance(features(seen, created_at, now, window, line, velocity, projection, outlook))


def features(
    seen: Sequence[Reading],
    created_at: datetime | None,
    now: datetime,
    window: timedelta,
    line: int,
    velocity: int,
    projection: Projection | None,
    outlook: Outlook,
) -> list[float]:
    """:data:`FEATURES` for a post at ``now``: ``seen`` its readings up to now (sorted),
    ``velocity`` and ``projection`` as the pace rule has them, ``outlook`` the forecast
    over the next window."""
    log_line = math.log(line)

    def rel(x: float) -> float:
        return math.log1p(min(max(0.0, x), BIGGEST)) - log_line  # NaN reads as 0, infinity as BIGGEST

    origin = created_at if created_at is not None and (not seen or created_at <= seen[0].at) else (seen[0].at if seen else now)
    age = max((now - origin).total_seconds(), 1.0)
    step = window / STEPS
    marks = [counter_at(seen, created_at, now - step * k) for k in range(4)]
    gains = [marks[k] - marks[k + 1] for k in range(3)]
    total = seen[-1].total if seen else 0
    return [
        rel(total),
        math.log(age / window.total_seconds()),
        rel(velocity),
        *(rel(g) for g in gains),
        rel(projection.gain if projection is not None else 0),
        rel(outlook.gain),
        rel(outlook.low),
        rel(outlook.high),
        log_line - math.log(100),
    ]


MODEL = Model(
    intercept=-0.7110,
    weights=(-0.2739, -0.2116, 0.6902, 0.5883, -0.3294, -0.2387, -0.0611, 0.6490, 0.2808, 0.8648, -0.2786),
)
"""Fitted by ``bench/forecast_learned.py --fit`` on the 301 real cascades of bench/RESULTS.md
(27,097 polls in the early band at lines 100, 50 and 20; 1,463 followed by a crossing).
In the weights: the velocity, the last sixth's gain and the forecast's point and upper
bound count for a crossing; the gains before it count against (a post speeding up is
likelier to cross than one that grew as much but is slowing), as do the count and age
(an old, big post is spent); the pace projection adds nothing once the rest is known."""
