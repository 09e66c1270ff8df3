"""Silences: "we know, don't tell us" for a planned launch or a known storm.

A silenced ticket is still raised, joined and recorded; only its messages are held back,
and the timeline says which silence held them. A silence has an end: when it passes,
tickets it held that are still open are announced.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from monitor.errors import RequestRefused
from monitor.storage.models import PostRow, SilenceRow, TicketPostRow, TicketRow


class SilenceError(RequestRefused):
    """A silence request that cannot be done; the message is fit to show a user."""


def add_silence(
    session: Session,
    *,
    now: datetime,
    duration: timedelta,
    reason: str,
    actor: str,
    brand: str | None = None,
    term: str | None = None,
    category: str | None = None,
) -> SilenceRow:
    if not (brand or term or category):
        raise SilenceError("a silence needs --brand, --term or --category (it would silence everything) / 请至少指定品牌、词或类别")
    if duration <= timedelta(0):
        raise SilenceError("--for must be longer than zero / 时长必须大于零")
    if not reason.strip():
        raise SilenceError("--reason is required, so the team knows why alerts were held / 请填写原因")
    row = SilenceRow(
        brand=brand or None,
        term=(term or "").strip() or None,
        category=category or None,
        starts_at=now,
        ends_at=now + duration,
        reason=reason.strip(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def expire_silence(session: Session, silence_id: int, now: datetime) -> SilenceRow:
    row = session.get(SilenceRow, silence_id)
    if row is None:
        raise SilenceError(f"no silence #{silence_id} / 没有静默 #{silence_id}")
    if row.ends_at > now:
        row.ends_at = now
    return row


def list_silences(session: Session, now: datetime, *, include_ended: bool = False) -> list[SilenceRow]:
    query = select(SilenceRow).order_by(SilenceRow.id.desc())
    if not include_ended:
        query = query.where(SilenceRow.ends_at > now)
    return list(session.scalars(query))


def active_silences(session: Session, now: datetime) -> list[SilenceRow]:
    return list(session.scalars(select(SilenceRow).where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now).order_by(SilenceRow.id)))


def silence_for(session: Session, ticket: TicketRow, silences: list[SilenceRow]) -> SilenceRow | None:
    """The first active silence that covers this ticket, if any.

    A term matches the ticket's title or the text of any of its posts (case-folded), so
    "新品发布" silences every ticket about the launch whatever category it fell in."""
    for silence in silences:
        if silence.brand is not None and silence.brand != ticket.brand:
            continue
        if silence.category is not None and silence.category not in (ticket.categories or ()):
            continue
        if silence.term is not None and not _mentions_term(session, ticket, silence.term):
            continue
        return silence
    return None


def _mentions_term(session: Session, ticket: TicketRow, term: str) -> bool:
    needle = term.casefold()
    if needle in (ticket.title or "").casefold():
        return True
    in_posts = exists().where(
        TicketPostRow.ticket_id == ticket.id,
        PostRow.id == TicketPostRow.post_id,
        func.lower(PostRow.text).contains(needle, autoescape=True),
    )
    return bool(session.scalar(select(in_posts)))


def describe(silence: SilenceRow) -> str:
    what = ", ".join(
        part for part in (
            f"brand={silence.brand}" if silence.brand else "",
            f"term={silence.term}" if silence.term else "",
            f"category={silence.category}" if silence.category else "",
        ) if part
    )
    return f"silence #{silence.id} ({what}) until {silence.ends_at.isoformat(timespec='minutes')}: {silence.reason}"
