"""``monitor report``: the digest for management, as text on stdout or an HTML file.

Registered on the ``monitor`` group by ``cli.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import click

from monitor.cli.common import Fail, load, open_engine
from monitor.clock import utcnow
from monitor.durations import parse_duration
from monitor.storage.db import read_session_factory


def parse_since(value: str) -> timedelta:
    """``--since``: how far back from ``--until`` ("1d", "7d", "12h")."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"--since: {exc} / 时长无效") from None


def parse_until(value: str | None, tz: tzinfo) -> datetime:
    """``--until``: an ISO time; without an offset it is read in the configured zone
    (people type their own wall-clock time); a bare date means its midnight."""
    if value is None:
        return utcnow()
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--until: \"{value}\" is not an ISO time (like 2026-11-22 or 2026-11-22T09:00+08:00) / 时间格式无效") from None
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


@click.command()
@click.option("--since", "since_text", default="1d", show_default=True, help="How far back from --until (like 1d, 7d) / 统计时长.")
@click.option("--until", "until_text", default=None, help="End of the period, ISO time (default: now; no offset = the configured zone) / 截止时间.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="Write the HTML report (chart embedded) here instead of printing text / 输出 HTML 文件.")
@click.pass_context
def report(ctx: click.Context, since_text: str, until_text: str | None, out_path: str | None) -> None:
    """Digest of tickets, SLA and volume for management / 舆情报告."""
    from monitor.report.render import data_uri, make_report  # matplotlib and friends load only for a report

    try:
        span = parse_since(since_text)
    except ValueError as exc:
        raise Fail(str(exc), code=2) from None
    config = load(ctx)
    tz = config.monitor.timezone
    try:
        until = parse_until(until_text, tz)
    except ValueError as exc:
        raise Fail(str(exc), code=2) from None
    engine = open_engine(config)
    try:
        # a read session: on SQLite it takes no write lock, so a running daemon is not held up
        with read_session_factory(engine)() as session:
            rendered = make_report(session, until - span, until, tz, image_src=data_uri)
    finally:
        engine.dispose()
    if out_path is None:
        click.echo(rendered.text, nl=False)
        return
    _write(Path(out_path), rendered.html)
    click.echo(f"{out_path}: {rendered.subject} / 报告已写入")


def _write(path: Path, html: str) -> None:
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise Fail(f"{path}: cannot write ({exc.strerror}) / 无法写入") from None
