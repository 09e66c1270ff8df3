"""The ``monitor`` command: one thin function per command; the work is done elsewhere."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from monitor.app import App
from monitor.cli.cases import cases
from monitor.cli.common import Fail, load, local_time, open_engine, open_session, stream_line
from monitor.cli.delivery import delivery, routes, silence
from monitor.cli.keywords import keywords
from monitor.cli.report import report as report_command
from monitor.cli.tickets import tickets
from monitor.cli.tuning import evaluate_command, replay_command
from monitor.cli.users import users
from monitor.clock import utcnow
from monitor.config import ConfigError
from monitor.daemon import Daemon, ListenError
from monitor.ingest.health import source_health
from monitor.ingest.poller import Elsewhere
from monitor.storage.db import DatabaseError
from sources import HttpPolicy, PoliteHttp, new_client, source_kinds

log = logging.getLogger("monitor")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for journald, Loki or any log shipper."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class OriginsOnly(logging.Filter):
    """httpx logs every request's full address at ``-vvv``, and a chat webhook's or a bot's
    credential is part of its address (DingTalk's ``access_token``, Telegram's
    ``/bot<token>/``): those lines keep only the scheme, host and port."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_origin(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}/…"


def _setup_logging(verbose: int, log_format: str = "text") -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)
    if not any(isinstance(f, OriginsOnly) for f in logging.getLogger("httpx").filters):
        logging.getLogger("httpx").addFilter(OriginsOnly())
    # "skipped: maximum number of running instances" for a hung source every interval is
    # noise: the source's own first-failure line already says it
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 2 else logging.ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", default="config.toml", show_default=True, type=click.Path(dir_okay=False), help="The config file / 配置文件.")
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Log lines as text, or one JSON object per line.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: int, log_format: str) -> None:
    """Brand monitor: social-media monitoring and crisis alerts / 舆情监测与危机预警."""
    _setup_logging(verbose, log_format)
    ctx.obj = {"config": Path(config_path)}


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the config; exit 2 with one line per problem / 检查配置."""
    config = load(ctx)
    for warning in config.warnings():
        click.echo(f"warning / 注意: {warning}", err=True)
    click.echo(
        f"{config.path}: OK / 配置正确 — {len(config.brands)} brand(s), {len(config.crisis)} crisis categories, "
        f"{len(config.sources)} source(s), {len(config.routes)} route(s), "
        f"mail {'via SMTP ' + config.email.host if config.email else 'to ' + str(config.monitor.outbox)}"
    )


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon until SIGTERM/SIGINT; saving config.toml reloads it / 运行监测服务."""
    load(ctx)  # fail fast, with the problems listed, before anything starts
    daemon = Daemon(ctx.obj["config"])
    try:
        daemon.start()
    except (ConfigError, DatabaseError) as exc:
        raise Fail(str(exc), code=2 if isinstance(exc, ConfigError) else 1) from None
    except ListenError as exc:  # the console's or the metrics' address is taken
        daemon.stop()
        raise _cannot_listen(exc) from None
    except OSError as exc:  # a file or folder it needs: say which, not "port taken"
        daemon.stop()
        raise Fail(f"cannot start: {exc} / 无法启动") from None
    stop = threading.Event()

    def _signal(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    while not stop.wait(1.0):
        pass
    daemon.stop()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # A worker thread may still sit in a read from a hung server; its result is not
    # needed (it is re-fetched next start) and the database is already closed.
    os._exit(0)


@cli.command()
@click.pass_context
def poll(ctx: click.Context) -> None:
    """One round of every source, deliver what is due, exit / 轮询一次."""
    config = load(ctx)
    engine = open_engine(config)
    http = PoliteHttp(new_client(HttpPolicy()))
    app = App(config, engine=engine, http=http, kinds=source_kinds())
    try:
        for name, report in app.poll_all().items():
            health = app.health[name]
            if isinstance(report, Elsewhere):
                click.echo(f"{name}: polled by another running monitor / 由另一个运行中的进程轮询")
            elif report is None:
                click.echo(f"{name}: failed / 失败 — {health.last_error}")
            else:
                click.echo(f"{name}: {report.posts} posts ({report.new_posts} new), {report.mentions} mentions, {len(report.tickets)} ticket(s)")
        app.remind()
        delivered = app.deliver()
        click.echo(f"messages sent / 已发送: {delivered.sent}, still queued / 待重试: {delivered.failed}"
                   + (f", refused for good / 被拒收: {delivered.rejected} (monitor delivery)" if delivered.rejected else ""))
    finally:
        app.close()
        http.client.close()
        engine.dispose()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array (for scripts).")
@click.pass_context
def sources(ctx: click.Context, as_json: bool) -> None:
    """Each source's health: last success, last error, failures, next poll / 数据源状态."""
    with open_session(ctx) as (config, session):
        health = source_health(session, config, utcnow())
    if as_json:
        click.echo(json.dumps(health, ensure_ascii=False, indent=2))
        return
    tz = config.monitor.timezone

    click.echo(f"{'NAME':<20} {'KIND':<10} {'STATE':<12} {'FAILS':>5}  {'LAST SUCCESS':<14}  {'NEXT POLL':<14}  {'POSTS':>7}  {'REPLICA':<32}  LAST ERROR")
    for h in health:
        click.echo(
            f"{h['name']:<20} {h['kind']:<10} {h['state']:<12} {h['failures']:>5}  {local_time(h['last_success'], tz):<14}  {local_time(h['next_poll'], tz):<14}"
            f"  {h['posts_seen']:>7}  {h['replica'] or '–':<32}  {h['last_error'][:100]}"
        )
        if h["stream"]:
            click.echo(f"  {stream_line(h['stream'], tz)}")


@cli.command()
@click.option("--out", "out_dir", default="monitor-demo", show_default=True, type=click.Path(file_okay=False), help="Where the demo's database and emails go.")
@click.option("--web", "web_port", type=click.IntRange(1, 65535), default=None, metavar="PORT", help="Also serve the web console on 127.0.0.1:PORT and keep running (Ctrl-C ends it).")
def demo(out_dir: str, web_port: int | None) -> None:
    """Replay a crisis offline, end to end / 离线演示一次危机."""
    from monitor.cli.demo import run_demo

    try:
        result = run_demo(Path(out_dir), echo=click.echo, web_port=web_port)
    except ListenError as exc:  # --web on a port that is taken
        raise _cannot_listen(exc) from None
    except RuntimeError as exc:
        raise Fail(str(exc)) from None
    except OSError as exc:  # the --out folder cannot be written
        raise Fail(f"demo / 演示: {exc}") from None
    if not result.ok:
        raise Fail("demo did not produce the urgent alert in time / 演示未能按时产生紧急预警")


def _cannot_listen(exc: OSError) -> Fail:
    """The daemon's one line when an address it serves on cannot be had: ``run`` and ``demo``."""
    return Fail(f"{exc} / 端口被占用或地址无效")


for command in (tickets, routes, silence, delivery, report_command, cases, keywords, evaluate_command, replay_command, users):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="monitor")
