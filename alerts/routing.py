"""Which routes hear about a ticket, and how their messages are paced.

A route table is read in order, like Alertmanager's: every route whose filters match is
told, unless a matching route says ``continue = false``, which stops the walk there.
(The default is ``continue = true`` so a table written as "PR hears everything,
management hears urgent" keeps meaning exactly that.)

Everything here is a pure function of the route table and the ticket's facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from alerts.model import Severity

GROUP_BY_FIELDS = ("brand", "category")


def _per_severity(urgent: float, important: float, normal: float) -> dict[Severity, timedelta]:
    return {Severity.urgent: timedelta(seconds=urgent), Severity.important: timedelta(seconds=important), Severity.normal: timedelta(seconds=normal)}


DEFAULT_GROUP_WAIT = _per_severity(0, 60, 5 * 60)
"""An urgent ticket's first message goes at once; normal ones gather for 5 minutes."""
DEFAULT_GROUP_INTERVAL = timedelta(minutes=15)
DEFAULT_REPEAT_INTERVAL = _per_severity(3600, 12 * 3600, 24 * 3600)
"""Re-announce an unacknowledged ticket at its playbook clock: 1 h, 12 h, 24 h."""


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Who is told when a ticket is still unacknowledged ``after`` its due time."""

    after: timedelta
    to: tuple[str, ...] = ()
    chat: tuple[str, ...] = ()
    """Names of the receivers the outbox posts to: chat, and SMS (named in ``sms`` too)."""
    sms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    to: tuple[str, ...] = ()
    min_severity: Severity = Severity.normal
    categories: frozenset[str] | None = None
    """When set, only tickets with at least one of these crisis categories match."""
    brands: frozenset[str] | None = None
    """When set, only tickets of these brands match."""
    chat: tuple[str, ...] = ()
    """Names of the receivers the outbox posts to: ``[alerts.chat.*]`` and ``[alerts.sms.*]``
    (one namespace: each is an outbox channel; the SMS ones are named in ``sms`` too)."""
    sms: tuple[str, ...] = ()
    continue_: bool = True
    group_by: tuple[str, ...] = ("brand",)
    group_wait: Mapping[Severity, timedelta] = field(default_factory=lambda: dict(DEFAULT_GROUP_WAIT))
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: Mapping[Severity, timedelta] = field(default_factory=lambda: dict(DEFAULT_REPEAT_INTERVAL))
    escalate_to: tuple[EscalationStep, ...] = ()

    def matches(self, severity: Severity, categories: Iterable[str], brand: str | None = None) -> bool:
        if severity < self.min_severity:
            return False
        if self.brands is not None and brand not in self.brands:
            return False
        return self.categories is None or bool(self.categories.intersection(categories))

    def group_key(self, severity: Severity, brand: str, categories: Iterable[str]) -> str:
        """Tickets with the same key are told in one message. Severity is always part of
        it, so an urgent ticket never waits behind a batch of normal ones."""
        parts = [severity.name]
        for name in self.group_by:
            if name == "brand":
                parts.append(f"brand={brand}")
            elif name == "category":
                parts.append("category=" + ",".join(sorted(categories)))
        return "|".join(parts)

    @property
    def receivers(self) -> tuple[str, ...]:
        """Human-readable list of who this route tells."""
        return self.to + tuple(f"sms:{name}" if name in self.sms else f"chat:{name}" for name in self.chat)


def routes_for(severity: Severity, categories: Iterable[str], brand: str | None, routes: Iterable[Route]) -> list[Route]:
    """The routes that hear about a ticket, in table order, honouring ``continue``."""
    cats = tuple(categories)
    matched = []
    for route in routes:
        if route.matches(severity, cats, brand):
            matched.append(route)
            if not route.continue_:
                break
    return matched
