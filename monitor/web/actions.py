"""What a person can do to a ticket from the console: the same functions the CLI calls,
so the timeline reads the same whoever acted and wherever; and the one way the pages and
the API apply them (the write lock, one transaction, then wake delivery)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.delivery.channels import make_notifier
from monitor.tickets.actions import TicketError, acknowledge, add_note, assign, get_ticket, resolve
from monitor.tickets.desk import IncidentDesk
from monitor.tickets.playbooks import add_demand, meet_demand, tick_step
from monitor.web.requests import Console
from sources.text import storable

Action = Callable[[Config, Session, int, datetime, str, Mapping[str, str]], Any]


def _number(fields: Mapping[str, str]) -> int:
    try:
        return int(fields.get("number", ""))
    except ValueError:
        raise TicketError("a step or demand number is needed / 请给出编号") from None


def _reopen(config: Config, session: Session, ticket_id: int, now: datetime, actor: str, fields: Mapping[str, str]) -> Any:
    return IncidentDesk(config, make_notifier(config)).reopen(session, get_ticket(session, ticket_id), now, actor, fields.get("note", ""))


ACTIONS: dict[str, Action] = {
    "ack": lambda config, s, tid, now, actor, f: acknowledge(s, tid, now, actor),
    "assign": lambda config, s, tid, now, actor, f: assign(s, tid, now, actor, f.get("owner", "")),
    "note": lambda config, s, tid, now, actor, f: add_note(s, tid, now, actor, f.get("note", "")),
    "resolve": lambda config, s, tid, now, actor, f: resolve(s, tid, now, actor, f.get("note", ""), follow_up=config.tickets.follow_up),
    "reopen": _reopen,
    "step": lambda config, s, tid, now, actor, f: tick_step(s, tid, _number(f), now, actor, f.get("note", "")),
    "demand": lambda config, s, tid, now, actor, f: add_demand(s, tid, f.get("text", ""), now, actor),
    "demand_done": lambda config, s, tid, now, actor, f: meet_demand(s, tid, _number(f), now, actor),
}
ACTION_PATTERN = "^(" + "|".join(ACTIONS) + ")$"


def apply_change(console: Console, ticket_id: int, action: str, user: str, fields: Mapping[str, str]) -> None:
    """One change in one transaction under the daemon's write lock; ``TicketError`` (no
    such ticket, or the change is refused) leaves nothing behind."""
    fields = {key: storable(value) for key, value in fields.items()}  # a NUL in a note failed on PostgreSQL
    with console.write_lock, console.sessions() as session:
        get_ticket(session, ticket_id)
        ACTIONS[action](console.config(), session, ticket_id, console.now(), user, fields)
        session.commit()
    console.changed()
