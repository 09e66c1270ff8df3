"""``monitor demo``: a crisis replayed offline, end to end, through the real daemon.

A simulated Mastodon-compatible platform and a news feed run on 127.0.0.1. One post
about a scalding kids' thermos goes viral (about 15 engagements a second, so it passes
``velocity_urgent`` = 100 within seconds); around it are a benign mention, an off-brand
post full of crisis words and an excluded post. The daemon polls every second, raises
the ticket (important, then urgent), and the alert emails land as .eml files.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.daemon import Daemon
from monitor.storage.models import MessageRow, TicketRow
from monitor.storage.states import MessageStatus
from monitor.web.users import add_user

RATE = {"reblogs_count": 8.0, "replies_count": 2.0, "favourites_count": 5.0}  # per second
URGENT_AT = 100  # velocity_urgent in the demo config

DEMO_CONFIG = """\
# Written by `monitor demo`: the shipped defaults, pointed at a simulated platform on loopback.
[monitor]
database = "sqlite:///demo.db"
timezone = "Asia/Shanghai"
outbox = "outbox"

[[brands]]
name = "艾克美"
keywords = ["艾克美", "Acme"]
exclude = ["艾克美小区"]

[crisis.safety]
severity = "urgent"
terms = ["烫伤", "过敏", "中毒", "爆炸", "起火", "injury", "burn"]

[crisis.media]
severity = "urgent"
terms = ["记者", "曝光", "央视", "315"]

[crisis.quality]
severity = "normal"
terms = ["漏水", "质量问题", "defect"]

[scoring]
velocity_window = "30m"
velocity_important = 50
velocity_urgent = {urgent}
volume_window = "24h"
volume_important = 5
track_for = "48h"

[[sources]]
name = "sim-mastodon"
kind = "mastodon"
instance = "{base}"
tag = "艾克美"
every = "1s"

[[sources]]
name = "sim-news"
kind = "rss"
url = "{base}/news.xml"
every = "1s"

# the demo shows every step as it happens: no group_wait (the shipped default gathers
# important tickets for a minute, normal ones for five); the important opening and the
# urgent rise are each the first message of their group, and urgent is never held by
# group_interval, so both go at once
[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
min_severity = "normal"
group_wait = "0s"

[[alerts.routes]]
name = "management"
to = ["ceo@example.com"]
min_severity = "urgent"
group_wait = "0s"

[tickets]
sla = {{ urgent = "1h", important = "12h", normal = "24h" }}
remind_after = {{ normal = "48h" }}
"""


@dataclass
class SimulatedPlatform:
    """Serves a tag timeline, single statuses and an RSS feed; counters grow with real time."""

    started: float = field(default_factory=time.monotonic)
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    server: ThreadingHTTPServer | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def crossing_time(self) -> float:
        """Seconds after start when the viral post's engagement reaches ``URGENT_AT``."""
        return URGENT_AT / sum(RATE.values())

    def statuses(self) -> list[dict[str, Any]]:
        assert self.server is not None
        base = self.base_url
        now = datetime.now(UTC)
        t = self.elapsed()

        def status(sid: str, who: str, html: str, minutes_ago: float, counts: dict[str, int]) -> dict[str, Any]:
            return {
                "id": sid,
                "uri": f"{base}/users/{who}/statuses/{sid}",
                "url": f"{base}/@{who}/{sid}",
                "created_at": (now - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z"),
                "content": html,
                "spoiler_text": "",
                "account": {"acct": who, "username": who},
                **counts,
            }

        viral = {k: int(rate * t) for k, rate in RATE.items()}
        return [
            status("1001", "angry_mom", "<p>艾克美儿童保温杯的盖子一拧就弹开，孩子的手被热水烫得通红，哭了一晚上！大家千万别买 "
                   "<a href=\"#\" class=\"mention hashtag\">#<span>艾克美</span></a></p>", 3, viral),
            status("1002", "happy_buyer", "<p>刚入手艾克美的新款保温杯，颜值很高，推荐！</p>", 40,
                   {"reblogs_count": 1, "replies_count": 0, "favourites_count": 3}),
            status("1003", "neighbour", "<p>小区楼下电动车起火了，幸好没人受伤，大家注意安全</p>", 20,
                   {"reblogs_count": 30, "replies_count": 12, "favourites_count": 40}),
            status("1004", "resident", "<p>艾克美小区今天又停水了，物业说有人被烫伤了？</p>", 10,
                   {"reblogs_count": 2, "replies_count": 5, "favourites_count": 1}),
        ]

    def feed(self) -> bytes:
        base = self.base_url
        items = [
            ("Acme launches a new thermos line for the winter", f"{base}/news/1", "Company news: the range comes in six colours."),
            ("Local bakery wins award", f"{base}/news/2", "Nothing to do with any brand."),
        ]
        body = "".join(
            f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid><description>{d}</description>"
            f"<pubDate>{datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate></item>"
            for t, link, d in items
        )
        return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Sim news</title>{body}</channel></rss>'.encode()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path.startswith("/api/v1/timelines/tag/"):
                    self._send(json.dumps(platform.statuses()).encode(), "application/json")
                elif path.startswith("/api/v1/statuses/"):
                    sid = path.rsplit("/", 1)[-1]
                    found = [s for s in platform.statuses() if s["id"] == sid]
                    if found:
                        self._send(json.dumps(found[0]).encode(), "application/json")
                    else:
                        self.send_error(404)
                elif path == "/news.xml":
                    self._send(platform.feed(), "application/rss+xml")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="sim-platform", daemon=True).start()
        self.started = time.monotonic()
        self.started_wall = datetime.now(UTC)
        return self.base_url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class DemoResult:
    ok: bool
    config: Path
    emails: list[Path]
    latency: float | None


@dataclass(frozen=True)
class DemoConsole:
    """Where to see the demo's crisis in the web console while the demo holds."""

    url: str
    user: str
    password: str
    ack_link: str | None


WEB_BLOCK = """
[web]
listen = "127.0.0.1:{port}"
"""


def _ack_link(emails: list[Path], base: str) -> str | None:
    """The one-click acknowledge link of the urgent mail to management."""
    for path in emails:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if "-urgent-management" not in path.name:
            continue
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        return next((word for word in text.split() if word.startswith(f"{base}/l/")), None)
    return None


def _until_interrupted(_console: DemoConsole) -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def run_demo(
    out_dir: Path,
    *,
    echo: Callable[[str], None] = print,
    timeout: float = 90.0,
    web_port: int | None = None,
    hold: Callable[[DemoConsole], None] = _until_interrupted,
) -> DemoResult:
    """With ``web_port`` the daemon also serves the console; once the urgent mail is out,
    ``hold`` is called (by default: wait for Ctrl-C) with the address and a demo user."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("demo.db", "demo.db-wal", "demo.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "outbox", ignore_errors=True)

    platform = SimulatedPlatform()
    base = platform.start()
    config_path = out_dir / "config.toml"
    config_path.write_text(DEMO_CONFIG.format(base=base, urgent=URGENT_AT) + (WEB_BLOCK.format(port=web_port) if web_port else ""), encoding="utf-8")
    echo(f"simulated platform on {base} / 模拟平台已启动")
    echo(f"config / 配置: {config_path}")
    daemon = Daemon(config_path, deliver_every=0.5)
    try:
        app = daemon.start()
        echo("daemon running; a post about a scalding thermos is going viral … / 监测中，一条关于保温杯烫手的帖子正在发酵 …")
        deadline = time.monotonic() + timeout
        urgent_sent: datetime | None = None
        while time.monotonic() < deadline:
            with app.read_sessions() as session:
                ticket = session.scalar(select(TicketRow).where(TicketRow.severity == "urgent"))
                if ticket is not None:
                    sent = session.scalars(select(MessageRow).where(MessageRow.ticket_id == ticket.id, MessageRow.status == MessageStatus.sent)).all()
                    if {m.route for m in sent if "-urgent-" in m.key} >= {"pr", "management"}:
                        urgent_sent = max(m.sent_at for m in sent if m.sent_at)
                        break
            time.sleep(0.2)
        crossing = platform.started_wall + timedelta(seconds=platform.crossing_time())
        latency = (urgent_sent - crossing).total_seconds() if urgent_sent else None
        if urgent_sent:
            _report(out_dir, config_path, latency, echo)
            if web_port:  # the daemon keeps running while the user looks around
                hold(_open_console(app, out_dir, web_port, echo))
    finally:
        daemon.stop()
        platform.stop()
    emails = sorted((out_dir / "outbox").glob("*.eml"))
    if not urgent_sent:
        echo("no urgent alert within the time limit / 超时未产生紧急预警")
    return DemoResult(urgent_sent is not None, config_path, emails, latency)


def _open_console(app: Any, out_dir: Path, port: int, echo: Callable[[str], None]) -> DemoConsole:
    base = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(9)
    with app.writer.session() as session:
        add_user(session, "demo", password, datetime.now(UTC))  # a fresh database every run
        session.commit()
    console = DemoConsole(base, "demo", password, _ack_link(sorted((out_dir / "outbox").glob("*.eml")), base))
    echo("")
    echo(f"web console / 网页控制台: {base}   user / 用户: demo   password / 密码: {password}")
    if console.ack_link:
        echo(f"the urgent mail's one-click acknowledge link / 紧急邮件中的一键确认链接:\n  {console.ack_link}")
    echo("Ctrl-C ends the demo / 按 Ctrl-C 结束演示")
    return console


def _report(out_dir: Path, config_path: Path, latency: float | None, echo: Callable[[str], None]) -> None:
    emails = sorted((out_dir / "outbox").glob("*.eml"))
    echo("")
    echo(f"urgent ticket raised; engagement passed {URGENT_AT} and the urgent mail was on disk {latency:.1f}s later")
    echo(f"紧急工单已生成；互动量超过 {URGENT_AT} 后 {latency:.1f} 秒预警邮件已写入磁盘")
    echo(f"alert emails / 预警邮件 ({out_dir / 'outbox'}):")
    for path in emails:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        echo(f"  {path}")
        echo(f"      To: {msg['To']}  Subject: {msg['Subject']}")
    echo("")
    echo(f"see the ticket / 查看工单:  monitor -c {config_path} tickets list")
