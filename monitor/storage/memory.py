"""Where sources keep what they must remember across restarts (``sources.SourceStore``): a
stream's cursor and the counters of the posts it follows, one JSON document per source.

Saved through the process's ``Writer`` (its write turn), read on a read session. A
document is refused on save past ``MAX_BYTES`` (a source's bug must not grow a row without
end) and a stored one that does not parse reads as nothing (the source starts afresh).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.storage.db import Writer
from monitor.storage.models import SourceMemoryRow

log = logging.getLogger("monitor.db")
MAX_BYTES = 16 * 1024 * 1024


class SourceMemory:
    def __init__(self, writer: Writer, read_sessions: sessionmaker[Session], clock: Clock) -> None:
        self.writer = writer
        self.read_sessions = read_sessions
        self.clock = clock

    def load(self, source: str, kind: str) -> Any | None:
        with self.read_sessions() as session:
            row = session.get(SourceMemoryRow, source)
            if row is None or row.kind != kind:
                return None
            data = row.data
        try:
            return json.loads(data)
        except ValueError as exc:
            log.warning("source %s: its stored state does not parse, starting afresh: %s", source, exc)
            return None

    def save(self, source: str, kind: str, state: Any) -> None:
        data = json.dumps(state, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if len(data) > MAX_BYTES:
            raise ValueError(f"state of {len(data)} characters is over the limit of {MAX_BYTES}")
        with self.writer.session() as session:
            row = session.get(SourceMemoryRow, source) or SourceMemoryRow(name=source)
            row.kind, row.data, row.saved_at = kind, data, self.clock()
            session.add(row)
            session.commit()



def forget_others(session: Session, keep: set[str]) -> None:
    """Drop what sources no longer configured kept (in the caller's transaction): a source
    removed and added again later starts from now, not from a cursor days old."""
    session.execute(delete(SourceMemoryRow).where(SourceMemoryRow.name.not_in(sorted(keep))) if keep else delete(SourceMemoryRow))
