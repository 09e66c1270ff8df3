"""Migrations are the schema: a fresh database migrated to head equals the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from monitor.storage.db import make_engine, migrate
from monitor.storage.models import Base


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # running it again is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert {"posts", "snapshots", "mentions", "tickets", "ticket_posts", "ticket_events", "messages"} <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_commit_elsewhere_never_fails_a_read_then_write_transaction(tmp_path):
    """SQLite in WAL mode fails a read-then-write transaction at once with "database is
    locked" if another connection committed in between; BEGIN IMMEDIATE makes it wait."""
    import threading

    from sqlalchemy import text

    from monitor.storage.db import session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        s.execute(text("CREATE TABLE scratch (x INTEGER)"))
        s.execute(text("INSERT INTO scratch VALUES (1)"))
        s.commit()
    read_done, other_done = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def ingest():
        try:
            with sessions() as s:
                with s.begin_nested():  # as the pipeline does for each post
                    s.execute(text("SELECT count(*) FROM posts")).scalar()
                    read_done.set()
                    other_done.wait(1.0)  # give the other writer every chance to commit in between
                    s.execute(text("UPDATE scratch SET x = x + 1"))
                s.commit()
        except Exception as exc:
            errors.append(exc)

    def other():
        read_done.wait(5)
        try:
            with sessions() as s:
                s.execute(text("UPDATE scratch SET x = x + 10"))
                s.commit()
        except Exception as exc:
            errors.append(exc)
        other_done.set()

    threads = [threading.Thread(target=ingest), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    with sessions() as s:
        assert s.execute(text("SELECT x FROM scratch")).scalar() == 12


def test_the_suite_runs_on_the_database_asked_for(tmp_path, make_app):
    """MONITOR_TEST_DATABASE_URL=postgresql+psycopg://… runs every test on PostgreSQL."""
    import os

    from tests.conftest import write_config

    app = make_app(write_config(tmp_path))
    wanted = "postgresql" if os.environ.get("MONITOR_TEST_DATABASE_URL") else "sqlite"
    assert app.engine.dialect.name == wanted


def test_read_only_sessions_never_wait_for_a_writer(tmp_path):
    """Many polling threads read (what to re-read, is a source new) while one writes: on
    SQLite those reads must not queue for the write lock, or they starve."""
    import threading
    import time

    from sqlalchemy import text

    from monitor.storage.db import read_session_factory, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    writing, done = threading.Event(), threading.Event()

    def writer():
        with session_factory(engine)() as s:
            s.execute(text("UPDATE tickets SET status = status"))  # takes the write lock …
            writing.set()
            done.wait(10)  # … and holds it
            s.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(5)
        started = time.monotonic()
        with read_session_factory(engine)() as s:  # an IMMEDIATE begin would wait ~10 s here
            assert s.execute(text("SELECT count(*) FROM posts")).scalar() == 0
        assert time.monotonic() - started < 2
    finally:
        done.set()
        thread.join(10)


def _sqlite_memory() -> Callable[[], int] | None:
    """SQLite's own count of the bytes it holds, from the library Python's sqlite3 uses."""
    import ctypes
    import ctypes.util
    import sqlite3

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        lib.sqlite3_libversion.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return None
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None  # Python carries a copy of its own: not the library we can ask
    return lambda: int(lib.sqlite3_memory_used())


def test_each_connection_keeps_a_bounded_number_of_prepared_statements(tmp_path):
    """The SQL text varies with the data (``IN`` with one marker per id), so a connection
    meets ever more distinct statements; it keeps only ``SQLITE_STATEMENTS`` of them
    prepared (issue 14, item 11). Measured by SQLite's memory, not by a private table."""
    import pytest

    from monitor.storage.db import SQLITE_STATEMENTS

    memory = _sqlite_memory()
    if memory is None:
        pytest.skip("cannot read SQLite's memory counter here")
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    markers = ", ".join("?" * 60)  # every statement about the same size, each text distinct

    def run(first: int, last: int) -> None:
        for n in range(first, last):
            conn.exec_driver_sql(f"SELECT id AS c{n} FROM posts WHERE id IN ({markers})", tuple(range(60))).all()

    with engine.connect() as conn:
        run(0, 4)  # the connection's own start-up allocations out of the way
        start = memory()
        run(4, 4 + 2 * SQLITE_STATEMENTS)
        full = memory()  # the cache holds SQLITE_STATEMENTS now
        run(4 + 2 * SQLITE_STATEMENTS, 4 + 20 * SQLITE_STATEMENTS)
        later = memory()
    engine.dispose()
    one_cache = full - start
    assert one_cache > 0
    assert later - full < one_cache / 4, f"statements kept growing: {start} -> {full} -> {later} bytes"


def test_each_connection_keeps_a_bounded_page_cache(tmp_path):
    """A connection that reads a database far larger than its cache holds at most
    ``SQLITE_CACHE_KIB`` of pages (SQLite's default is about 2 MB): the pool's caches grew
    with the database for hours in the soak (issue 14, item 11)."""
    import pytest

    from monitor.storage.db import SQLITE_CACHE_KIB

    memory = _sqlite_memory()
    if memory is None:
        pytest.skip("cannot read SQLite's memory counter here")
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE big (id INTEGER PRIMARY KEY, body BLOB)")
        conn.exec_driver_sql("INSERT INTO big (body) SELECT randomblob(3000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n)")
    engine.dispose()  # the writer's cache out of the way
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1").all()
        start = memory()
        assert conn.exec_driver_sql("SELECT sum(length(body)) FROM big").scalar() == 6_000_000
        grown = memory() - start
    engine.dispose()
    assert 0 < grown < SQLITE_CACHE_KIB * 1024 * 1.5, f"one connection's cache grew by {grown} bytes reading 6 MB"
