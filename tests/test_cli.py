"""The ``monitor`` command's own plumbing: what it logs."""

from __future__ import annotations

import logging


def test_debug_logs_of_http_requests_never_show_a_credential_in_an_address(caplog):
    """At ``-vvv`` httpx logs each request's address, and chat webhooks and bots carry their
    credential in it: only the origin is logged."""
    import httpx

    from monitor.cli.commands import _setup_logging

    names = ("httpx", "httpcore", "alembic", "apscheduler")
    levels = {name: logging.getLogger(name).level for name in names}
    _setup_logging(3)
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with caplog.at_level(logging.DEBUG, logger="httpx"), httpx.Client(transport=transport) as client:
        client.post("https://api.telegram.org/bot123456:AAE-secret-token/sendMessage")
        client.post("https://oapi.dingtalk.com/robot/send?access_token=deadbeefsecret")
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logged = caplog.text
    assert "HTTP Request: POST https://api.telegram.org/…" in logged and "https://oapi.dingtalk.com/…" in logged
    assert "secret" not in logged and "123456" not in logged
