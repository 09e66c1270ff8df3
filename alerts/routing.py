"""Which routes an alert goes to: a pure function of the alert and the route table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Alert, Severity


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    to: tuple[str, ...]
    min_severity: Severity = Severity.normal
    categories: frozenset[str] | None = None
    """When set, only tickets with at least one of these crisis categories match."""

    def matches(self, severity: Severity, categories: Iterable[str]) -> bool:
        if severity < self.min_severity:
            return False
        return self.categories is None or bool(self.categories.intersection(categories))


def routes_for(alert: Alert, routes: Iterable[Route]) -> list[Route]:
    return [route for route in routes if route.matches(alert.severity, alert.categories)]

