"""Every writer takes one path (``db.Writer``): within a process they take turns on its
lock instead of racing for SQLite's single write lock, and a writer in another process
waits, bounded, for the daemon's write transaction instead of failing with "database is
locked" after one busy timeout (issue 14, item 6)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from conftest import mastodon_source, real_now, status, write_config
from sqlalchemy import event, select, update

from monitor.app import Clocks
from monitor.storage.db import DatabaseBusy, Writer, make_engine, migrate, session_factory
from monitor.storage.models import LeaseRow, MessageRow, UserRow

TIMELINE = "/api/v1/timelines/tag/acme"
ON_POSTGRES = bool(os.environ.get("MONITOR_TEST_DATABASE_URL"))


def _impatient_sqlite(engine) -> None:
    """SQLite's busy timeout cut to 0.2 s on this engine's new connections: a writer that
    does not wait its turn fails at once with "database is locked" instead of in 30 s."""
    if engine.dialect.name != "sqlite":
        return

    def short(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    event.listen(engine, "connect", short)
    engine.dispose()


class HeldWrite:
    """The daemon's writer in the middle of a long write transaction (an ingest that takes
    its time), until ``release`` is set."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.holding = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with self.writer.session() as session:
            session.execute(update(LeaseRow).values(expires_at=LeaseRow.expires_at))  # a write: the write lock is ours
            self.holding.set()
            self.release.wait(60)
            session.commit()

    def __enter__(self) -> HeldWrite:
        self.thread.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_leases_the_clocks_and_the_courier_wait_for_a_long_ingest_instead_of_failing(tmp_path, loopback, make_app, clock, caplog):
    loopback.json(TIMELINE, [status("1", "孩子用艾克美保温杯被烫伤了", created=clock.now)])
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    _impatient_sqlite(app.engine)
    app.poll_all()  # a ticket, and its messages queued
    app.dispatch()
    with app.read_sessions() as s:
        queued = len(s.scalars(select(MessageRow).where(MessageRow.status == "queued")).all())
    assert queued >= 1
    caplog.set_level(logging.INFO)
    done: dict[str, object] = {}
    errors: list[BaseException] = []

    def cycle() -> None:
        try:
            done["lease"] = app.leases.acquire("source:masto", timedelta(minutes=2))  # a poll renewing its lease
            done["clocks"] = app.remind()
            done["delivery"] = app.deliver()
        except BaseException as exc:
            errors.append(exc)

    with HeldWrite(app.writer):
        worker = threading.Thread(target=cycle, daemon=True)
        worker.start()
        worker.join(2)  # room to fail, as they did without taking their turn
        assert not errors, errors
        assert worker.is_alive()  # waiting for the ingest, not failed
    worker.join(30)
    assert not worker.is_alive() and not errors, errors
    assert done["lease"] is not None
    assert isinstance(done["clocks"], Clocks)
    assert done["delivery"].sent == queued  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if "database is locked" in r.getMessage() or r.levelno >= logging.ERROR]


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL locks rows, not the database: nothing to wait for")
def test_a_write_from_another_process_waits_for_the_daemons_write_transaction_and_succeeds(tmp_path, make_app):
    config = write_config(tmp_path)
    app = make_app(config)
    lines: list[str] = []
    waiting = threading.Event()
    with HeldWrite(app.writer):
        command = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(config), "users", "add", "李娜", "--password-stdin"],
            cwd=config.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert command.stdin is not None and command.stderr is not None
        command.stdin.write("a long enough password\n")
        command.stdin.close()

        def read_stderr() -> None:
            for line in command.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if "database busy" in line:
                    waiting.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            # it found the database busy (a whole busy slice went by) and says it waits
            assert waiting.wait(20), lines
            assert command.poll() is None, lines
        except BaseException:
            command.kill()
            raise
    command.wait(30)
    reader.join(5)
    out = command.stdout.read()  # type: ignore[union-attr]
    assert command.returncode == 0, lines
    assert "user 李娜 added" in out
    assert len([line for line in lines if "database busy" in line]) == 1  # said once, not every slice
    with app.read_sessions() as s:
        assert s.scalar(select(UserRow.name)) == "李娜"


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's write lock")
def test_a_writer_gives_up_after_its_patience_with_one_clear_line(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    daemon = make_engine(url)
    migrate(daemon)
    other = make_engine(url, write_patience=timedelta(seconds=2))  # another process's engine
    caplog.set_level(logging.INFO, logger="monitor.db")
    try:
        with HeldWrite(Writer(session_factory(daemon))):
            started = time.monotonic()
            with pytest.raises(DatabaseBusy) as failure, Writer(session_factory(other)).session() as session:
                session.add(UserRow(name="x", password_hash="-", created_at=real_now()))
                session.commit()
            waited = time.monotonic() - started
        message = str(failure.value)
        assert "\n" not in message and "busy" in message and "2s" in message and "locked" not in message
        assert 2 <= waited < 10
        assert len([r for r in caplog.records if "database busy" in r.getMessage()]) == 1
        with Writer(session_factory(other)).session() as session:  # free again: the same engine writes
            session.add(UserRow(name="x", password_hash="-", created_at=real_now()))
            session.commit()
    finally:
        daemon.dispose()
        other.dispose()
