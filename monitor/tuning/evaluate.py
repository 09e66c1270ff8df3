"""Detection quality on a labelled set of scenarios: precision, recall and delay.

Each scenario is a little story of posts and their engagement over time (a crisis, a
storm of reposts, benign chatter, an off-brand crisis word, a denial). It is replayed
through the real pipeline (matching, storage, scoring, incidents) on a fresh SQLite
database with a simulated clock, and the tickets it raises are compared with its label.
Only the network is left out: posts are handed to the pipeline as a source would.

A scenario file is JSON Lines, one object per scenario::

    {"name": "thermos burns a child", "expect": "urgent",
     "posts": [{"id": "1", "text": "…", "curve": [[0, 3], [5, 40], [10, 130]]}]}

``expect`` is the least severity a ticket must have (``null``: no ticket at all);
``tickets`` (optional) is how many tickets it must make (one complaint reworded ten
times is one; two different complaints are two). ``curve`` is (minute, reposts +
comments + likes) readings; the post appears at its first minute, and was created then
unless ``created`` (a minute, negative for an old post found late) says otherwise. A post
may also give ``author``, ``author_followers``, ``author_kind`` and ``repost_of`` (the id
of another post of the scenario) as a source would.

A hot-list topic gives ``"list": "weibo"`` (or zhihu, toutiao …) and its ``curve`` as
(minute, rank) or (minute, rank, heat) readings, rank ``null`` once it has left the list::

    {"name": "brand enters 微博热搜 and climbs", "expect": "urgent",
     "posts": [{"id": "h1", "list": "weibo", "text": "…", "curve": [[0, 35, 119512], [29, 5, 398298]]}]}

``history`` (optional) seeds the brand's past mentions for storm detection, straight into
the sandbox: ``{"per_day": 2000, "days": 7, "peak_hour": 21}`` is 2,000 mentions a day
around 21:00 local time (a daily rhythm). Scenarios with a history also look for mention
storms after every poll, as the daemon does.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from sqlalchemy import insert, select

from alerts import Renderer, Severity
from monitor.config import Config
from monitor.delivery.notify import Notifier
from monitor.detect.matching import Matcher, TokenizerFactory
from monitor.ingest.pipeline import Pipeline
from monitor.keys import history_issue
from monitor.storage.db import Writer, make_engine, migrate, session_factory
from monitor.storage.models import MentionRow, PostRow, TicketRow
from monitor.tickets.desk import IncidentDesk
from sources import Engagement, Post

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    expect: Severity | None
    posts: tuple[dict, ...]
    tickets: int | None = None
    history: dict | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    severity: Severity | None
    delay: timedelta | None
    """From the first post appearing to the first ticket."""
    tickets: int = 0

    @property
    def correct(self) -> bool:
        if self.scenario.tickets is not None and self.tickets != self.scenario.tickets:
            return False
        if self.scenario.expect is None:
            return self.severity is None
        return self.severity is not None and self.severity >= self.scenario.expect


@dataclass(frozen=True, slots=True)
class Scores:
    outcomes: tuple[Outcome, ...]

    def _count(self, predicted: bool, expected: bool) -> int:
        return sum(1 for o in self.outcomes if (o.severity is not None) == predicted and (o.scenario.expect is not None) == expected)

    @property
    def precision(self) -> float:
        tp, fp = self._count(True, True), self._count(True, False)
        return tp / (tp + fp) if tp + fp else 1.0

    @property
    def recall(self) -> float:
        tp, fn = self._count(True, True), self._count(False, True)
        return tp / (tp + fn) if tp + fn else 1.0

    @property
    def median_delay(self) -> timedelta | None:
        delays = sorted(o.delay for o in self.outcomes if o.delay is not None and o.scenario.expect is not None)
        return delays[len(delays) // 2] if delays else None


def load_scenarios(path: Path) -> list[Scenario]:
    scenarios = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
            expect = Severity.parse(raw["expect"]) if raw.get("expect") else None
            tickets = raw.get("tickets")
            if tickets is not None and (isinstance(tickets, bool) or not isinstance(tickets, int)):
                raise ValueError("tickets must be a whole number")
            history = raw.get("history")
            if history is not None and not (isinstance(history, dict) and isinstance(history.get("per_day"), int) and isinstance(history.get("days", 7), int)):
                raise ValueError("history must be {per_day, days, peak_hour}")
            scenarios.append(Scenario(str(raw["name"]), expect, tuple(raw["posts"]), tickets, history))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a scenario ({exc})") from None
    return scenarios


class Sandbox:
    """The real pipeline on a throw-away SQLite database with a hand-set clock and no
    routes: what a config *would* do, without sending anything."""

    def __init__(self, config: Config, tokenizers: TokenizerFactory, folder: Path, start: datetime) -> None:
        self.engine = make_engine(f"sqlite:///{folder / 'sandbox.db'}")
        migrate(self.engine)
        self.now = start
        self.sessions = session_factory(self.engine)
        config = replace(config, routes=())  # nothing is sent: only the tickets are compared
        notifier = Notifier((), Renderer(config.monitor.timezone), config.monitor.timezone)
        matcher = Matcher(config.brands, config.crisis, tokenizers.new())
        self.pipeline = Pipeline(Writer(self.sessions), config, matcher, IncidentDesk(config, notifier), lambda: self.now)

    def close(self) -> None:
        self.engine.dispose()


def run_scenario(config: Config, scenario: Scenario, tokenizers: TokenizerFactory, folder: Path) -> Outcome:
    """Replay one scenario on its own database; polls happen at every minute any post has a reading."""
    box = Sandbox(config, tokenizers, folder, START)
    sessions, pipeline = box.sessions, box.pipeline
    brand = config.brands[0].name if config.brands else ""
    if scenario.history:
        _seed_history(box, brand, scenario.history, config.monitor.timezone)
    minutes = sorted({reading[0] for post in scenario.posts for reading in post["curve"]})
    for minute in minutes:
        box.now = START + timedelta(minutes=minute)
        batch = []
        for post in scenario.posts:
            readings = [(reading[0], reading[1]) for reading in post["curve"] if reading[0] <= minute]
            if not readings:
                continue
            created = START + timedelta(minutes=post.get("created", post["curve"][0][0]))
            platform, engagement = "sim", Engagement(reposts=readings[-1][1], comments=0, likes=0)
            if post.get("list"):  # a hot-list topic: (minute, rank[, heat]) readings
                platform, engagement = _on_list(post, minute)
            batch.append(Post(platform, str(post["id"]), f"https://sim.test/{post['id']}", post["text"], author=post.get("author", "someone"),
                              created_at=created, engagement=engagement,
                              repost_of=str(post.get("repost_of", "")), author_followers=post.get("author_followers"), author_kind=post.get("author_kind", "")))
        pipeline.ingest("sim", batch)
        if scenario.history:
            with sessions() as session:
                pipeline.desk.storms(session, box.now)
                session.commit()
    with sessions() as session:
        tickets = session.scalars(select(TicketRow).order_by(TicketRow.opened_at)).all()
        severity = max((Severity[t.severity] for t in tickets), default=None)
        delay = (tickets[0].opened_at - START - timedelta(minutes=minutes[0])) if tickets else None
        count = len(tickets)
    box.close()
    return Outcome(scenario, severity, delay, count)


def _on_list(post: dict, minute: int) -> tuple[str, Engagement]:
    """A scenario's hot-list topic as the hotlist source hands it: its list's platform and
    its latest (rank, heat) reading, or an off-list reading once its rank is null."""
    *_, latest = [reading for reading in post["curve"] if reading[0] <= minute]
    rank, heat = latest[1], latest[2] if len(latest) > 2 else None
    return f"{post['list']}-hot", Engagement(off_list=True) if rank is None else Engagement(rank=rank, heat=heat)


def _seed_history(box: Sandbox, brand: str, history: dict, tz: tzinfo) -> None:
    """``per_day`` past mentions a day for ``days`` days, around ``peak_hour`` local time
    (a deterministic daily rhythm), written straight into the sandbox: storms need a normal."""
    rng = random.Random(f"{brand}-{history}")
    per_day, days, peak = int(history["per_day"]), int(history.get("days", 7)), float(history.get("peak_hour", 14))
    local_start = START.astimezone(tz)
    times = []
    for day in range(days, 0, -1):
        midnight = (local_start - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(per_day):
            hour = rng.gauss(peak, 3) % 24
            at = (midnight + timedelta(hours=hour)).astimezone(UTC)
            if at < START - timedelta(hours=1):
                times.append(at)
    with box.sessions() as session:
        session.execute(insert(PostRow), [
            {"id": i + 1, "platform": "history", "platform_id": str(i), "source": "sim", "ref": "", "url": f"https://sim.test/h{i}", "author": "", "title": "",
             "text": f"{brand} #{i}", "created_at": at, "first_seen_at": at, "last_seen_at": at, "matched": True}
            for i, at in enumerate(times)
        ])
        session.execute(insert(MentionRow), [
            {"post_id": i + 1, "brand": brand, "categories": [], "terms": {}, "issue_key": history_issue(i), "fingerprint": "0" * 16, "seen_at": at}
            for i, at in enumerate(times)
        ])
        session.commit()


def evaluate(config: Config, scenarios: Iterable[Scenario], tokenizers: TokenizerFactory | None = None) -> Scores:
    tokenizers = tokenizers or TokenizerFactory()
    outcomes = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory() as folder:
            outcomes.append(run_scenario(config, scenario, tokenizers, Path(folder)))
    return Scores(tuple(outcomes))

