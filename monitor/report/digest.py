"""The scheduled digest: management's daily (or weekly) report by email.

A digest belongs to a *slot*: the configured local time on every ``every``-th day. The
outbox key names the slot, so each digest is queued exactly once however often the
clock job runs, across restarts and replicas; a daemon that was down at 09:00 sends the
morning's digest when it comes back, not a day late and not twice.
"""

from __future__ import annotations

import base64
from datetime import datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import Rendered
from monitor.config import DigestConfig
from monitor.delivery.outbox import Outbox
from monitor.keys import chat_key, digest_key
from monitor.storage.models import MessageRow


def digest_slot(now: datetime, tz: tzinfo, at: time, every: timedelta) -> datetime:
    """The latest slot at or before ``now``: ``at`` local time on a day whose number
    (Monday 1 January of year 1 is day 1) is one more than a multiple of ``every``."""
    days = max(1, every.days)
    local = now.astimezone(tz)
    day = local.date()
    for _ in range(days + 1):
        if (day.toordinal() - 1) % days == 0:
            slot = datetime.combine(day, at, tzinfo=tz)
            if slot <= local:
                return slot.astimezone(now.tzinfo)
        day -= timedelta(days=1)
    raise AssertionError("unreachable: a slot exists within every + 1 days")


def queue_digest(session: Session, digest: DigestConfig, tz: tzinfo, now: datetime, outbox: Outbox | None = None) -> bool:
    """Queue the current slot's digest unless it was queued already; True if queued now."""
    slot = digest_slot(now, tz, digest.at, digest.every)
    key = digest_key(slot.astimezone(tz))
    taken = session.scalar(select(MessageRow.id).where(MessageRow.key.in_([key, *(chat_key(key, c) for c in digest.chat)])).limit(1))
    if taken is not None:
        return False
    from monitor.report.render import cid, make_report  # matplotlib loads only when a digest is made

    report = make_report(session, slot - digest.every, slot, tz, image_src=cid)
    images = {name: base64.b64encode(png).decode("ascii") for name, png in report.images.items()}
    queued = (outbox or Outbox()).queue(
        session, key=key, route="digest", tickets=[], rendered=Rendered(report.subject, report.text, report.html),
        now=now, to=digest.to, chat=digest.chat, what="digest", images=images,
    )
    return bool(queued)
