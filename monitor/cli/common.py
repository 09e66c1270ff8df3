"""What every ``monitor`` subcommand shares: one-line failures, loading the config,
opening the database, and who is acting."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Config, ConfigError, load_config
from monitor.storage.db import DatabaseError, Writer, make_engine, migrate, session_factory
from sources import source_kinds


class Fail(click.ClickException):
    """One clear line on stderr and a non-zero exit, never a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it per instance; ClassVar only in its stub

    def show(self, file: Any = None) -> None:
        click.echo(f"monitor: {self.message}", err=True)


def load(ctx: click.Context) -> Config:
    try:
        return load_config(ctx.obj["config"], source_kinds())
    except ConfigError as exc:
        if exc.unreadable:
            raise Fail(exc.problems[0], code=2) from None
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise Fail(f"{ctx.obj['config']}: configuration has {len(exc.problems)} problem(s) / 配置有误", code=2) from None


def open_engine(config: Config) -> Engine:
    """The database, migrated to the current schema; one clear line if it cannot be."""
    try:
        engine = make_engine(config.monitor.database)
        migrate(engine)
    except DatabaseError as exc:
        raise Fail(str(exc)) from None
    return engine


@contextmanager
def open_session(ctx: click.Context) -> Iterator[tuple[Config, Session]]:
    """A write session (the one path every writer takes: ``db.Writer``). While a daemon
    or another command is writing, its writes wait for it, up to ``db.WRITE_PATIENCE``,
    then fail with one line."""
    config = load(ctx)
    db = open_engine(config)
    try:
        with Writer(session_factory(db)).session() as s:
            yield config, s
    except DatabaseError as exc:
        raise Fail(str(exc)) from None
    finally:
        db.dispose()


def local_time(value: str | None, tz: tzinfo) -> str:
    """An ISO time from a health record as a table cell in the monitor's zone."""
    return "–" if value is None else datetime.fromisoformat(value).astimezone(tz).strftime("%m-%d %H:%M:%S")


def stream_line(stream: dict[str, Any], tz: tzinfo) -> str:
    """A stream source's status (``StreamStatus.as_json``, as its last poll stored it) as
    one line under its row of `monitor sources`."""
    since = stream.get("since")
    when = local_time(since, tz) if isinstance(since, str) else "–"
    state = f"connected since {when} / 已连接" if stream.get("connected") else f"DOWN since {when} / 已断开"
    lag = stream.get("lag_seconds")
    lag_text = "–" if not isinstance(lag, (int, float)) else f"{lag:.1f}s"
    line = (
        f"stream / 流: {state}, lag / 延迟 {lag_text}, {float(stream.get('events_per_second') or 0):.1f} events/s / 事件每秒, "
        f"{int(stream.get('reconnects') or 0)} reconnect(s) / 重连"
    )
    if stream.get("dropped"):
        line += f", {int(stream['dropped'])} dropped / 丢弃"
    return line


def actor() -> str:
    """Who is acting, for the ticket timeline."""
    try:
        return getpass.getuser()
    except Exception:
        return "cli"
