"""Shared test parts: a fake clock, a loopback HTTP platform, a real SMTP server, and
an App built exactly as the daemon builds it (real SQLite file under tmp_path)."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from monitor.app import App
from monitor.config import load_config
from monitor.detect.matching import TokenizerFactory
from monitor.storage.db import make_engine, migrate
from sources import HttpPolicy, PoliteHttp, source_kinds

if os.environ.get("MONITOR_TEST_CLOCK_SHIFT"):
    # the processes the tests start (the CLI, `monitor run`) often run in a test's own
    # folder: they find tests/clockshift/sitecustomize.py only by an absolute path
    os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)

START = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
"""Where the fake clock starts (a Sunday, 16:00 in Shanghai). Only for code given a
``FakeClock``: a test that starts the daemon or the CLI (which read the real clock) dates
its posts with ``real_now()`` instead, so it passes on any day."""


def real_now() -> datetime:
    """The wall clock, to date inputs for code that reads it (the CLI, a ``monitor run``
    subprocess). CI runs the suite a second time under faketime a year ahead."""
    return datetime.now(UTC).replace(microsecond=0)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tokenizers() -> TokenizerFactory:
    return TokenizerFactory()


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threaded HTTP server on a free 127.0.0.1 port, serving until ``shut``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def shut(server: ThreadingHTTPServer | None, release: threading.Event) -> None:
    """Free handlers parked on ``release`` (hung-server tests), then stop."""
    release.set()
    if server is not None:
        server.shutdown()
        server.server_close()


# -- a platform on loopback --------------------------------------------------------------

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Loopback:
    """A tiny HTTP server: tests map paths to responses or to callables returning them."""

    routes: dict[str, Response | Callable[[], Response]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json(self, path: str, payload: Any, status: int = 200) -> None:
        self.routes[path] = (status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def start(self) -> None:
        lb = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                lb.hits[path] = lb.hits.get(path, 0) + 1
                route = lb.routes.get(path)
                if route is None:
                    status, headers, body = 404, {}, b"not found"
                else:
                    status, headers, body = route() if callable(route) else route
                if headers.get("X-Test-Hang"):
                    lb.release.wait(30)  # a hung server: accepts, never answers (until the test ends)
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers and not headers.get("X-Test-Chunked"):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(Handler)

    def stop(self) -> None:
        shut(self.server, self.release)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    lb = Loopback()
    lb.start()
    yield lb
    lb.stop()


def status(sid: str, text: str, *, base: str = "http://127.0.0.1", created: datetime = START, reblogs: int = 0, replies: int = 0, favs: int = 0, who: str = "someone") -> dict[str, Any]:
    """A Mastodon status as the API returns it."""
    return {
        "id": sid,
        "uri": f"{base}/users/{who}/statuses/{sid}",
        "url": f"{base}/@{who}/{sid}",
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "content": f"<p>{text}</p>",
        "spoiler_text": "",
        "account": {"acct": who, "username": who},
        "reblogs_count": reblogs,
        "replies_count": replies,
        "favourites_count": favs,
    }


# -- respx, for the source tests ---------------------------------------------------------


@pytest.fixture
def router() -> Iterator[Any]:
    """A respx mock router for one test (requests that match no route fail the test)."""
    import respx

    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One client per test module (building an SSL context per test is slow); respx patches
    the transport, so every request still goes to the test's own router."""
    with httpx.Client() as c:
        yield c


# -- config and app ----------------------------------------------------------------------

BASE_CONFIG = """\
[monitor]
database = "sqlite:///monitor.db"
timezone = "Asia/Shanghai"
outbox = "outbox"

[[brands]]
name = "艾克美"
keywords = ["艾克美", "Acme"]
exclude = ["艾克美小区"]

[crisis.safety]
severity = "urgent"
terms = ["烫伤", "过敏", "起火", "injury"]

[crisis.media]
severity = "urgent"
terms = ["记者", "曝光", "315"]

[crisis.quality]
severity = "normal"
terms = ["漏水", "质量问题", "defect"]

[scoring]
velocity_window = "30m"
velocity_important = 50
velocity_urgent = 100
volume_window = "24h"
volume_important = 5
track_for = "48h"

# detection tests want each message at once; the pacing tests set their own group_wait
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
"""


def mastodon_source(base: str, name: str = "masto", every: str = "1m", tag: str = "acme") -> str:
    return f'\n[[sources]]\nname = "{name}"\nkind = "mastodon"\ninstance = "{base}"\ntag = "{tag}"\nevery = "{every}"\n'


def rss_source(url: str, name: str, every: str = "1m") -> str:
    return f'\n[[sources]]\nname = "{name}"\nkind = "rss"\nurl = "{url}"\nevery = "{every}"\n'


def smtp_block(port: int) -> str:
    return textwrap.dedent(
        f"""
        [alerts.email]
        host = "127.0.0.1"
        port = {port}
        starttls = false
        from = "Brand monitor <monitor@example.com>"
        timeout = "5s"
        """
    )


def write_config(folder: Path, *extra: str, base: str = BASE_CONFIG) -> Path:
    path = folder / "config.toml"
    text = base + "".join(extra)
    current = os.environ.get(_CURRENT)
    if current:
        text = text.replace('database = "sqlite:///monitor.db"', f'database = "{current}"')
    path.write_text(text, encoding="utf-8")
    return path


# -- no proxy of the machine's ---------------------------------------------------------------

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's clients honour proxies from the environment; tests talk to 127.0.0.1
    only, so a proxy set on a developer's machine must not carry their requests (a test
    that wants one sets it)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# -- the database under test -------------------------------------------------------------
# By default every test gets a fresh SQLite file under tmp_path. With
# MONITOR_TEST_DATABASE_URL (e.g. postgresql+psycopg://127.0.0.1/test) every test gets a
# fresh schema in that PostgreSQL database instead, dropped afterwards.

_CURRENT = "MONITOR_TEST_DATABASE_CURRENT"  # an env var: conftest is imported under two names


@pytest.fixture(autouse=True)
def _database_under_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base:
        yield
        return
    import uuid

    from sqlalchemy import create_engine, make_url, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    monkeypatch.setenv(_CURRENT, url.render_as_string(hide_password=False))
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def make_app(clock: FakeClock, tokenizers: TokenizerFactory) -> Iterator[Callable[[Path], App]]:
    made: list[App] = []
    clients: list[httpx.Client] = []

    def build(config_path: Path) -> App:
        config = load_config(config_path, source_kinds())
        engine = make_engine(config.monitor.database)
        migrate(engine)
        client = httpx.Client(timeout=5)
        clients.append(client)
        policy = HttpPolicy(read_timeout=2, connect_timeout=2, total_timeout=3, max_bytes=1_000_000)
        # backoff windows follow the fake clock too, so a test can "wait" them out
        http = PoliteHttp(client, policy, monotonic=lambda: clock().timestamp(), wall=lambda: clock().timestamp())
        app = App(config, engine=engine, http=http, kinds=source_kinds(), clock=clock, tokenizers=tokenizers)
        made.append(app)
        return app

    yield build
    for app in made:
        app.close()
        app.engine.dispose()
    for client in clients:
        client.close()


@pytest.fixture
def http() -> Iterator[PoliteHttp]:
    """The daemon's polite client with short timeouts, for tests that run a real Daemon."""
    client = httpx.Client()
    polite = PoliteHttp(client, HttpPolicy(read_timeout=1.5, connect_timeout=1, total_timeout=3, max_bytes=1_000_000))
    yield polite
    wait_until(lambda: polite.in_flight == 0, timeout=10)  # a hung read ends by its timeout, inside the test
    client.close()


# -- a chat webhook receiver on loopback -------------------------------------------------


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))  # strict: must be valid UTF-8


@dataclass
class Receiver:
    """Records every POST; answers ``reply`` or, with ``hang``, accepts and never answers."""

    reply: tuple[int, bytes] = (200, b'{"errcode":0,"errmsg":"ok"}')
    hang: bool = False
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, status: int, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.reply = (status, body)

    def start(self) -> None:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                rx.seen.append(Seen(parts.path, query, dict(self.headers.items()), body))
                if rx.hang:
                    rx.release.wait(30)
                    self.close_connection = True
                    return
                status, reply = rx.reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                try:
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(Handler)

    def stop(self) -> None:
        shut(self.server, self.release)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    rx.start()
    yield rx
    rx.stop()


# -- a real SMTP server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (1.4.x cannot bind port 0, so a free port is picked first)."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.port = port
        self.messages: list[EmailMessage] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = message_from_bytes(envelope.content, policy=policy.default)
                msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
                sink.messages.append(msg)  # type: ignore[arg-type]
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll with a deadline (never a bare sleep): return the first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def fastest(work: Callable[[Any], Any], value: Any, runs: int = 3) -> float:
    """The best of ``runs`` timings of ``work(value)``, in seconds: for tests that compare a
    worst case with a baseline measured in the same test (never with absolute seconds)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work(value)
        best = min(best, time.perf_counter() - started)
    return best


# -- a phone: the loopback server push and SMS receivers post to ----------------------------


@dataclass
class Posted:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Phone:
    """Records every request; answers the queued replies in order, then ``reply``."""

    reply: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
    queue: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    seen: list[Posted] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, status: int, payload: Any, headers: dict[str, str] | None = None, *, once: bool = False) -> None:
        reply = (status, headers or {}, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        if once:
            self.queue.append(reply)
        else:
            self.reply = reply

    def start(self) -> None:
        phone = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                phone.seen.append(Posted(self.command, self.path, dict(self.headers.items()), body))
                status, headers, reply = phone.queue.pop(0) if phone.queue else phone.reply
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(Handler)


@pytest.fixture
def phone() -> Iterator[Phone]:
    p = Phone()
    p.start()
    yield p
    shut(p.server, p.release)
