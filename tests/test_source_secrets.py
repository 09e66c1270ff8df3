"""A source's secrets (API tokens, cookies, an RSSHub access key) come from the environment,
reach the platform, and never show: not in post links, `monitor sources`, or the log."""

from __future__ import annotations

import json
import logging
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner

from monitor.cli.commands import cli
from tests.conftest import START, serve, shut, write_config

TOKEN, KEY = "tok-3f9a0c1e-secret", "rsshub-key-77e1"


def feed_server(status: int = 200):
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"auth": self.headers.get("Authorization"), "query": parse_qs(urlsplit(self.path).query)})
            body = (
                '<rss version="2.0"><channel><title>t</title><item><title>艾克美保温杯被记者曝光</title>'
                f"<guid isPermaLink=\"false\">a1</guid><link>/news/1.html</link><pubDate>{format_datetime(START)}</pubDate></item></channel></rss>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return serve(Handler), seen


def log_as_the_daemon_does(caplog) -> None:
    """Everything of ours down to DEBUG (`monitor -vv`); httpx and httpcore, which print
    whole request URLs, at WARNING as monitor.cli sets them below -vvv."""
    for name in ("monitor", "sources"):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=name)


def config_with_secrets(tmp_path, base: str) -> Any:
    return write_config(
        tmp_path,
        f'\n[[sources]]\nname = "hub"\nkind = "rss"\nurl = "{base}/weibo/keyword/acme?limit=5"\nevery = "1m"\n'
        'headers_env = { Authorization = "ACME_TOKEN" }\nparams_env = { key = "RSSHUB_KEY" }\n',
    )


def test_secrets_reach_the_platform_and_never_show(tmp_path, make_app, monkeypatch, caplog):
    import threading

    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    monkeypatch.setenv("RSSHUB_KEY", KEY)
    server, seen = feed_server()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config = config_with_secrets(tmp_path, base)
        app = make_app(config)
        log_as_the_daemon_does(caplog)
        app.poll("hub")
        assert seen[0]["auth"] == TOKEN and seen[0]["query"] == {"limit": ["5"], "key": [KEY]}
        with app.sessions() as s:
            from sqlalchemy import select

            from monitor.storage.models import PostRow

            [post] = s.scalars(select(PostRow)).all()
        assert post.url == f"{base}/news/1.html"
        assert KEY not in post.platform_id and KEY not in post.url
        shown = CliRunner().invoke(cli, ["-c", str(config), "sources", "--json"]).output
        tickets = CliRunner().invoke(cli, ["-c", str(config), "tickets", "list", "--json"]).output
        assert json.loads(tickets)
        for secret in (TOKEN, KEY):
            assert secret not in shown, shown
            assert secret not in tickets, tickets
            assert secret not in caplog.text, caplog.text
    finally:
        shut(server, threading.Event())


def test_a_failing_source_logs_its_address_without_the_secrets(tmp_path, make_app, monkeypatch, caplog):
    import threading

    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    monkeypatch.setenv("RSSHUB_KEY", KEY)
    server, _ = feed_server(status=503)
    try:
        app = make_app(config_with_secrets(tmp_path, f"http://127.0.0.1:{server.server_address[1]}"))
        log_as_the_daemon_does(caplog)
        app.poll("hub")
        assert "HTTP 503" in app.health["hub"].last_error
        assert KEY not in app.health["hub"].last_error and KEY not in caplog.text and TOKEN not in caplog.text
    finally:
        shut(server, threading.Event())


def test_check_names_a_secret_that_is_missing_or_written_into_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    monkeypatch.setenv("RSSHUB_KEY", KEY)
    config = config_with_secrets(tmp_path, "http://127.0.0.1:9")
    out = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert out.exit_code == 2 and "sources[0].headers_env.Authorization: environment variable ACME_TOKEN is not set" in out.output

    config.write_text(config.read_text().replace('"ACME_TOKEN"', '"Bearer abc.def"'))
    out = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert out.exit_code == 2 and "sources[0].headers_env.Authorization: must name an environment variable" in out.output
    assert "abc.def" not in out.output


def test_secrets_follow_a_redirect_within_their_origin_and_never_to_another_host(monkeypatch):
    import httpx
    import pytest

    from sources import PoliteHttp, ResponseError, new_client

    seen: list[tuple[str, str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url.copy_remove_param("key")), request.headers.get("X-Api-Key"), request.url.params.get("key")))
        if request.url.path == "/moved":
            return httpx.Response(301, headers={"Location": "/feed"})
        if request.url.path == "/away":
            return httpx.Response(302, headers={"Location": "https://elsewhere.test/feed"})
        return httpx.Response(200, content=b"ok")

    import respx

    with respx.mock(assert_all_called=False) as router, new_client() as client:
        router.route().mock(side_effect=handler)
        http = PoliteHttp(client).with_secrets({"X-Api-Key": TOKEN, "Cookie": "SUB=abc"}, {"key": KEY})
        assert http.get("https://hub.test/moved").content == b"ok"
        assert seen == [("https://hub.test/moved", TOKEN, KEY), ("https://hub.test/feed", TOKEN, KEY)]
        seen.clear()
        with pytest.raises(ResponseError) as info:
            http.get("https://hub.test/away")
        assert "elsewhere.test" in str(info.value) and TOKEN not in str(info.value) and KEY not in str(info.value)
        assert [url for url, _, _ in seen] == ["https://hub.test/away"]  # never asked elsewhere.test


def test_a_secret_with_a_line_break_is_refused_by_check_without_showing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", "Bearer abc\ndef")
    monkeypatch.setenv("RSSHUB_KEY", KEY)
    out = CliRunner().invoke(cli, ["-c", str(config_with_secrets(tmp_path, "http://127.0.0.1:9")), "check"])
    assert out.exit_code == 2 and "ACME_TOKEN holds a line break" in out.output and "abc" not in out.output


def test_max_retry_after_holds_for_a_source_with_secrets(tmp_path, make_app, clock, monkeypatch, loopback):
    from tests.conftest import mastodon_source

    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    config = write_config(tmp_path, mastodon_source(loopback.base) + 'headers_env = { Authorization = "ACME_TOKEN" }\n')
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nmax_retry_after = "10m"'))
    app = make_app(config)
    loopback.routes["/api/v1/timelines/tag/acme"] = (429, {"Retry-After": "86400"}, b"slow down")
    app.poll("masto")
    clock.advance(minutes=11)
    loopback.json("/api/v1/timelines/tag/acme", [])
    app.poll("masto")
    assert loopback.hits["/api/v1/timelines/tag/acme"] == 2 and app.health["masto"].failures == 0
