"""Engine, sessions and migrations. Nothing here is created at import time."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote_plus

from sqlalchemy import URL, CursorResult, Engine, Executable, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.durations import format_duration
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "monitor_read_only"
WRITE_PATIENCE = timedelta(minutes=10)
"""How long a write waits for another process's write transaction (a long ingest of the
daemon, a ``monitor`` command) to end before it gives up, on SQLite."""
BUSY_SLICE = 1.0
"""Seconds SQLite's own busy handler waits per attempt to begin a write; between attempts
the first wait is logged and the deadline checked."""
BUSY_TIMEOUT_MS = 30000
"""SQLite's busy timeout for everything else (in WAL mode readers hardly ever wait)."""
SQLITE_STATEMENTS = 16
"""Prepared statements each SQLite connection keeps (Python's sqlite3 keeps 128). The
daemon's SQL text varies with its data: ``IN (?, ?, …)`` with as many markers as ids, a
multi-row INSERT with as many rows as new posts. So over days each pooled connection filled
its 128 slots with statements of every length, some of them tens of kB, and resident
memory crept up for hours (issue 14, item 11). Preparing one again costs microseconds next
to a poll's milliseconds; SQLAlchemy caches the compiled SQL text itself."""
SQLITE_CACHE_KIB = 512
"""Page cache each SQLite connection may keep (SQLite's default is 2,000 KiB). In WAL mode
another connection's commit empties it anyway, so a large one buys little here, while the
pool's caches grew with the database for hours in the soak (issue 14, item 11). The
operating system's file cache still holds the pages, so a miss is a copy, not a disk read."""

log = logging.getLogger("monitor.db")


class DatabaseError(MonitorError):
    """The database cannot be reached or migrated; the message is fit to show a user."""


class DatabaseBusy(DatabaseError):
    """Another process held the database's write lock for longer than we wait (SQLite)."""


def make_engine(url: str, *, write_patience: timedelta = WRITE_PATIENCE) -> Engine:
    """SQLite gets WAL (readers never block the writer), enforced foreign keys, and writes
    that wait for another process's write transaction, up to ``write_patience`` in all,
    instead of failing with "database is locked" after one busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and not path.startswith(":memory:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"database {make_url_safe(url)}: cannot create its folder ({exc.strerror})") from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False, "cached_statements": SQLITE_STATEMENTS})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", partial(_sqlite_begin, patience=write_patience))
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        hint = " (for PostgreSQL: pip install 'brand-monitor[postgres]')" if "postgres" in url else ""
        raise DatabaseError(f"database URL {make_url_safe(url)}: {exc}{hint}") from None


SECRET_PARAMETER = re.compile(r"pass(?:word|wd)|pwd|secret|token|api_?key|credential", re.IGNORECASE)
"""Query parameters of a database URL that carry a secret: ``?password=…`` (psycopg and most
drivers take it there too), ``sslpassword``, ``PWD``, ``auth_token`` …; ``passfile`` names a
file and is not one."""
_TEXT_PASSWORD = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")
_TEXT_PARAMETER = re.compile(r"([?&;][^=&;#]*(?:pass(?:word|wd)|pwd|secret|token|api_?key|credential)[^=&;#]*=)[^&;#]*", re.IGNORECASE)


def secret_parameters(url: URL) -> list[str]:
    """The names of ``url``'s query parameters that carry a secret, as written."""
    return [key for key in url.query if SECRET_PARAMETER.search(key)]


def make_url_safe(url: str | URL) -> str:
    """A database URL fit to print: its password and the values of its secret query
    parameters shown as ``***`` (and so on a URL SQLAlchemy cannot even parse)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):  # "postgresql://u:pw@db:abc/x": a port that is not a number
        return _TEXT_PARAMETER.sub(r"\1***", _TEXT_PASSWORD.sub(r"\1***@", str(url)))
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [
        f"{quote_plus(key)}={'***' if SECRET_PARAMETER.search(key) else quote_plus(value)}"
        for key in sorted(parsed.query)
        for value in _values(parsed.query[key])
    ]
    return shown + ("?" + "&".join(pairs) if pairs else "")


def _values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A query parameter's values: SQLAlchemy gives a repeated one as a tuple."""
    return value if isinstance(value, tuple) else (value,)


def _scrub(text: str, url: URL) -> str:
    """``text`` (a driver's error message) without the URL's password or secret parameters."""
    hidden = [url.password or "", *(value for key in secret_parameters(url) for value in _values(url.query[key]))]
    for secret in sorted((h for h in hidden if h), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe for pysqlite: let SQLAlchemy, not the driver, begin
    # transactions, so savepoints nest inside a real transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _sqlite_begin(connection: Any, *, patience: timedelta) -> None:
    """BEGIN IMMEDIATE takes the write lock up front: a transaction that reads and then
    writes cannot fail with "database is locked" when another connection committed in
    between (SQLITE_BUSY_SNAPSHOT skips the busy timeout); it waits instead, for as long as
    another process writes, up to ``patience`` (see ``_begin_write``).
    Read-only sessions (see ``read_session_factory``) begin deferred: in WAL mode they
    never wait for a writer, so many polling threads cannot starve each other."""
    if connection.get_execution_options().get(READ_ONLY, False):
        connection.exec_driver_sql("BEGIN")
        return
    _begin_write(connection, patience)


def _begin_write(connection: Any, patience: timedelta) -> None:
    """BEGIN IMMEDIATE, retried in slices of ``BUSY_SLICE`` while another process holds
    the write lock: the first wait is logged once, and after ``patience`` one clear error
    (``DatabaseBusy``) instead of "database is locked" after SQLite's single busy timeout.
    Within this process writers take turns on ``Writer.lock`` first, so this waits only
    for other processes."""
    raw = connection.connection.driver_connection
    deadline = time.monotonic() + patience.total_seconds()
    waited = False
    while True:
        left = deadline - time.monotonic()
        raw.execute(f"PRAGMA busy_timeout={max(1, int(min(BUSY_SLICE, left) * 1000))}")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            break
        except OperationalError as exc:
            if not _busy(exc):
                raise
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"database {make_url_safe(connection.engine.url)} is busy: another process has been writing for over "
                    f"{format_duration(patience)}; gave up waiting (try again when it is done) / 数据库繁忙"
                ) from None
            if not waited:
                waited = True
                log.warning("database busy: another process is writing; waiting for it (up to %s)", format_duration(patience))
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if waited:
        log.info("database free again: writing")


def _busy(exc: OperationalError) -> bool:
    reason = str(exc.orig or exc).lower()
    return "database is locked" in reason or "database is busy" in reason


class Writer:
    """The one way this process writes: ``with writer.session() as session`` holds the
    process's write lock for the whole session, so writers of one process (ingests, leases,
    the courier, the clocks, the console) take turns here instead of racing for SQLite's
    single write lock and failing after its busy timeout; the lock is what a clean stop
    waits for. Writers in other processes are waited for by the engine (``_begin_write``).
    On PostgreSQL the turn-taking also keeps issue look-ups from racing within a replica."""

    def __init__(self, sessions: sessionmaker[Session], lock: threading.Lock | None = None) -> None:
        self.sessions = sessions
        self.lock = lock or threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.lock, self.sessions() as session:
            yield session

    @contextmanager
    def turn(self, session: Session) -> Iterator[Session]:
        """A write on a session of ``sessions`` that lives longer than one lock hold (the
        courier's, which must not hold the lock while a mail server answers): the lock is
        held for the block, and what the block left uncommitted is rolled back at its end,
        so no transaction outlives the turn."""
        with self.lock:
            try:
                yield session
            finally:
                if session.in_transaction():
                    session.rollback()


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # imported when needed: 170 ms of start-up otherwise

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; users' data is kept across upgrades."""
    from alembic import command

    cfg = alembic_config()
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())  # one line, whatever the driver says
        raise DatabaseError(f"database {make_url_safe(engine.url)}: {exc.__class__.__name__}: {_scrub(reason, engine.url)}") from None


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and say how many rows it changed (a DML statement's result
    is a ``CursorResult``, which the ``Session.execute`` signature does not say)."""
    result = session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount or 0

def insert_once(session: Session, row: Any) -> bool:
    """Add a row whose unique key says "this was done"; False if another process (or an
    earlier run) did it first. The savepoint keeps a lost race from failing the caller's
    whole transaction."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for look-ups that write nothing (on SQLite they take no write lock)."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


ISSUE_GROUPING_LOCK = 0x6D6F6E69  # "moni": one PostgreSQL advisory lock, one purpose


def lock_issue_grouping(session: Session) -> None:
    """Deciding which issue a new mention joins reads the other mentions and then writes:
    two replicas deciding at once would each start an issue of its own for one complaint
    (neither sees the other's uncommitted mention). On PostgreSQL this transaction-scoped
    advisory lock makes them take turns; the second sees the first's mention once it
    commits. One lock for all brands, so two ingests can never deadlock on it. SQLite
    already has one writer at a time (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ISSUE_GROUPING_LOCK})
