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
``curve`` is (minute, reposts + comments + likes) readings; the post appears at its
first minute, and was created then unless ``created`` (a minute, negative for an old
post found late) says otherwise.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from alerts import Renderer, Severity
from sources import Engagement, Post

from .config import Config
from .db import make_engine, migrate, session_factory
from .incidents import IncidentDesk
from .matching import Matcher, TokenizerFactory
from .models import TicketRow
from .notify import Notifier
from .pipeline import Pipeline

START = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    expect: Severity | None
    posts: tuple[dict, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    severity: Severity | None
    delay: timedelta | None
    """From the first post appearing to the first ticket."""

    @property
    def correct(self) -> bool:
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
            scenarios.append(Scenario(str(raw["name"]), expect, tuple(raw["posts"])))
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
        self.pipeline = Pipeline(self.sessions, config, matcher, IncidentDesk(config, notifier), lambda: self.now, threading.Lock())

    def close(self) -> None:
        self.engine.dispose()


def run_scenario(config: Config, scenario: Scenario, tokenizers: TokenizerFactory, folder: Path) -> Outcome:
    """Replay one scenario on its own database; polls happen at every minute any post has a reading."""
    box = Sandbox(config, tokenizers, folder, START)
    sessions, pipeline = box.sessions, box.pipeline
    minutes = sorted({m for post in scenario.posts for m, _ in post["curve"]})
    for minute in minutes:
        box.now = START + timedelta(minutes=minute)
        batch = []
        for post in scenario.posts:
            readings = [(m, total) for m, total in post["curve"] if m <= minute]
            if not readings:
                continue
            created = START + timedelta(minutes=post.get("created", post["curve"][0][0]))
            batch.append(Post("sim", str(post["id"]), f"https://sim.test/{post['id']}", post["text"], author=post.get("author", "someone"),
                              created_at=created, engagement=Engagement(reposts=readings[-1][1], comments=0, likes=0)))
        pipeline.ingest("sim", batch)
    with sessions() as session:
        tickets = session.scalars(select(TicketRow).order_by(TicketRow.opened_at)).all()
        severity = max((Severity[t.severity] for t in tickets), default=None)
        delay = (tickets[0].opened_at - START - timedelta(minutes=minutes[0])) if tickets else None
    box.close()
    return Outcome(scenario, severity, delay)


def evaluate(config: Config, scenarios: Iterable[Scenario], tokenizers: TokenizerFactory | None = None) -> Scores:
    tokenizers = tokenizers or TokenizerFactory()
    outcomes = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory() as folder:
            outcomes.append(run_scenario(config, scenario, tokenizers, Path(folder)))
    return Scores(tuple(outcomes))

