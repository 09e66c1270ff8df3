"""``monitor delivery``: what each channel and route sent, what waits for a retry and
what was refused for good."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery.courier import ticket_ids
from monitor.storage.models import MessageRow
from monitor.storage.states import UNSENT, MessageStatus


def delivery_health(session: Session) -> list[dict[str, Any]]:
    """``monitor delivery --json``: per channel and route, what was sent, what waits for a
    retry and what was refused for good, with the messages that need a look (newest first).

    ``state`` is ``ok``, ``retrying`` (a message failed and waits for its next attempt) or
    ``rejected`` (a message, or one of its recipients, was refused for good and will not
    be sent: fix the address or the content, then tell those people another way)."""
    rows = session.execute(
        select(MessageRow.channel, MessageRow.route, MessageRow.status, func.count(), func.max(MessageRow.sent_at))
        .group_by(MessageRow.channel, MessageRow.route, MessageRow.status)
    ).all()
    health: dict[tuple[str, str], dict[str, Any]] = {}
    for channel, route, status, count, last_sent in rows:
        entry = health.setdefault((channel, route), {
            "channel": channel, "route": route, "state": "ok", "sent": 0, "queued": 0, "retrying": 0, "rejected": 0,
            "last_sent": None, "problems": [],
        })
        if status == "sent":
            entry["sent"] += count
            entry["last_sent"] = None if last_sent is None else last_sent.isoformat()
        elif status == "failed":
            entry["rejected"] += count
        else:
            entry["queued"] += count
    troubled = session.scalars(
        select(MessageRow)
        .where((MessageRow.status == MessageStatus.failed) | (MessageRow.status.in_(UNSENT) & (MessageRow.attempts > 0)))
        .order_by(MessageRow.id.desc())
    )
    for message in troubled:
        entry = health[(message.channel, message.route)]
        rejected = message.status == MessageStatus.failed
        if not rejected:
            entry["retrying"] += 1
        if len(entry["problems"]) < 20:
            entry["problems"].append({
                "key": message.key,
                "tickets": ticket_ids(message),
                "recipients": list(message.recipients),
                "status": "rejected" if rejected else "retrying",
                "attempts": message.attempts,
                "error": message.last_error,
                "next_attempt": None if rejected else message.next_attempt_at.isoformat(),
                "created_at": message.created_at.isoformat(),
            })
    for entry in health.values():
        entry["state"] = "retrying" if entry["retrying"] else ("rejected" if entry["rejected"] else "ok")
    return [health[k] for k in sorted(health)]
