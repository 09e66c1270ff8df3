"""Leases: which process does a piece of shared work, so replicas on one database never
do it twice and a dead replica's work is taken over.

A lease is a row (``name`` → ``owner`` until ``expires_at``). Taking one reads the row
with ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's write transactions are
already serial), so two replicas racing for the same source never both get it, and a
replica that finds the row locked moves on instead of waiting. Leases are sticky: the
holder renews its lease every time it does the work, so a source stays with one replica
and is polled at its own pace; others take it only when the lease has run out, that is
when the holder stopped renewing it: the lease's ``expires_at`` is the holder's heartbeat.
A clean stop hands its leases back at once (``release_all``).

A replica is known by a random instance id drawn at start, never by its host and PID: two
containers with host networking share a host name but not their PID namespaces, so a PID
that cannot be seen here says nothing about whether its holder is alive. Host and PID
follow the id only to be read by people (``monitor sources``, "taken over from" lines).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.storage.db import Writer, rows_changed
from monitor.storage.models import LeaseRow


def replica_id() -> str:
    """``<random id>@<host>:<pid>``: the random id, new at every process start, is the
    identity; host and PID are there for people reading `monitor sources` and the log."""
    return f"{uuid.uuid4().hex[:12]}@{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Taken:
    previous_owner: str | None
    """Who held it before (``None``: nobody, or this replica itself)."""


class Leases:
    def __init__(self, writer: Writer, clock: Clock, owner: str | None = None, *, read_sessions: sessionmaker[Session] | None = None) -> None:
        self.writer = writer
        self.read_sessions = read_sessions or writer.sessions
        self.clock = clock
        self.owner = owner or replica_id()

    def acquire(self, name: str, ttl: timedelta) -> Taken | None:
        """Take or renew ``name`` for ``ttl``; ``None`` when another replica holds it."""
        with self.writer.session() as session:
            now = self.clock()
            # the common case, the holder renewing: one UPDATE (it waits for a row another is busy with)
            if rows_changed(session, update(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == self.owner).values(expires_at=now + ttl)):
                session.commit()
                return Taken(None)
            seen = session.get(LeaseRow, name)  # a plain read first: most calls end here, taking no lock
            if seen is not None and not self._free(seen, now):
                return None
            if seen is None:
                session.add(LeaseRow(name=name, owner=self.owner, expires_at=now + ttl))
                try:
                    session.commit()
                except IntegrityError:  # another replica created it first
                    session.rollback()
                    return None
                return Taken(None)
            # The holder renewing waits for the row; a replica taking over an expired lease
            # skips a row someone else is busy with (PostgreSQL; SQLite writes are serial).
            mine = seen.owner == self.owner
            row = session.scalar(
                select(LeaseRow).where(LeaseRow.name == name).with_for_update(skip_locked=not mine).execution_options(populate_existing=True)
            )
            if row is None or not self._free(row, now):
                return None
            previous = None if row.owner == self.owner else row.owner
            row.owner, row.expires_at = self.owner, now + ttl
            session.commit()
            return Taken(previous)

    def _free(self, row: LeaseRow, now: datetime) -> bool:
        return row.owner == self.owner or row.expires_at <= now

    def release_all(self) -> int:
        """On a clean stop: hand everything back at once instead of after expiry."""
        with self.writer.session() as session:
            released = rows_changed(session, update(LeaseRow).where(LeaseRow.owner == self.owner).values(expires_at=self.clock()))
            session.commit()
            return released

    def holders(self) -> dict[str, tuple[str, datetime]]:
        with self.read_sessions() as session:
            return {row.name: (row.owner, row.expires_at) for row in session.scalars(select(LeaseRow))}

    def forget(self, names: list[str]) -> None:
        """Drop leases of work that no longer exists (a source removed from the config)."""
        if not names:
            return
        with self.writer.session() as session:
            session.execute(delete(LeaseRow).where(LeaseRow.name.in_(names), LeaseRow.owner == self.owner))
            session.commit()
