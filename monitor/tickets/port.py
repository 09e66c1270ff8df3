"""The port through which tickets tell delivery what changed: the desk says "ticket #7
was raised" and delivery (``delivery.notify.Notifier``) decides who hears it, how and
when. Tickets depend on this protocol only, never on delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from alerts import Severity
from monitor.storage.models import TicketRow


class Announcer(Protocol):
    def notify(
        self,
        session: Session,
        ticket: TicketRow,
        kind: str,
        now: datetime,
        *,
        previous: Severity | None = None,
        newly_for: Sequence[str] | None = None,
        step: int | None = None,
        first_route_only: bool = False,
    ) -> object:
        """Record that the routes matching ``ticket`` must hear ``kind`` (opened, raised,
        reopened, reminder, step_overdue)."""

    def tell_owner(self, session: Session, ticket: TicketRow, kind: str, now: datetime, *, step: int | None = None) -> bool:
        """A direct message to the ticket's owner; False when there is no address for
        them (the caller then tells the routes)."""
