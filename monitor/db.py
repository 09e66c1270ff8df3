"""Engine, sessions and migrations. Nothing here is created at import time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "monitor_read_only"


class DatabaseError(Exception):
    """The database cannot be reached or migrated; the message is fit to show a user."""


def make_engine(url: str) -> Engine:
    """SQLite gets WAL (readers never block the writer), a busy timeout (threads wait
    instead of failing with "database is locked") and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and not path.startswith(":memory:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"database {url}: cannot create its folder ({exc.strerror})") from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        hint = " (for PostgreSQL: pip install 'brand-monitor[postgres]')" if "postgres" in url else ""
        raise DatabaseError(f"database URL {make_url_safe(url)}: {exc}{hint}") from None


def make_url_safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe for pysqlite: let SQLAlchemy, not the driver, begin
    # transactions, so savepoints nest inside a real transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """BEGIN IMMEDIATE takes the write lock up front: a transaction that reads and then
    writes cannot fail with "database is locked" when another connection committed in
    between (SQLITE_BUSY_SNAPSHOT skips the busy timeout); it waits instead.
    Read-only sessions (see ``read_session_factory``) begin deferred: in WAL mode they
    never wait for a writer, so many polling threads cannot starve each other."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


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
        raise DatabaseError(f"database {engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}: {reason}") from None


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and say how many rows it changed (a DML statement's result
    is a ``CursorResult``, which the ``Session.execute`` signature does not say)."""
    result = session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount or 0


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
