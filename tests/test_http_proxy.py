"""Proxies from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``) through the daemon's own clients, a source's and the chat/SMS one, against a
"proxy" on 127.0.0.1: a user behind a corporate proxy is served through it, and a proxy
that drips its answer or never gives one ends a poll and a chat send at their deadline,
like any server would (httpx builds a transport of its own for each proxy it mounts).

Every request names a "direct" server on 127.0.0.1 too: a request that skipped the proxy
is answered there at once, so a test fails (it never hangs) when the proxy is ignored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, write_config

from alerts import DeliveryError, Envelope
from alerts.chat import WebhookChannel
from sources import HttpPolicy, PoliteHttp, TransportError, new_client
from tests.hostile import Handler, HostileServer

DEADLINE = 1.0
"""The poll's and the send's whole-request limit here; their per-read timeout is far longer."""
HARD_LIMIT = 15.0
"""A request still running this long failed to meet its deadline: the test says so."""


@dataclass(frozen=True)
class Route:
    """How a request reaches the proxy: the address's scheme, the variable naming the
    proxy, and what the proxy is sent first (absolute-form GET, CONNECT, SOCKS greeting)."""

    scheme: str
    variable: str
    proxy_scheme: str = "http"

    def first_line(self, url: str, port: int) -> str:
        if self.proxy_scheme == "socks5":
            return "\x05"  # SOCKS 5's greeting
        return f"CONNECT 127.0.0.1:{port} " if self.scheme == "https" else f" {url} "


PLAIN = Route("http", "HTTP_PROXY")
TUNNEL = Route("https", "HTTPS_PROXY")
SOCKS = Route("http", "ALL_PROXY", "socks5")


class Servers:
    """The direct server and the proxy of one test, closed (their waits released) at its end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.direct = HostileServer(default=HostileServer.respond(b"direct"))
        self.proxy: HostileServer | None = None

    def proxied(self, route: Route, answer: Callable[[HostileServer], Handler], path: str = "/feed", **more: str) -> str:
        """Start the proxy answering with ``answer``, name it in the environment the way
        ``route`` says, and give the address to ask for."""
        self.proxy = HostileServer()
        self.proxy.default = answer(self.proxy)
        port = self.proxy.sock.getsockname()[1]
        self.monkeypatch.setenv(route.variable, f"{route.proxy_scheme}://127.0.0.1:{port}")
        for name, value in more.items():
            self.monkeypatch.setenv(name, value)
        return f"{route.scheme}://127.0.0.1:{self.direct.sock.getsockname()[1]}{path}"

    def close(self) -> None:
        self.direct.close()
        if self.proxy is not None:
            self.proxy.close()


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    made = Servers(monkeypatch)
    yield made
    made.close()


def drips(server: HostileServer) -> Handler:
    """Its answer's first line a byte every quarter second, never finished: every read
    gets a byte, so no per-read timeout fires."""
    return server.trickle(every=0.25)


def never_answers(server: HostileServer) -> Handler:
    return server.hang()


def bounded(call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """``call()``'s result or error and how long it took; a test failure, not a hang,
    if it runs past ``HARD_LIMIT`` (the fixture's servers then let it go)."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # handed to the test thread as it is
            outcome["error"] = exc
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=run, daemon=True).start()
    if not done.wait(HARD_LIMIT):
        pytest.fail(f"the request was still running after {HARD_LIMIT:g}s: its {DEADLINE:g}s deadline did not hold")
    return outcome.get("result"), outcome.get("error"), time.monotonic() - started


def assert_went_through_proxy(servers: Servers, route: Route, url: str) -> None:
    assert servers.proxy is not None
    expected = route.first_line(url, servers.direct.sock.getsockname()[1])
    assert servers.proxy.requests, f"{route.variable} was ignored: the request went straight to {url}"
    assert expected in servers.proxy.requests[0] or servers.proxy.requests[0].startswith(expected)
    assert not servers.direct.requests


# -- sources ------------------------------------------------------------------------------


def poll(url: str) -> Callable[[], Any]:
    """A source's GET through the daemon's own client (``new_client``), as a poll makes it."""
    policy = HttpPolicy(total_timeout=DEADLINE, read_timeout=30.0, connect_timeout=30.0)

    def get() -> Any:
        with new_client(policy) as client:
            return PoliteHttp(client, policy).get(url)

    return get


def test_a_source_is_polled_through_the_proxy_the_environment_names(servers) -> None:
    url = servers.proxied(PLAIN, lambda _: HostileServer.respond(b"<rss>via the proxy</rss>"))
    fetched, error, _ = bounded(poll(url))
    assert_went_through_proxy(servers, PLAIN, url)
    assert error is None and fetched.content == b"<rss>via the proxy</rss>"


def test_a_host_in_no_proxy_is_polled_directly(servers) -> None:
    url = servers.proxied(PLAIN, drips, NO_PROXY="example.test,127.0.0.1")
    fetched, error, _ = bounded(poll(url))
    assert error is None and fetched.content == b"direct"
    assert servers.proxy is not None and not servers.proxy.requests


@pytest.mark.parametrize(
    ("route", "answer"),
    [(PLAIN, drips), (PLAIN, never_answers), (TUNNEL, drips), (SOCKS, never_answers)],
    ids=["http-proxy-drips", "http-proxy-silent", "connect-tunnel-drips", "socks-proxy-silent"],
)
def test_a_proxy_that_drips_or_stalls_ends_a_poll_at_its_deadline(servers, route, answer) -> None:
    url = servers.proxied(route, answer)
    _, error, took = bounded(poll(url))
    assert_went_through_proxy(servers, route, url)
    assert isinstance(error, TransportError) and "timed out" in str(error)
    assert took < DEADLINE + 3  # the deadline, not the 30 s read timeout


# -- alerts -------------------------------------------------------------------------------


def envelope() -> Envelope:
    return Envelope(
        key="ticket-1-opened-pr",
        sender="monitor@example.com",
        to=("pr-team@example.com",),
        subject="[紧急 urgent] #1 艾克美",
        text="孩子被艾克美保温杯烫伤了",
        html="<p>unused</p>",
        message_id="<abc@brand-monitor.local>",
        created_at=START,
    )


@pytest.mark.parametrize(("route", "answer"), [(PLAIN, drips), (TUNNEL, drips), (SOCKS, never_answers)], ids=["http-proxy", "connect-tunnel", "socks-proxy"])
def test_a_proxy_that_drips_or_stalls_ends_a_chat_send_at_its_limit(servers, route, answer, tmp_path, make_app, monkeypatch) -> None:
    """Through the daemon's own chat client: a send must end within ``SEND_LIMIT`` (the
    courier's claim is sized from it), a proxy's pace notwithstanding."""
    monkeypatch.setattr("alerts.chat.base.SEND_LIMIT", timedelta(seconds=DEADLINE))
    url = servers.proxied(route, answer, path="/hook")
    app = make_app(write_config(tmp_path))
    channel = WebhookChannel("oncall", url, app.chat_client, timeout=30.0)
    _, error, took = bounded(lambda: channel.send(envelope()))
    assert_went_through_proxy(servers, route, url)
    assert isinstance(error, DeliveryError) and error.retryable and "no answer in time" in str(error)
    assert took < DEADLINE + 3
