"""Finding a ticket, and the error every request about tickets raises. The ticket actions
and the playbooks' steps and demands both use them (``actions`` shows a ticket's
playbook don'ts, so they cannot live in it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from monitor.errors import RequestRefused
from monitor.storage.models import TicketRow


class TicketError(RequestRefused):
    """A request about a ticket that cannot be done; the message is fit to show a user."""


def get_ticket(session: Session, ticket_id: int) -> TicketRow:
    ticket = session.get(TicketRow, ticket_id)
    if ticket is None:
        raise TicketError(f"no ticket #{ticket_id} / 没有工单 #{ticket_id}")
    return ticket
