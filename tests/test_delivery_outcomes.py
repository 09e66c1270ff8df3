"""What a mail server answers decides what the courier does (issue 14, items 8 and 9),
against a real SMTP server on 127.0.0.1 (aiosmtpd) that answers as told:

- accepted (DATA answered 250): sent, once, whatever QUIT or the connection does after;
- accepted for some recipients: sent to them; each refused recipient gets a row of its
  own, retried alone on the usual schedule (4xx) or recorded as refused for good (5xx);
- temporary (4xx, a broken connection): retried;
- permanent (5xx to DATA or to every recipient): not retried, an event on the ticket's
  timeline and a line in ``monitor delivery``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli.commands import cli
from monitor.storage.models import EventRow, MessageRow
from tests.conftest import BASE_CONFIG, free_port, mastodon_source, smtp_block, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
URGENT = "孩子被艾克美保温杯烫伤了"  # urgent: the pr route and the management route are told


class Server:
    """aiosmtpd that refuses the recipients in ``rcpt`` with the given reply, answers DATA
    with ``data`` and QUIT with ``quit`` (``"reset"``: the connection is torn down instead)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.rcpt: dict[str, str] = {}
        self.data = "250 OK"
        self.quit = "221 Bye"
        self.delivered: list[tuple[list[str], EmailMessage]] = []
        self.asked: Counter[str] = Counter()
        self.lock = threading.Lock()
        srv = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
                with srv.lock:
                    srv.asked[address] += 1
                    reply = srv.rcpt.get(address)
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with srv.lock:
                    reply = srv.data
                    if reply.startswith("250"):
                        msg = message_from_bytes(envelope.content, policy=policy.default)
                        srv.delivered.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
                return reply

            async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
                if srv.quit == "reset":  # RST instead of an answer: the client's read fails
                    sock = server.transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    server.transport.abort()
                return srv.quit if srv.quit != "reset" else "221 Bye"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def received_by(self) -> Counter[str]:
        with self.lock:
            return Counter(addr for rcpt, _msg in self.delivered for addr in rcpt)


@pytest.fixture
def server():
    srv = Server()
    srv.controller.start()
    yield srv
    srv.controller.stop()


def app_with(tmp_path: Path, make_app, loopback, server: Server, pr: list[str] | None = None):
    base = BASE_CONFIG
    if pr is not None:
        base = base.replace('to = ["pr-team@example.com"]', f"to = {json.dumps(pr)}")
        assert base != BASE_CONFIG
    path = write_config(tmp_path, mastodon_source(loopback.base), smtp_block(server.port), base=base)
    loopback.json(TIMELINE, [status("1", URGENT)])
    app = make_app(path)
    app.poll("masto")
    return app, path


def rows(app) -> dict[str, MessageRow]:
    with app.sessions() as s:
        return {m.key: m for m in s.scalars(select(MessageRow))}


def events(app, kind: str) -> list[str]:
    with app.sessions() as s:
        return [e.detail for e in s.scalars(select(EventRow).where(EventRow.kind == kind).order_by(EventRow.id))]


def delivery_json(path: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["-c", str(path), "delivery", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- item 8: one recipient refused, the others accepted ---------------------------------


def test_a_recipient_refused_for_now_is_retried_alone_and_one_refused_for_good_is_recorded(tmp_path, make_app, loopback, server, clock):
    team = ["pr-team@example.com", "greylisted@example.com", "gone@example.com"]
    server.rcpt = {"greylisted@example.com": "451 4.7.1 Greylisted, try again later", "gone@example.com": "550 5.1.1 No such user"}
    app, path = app_with(tmp_path, make_app, loopback, server, pr=team)

    report = app.deliver()
    assert (report.sent, report.failed) == (2, 0)  # pr (to the one it took) and management
    assert server.received_by() == Counter({"pr-team@example.com": 1, "ceo@example.com": 1})
    messages = rows(app)
    pr_key = "ticket-1-opened-urgent-pr"
    assert messages[pr_key].status == "sent"
    later = messages[f"{pr_key}:rcpt:greylisted@example.com"]
    assert (later.status, later.recipients, later.attempts) == ("queued", ["greylisted@example.com"], 1)
    assert "451" in later.last_error
    assert messages[f"{pr_key}:rcpt:gone@example.com"].status == "failed"
    assert any("greylisted@example.com" in e and "retrying" in e for e in events(app, "message_failed"))
    assert any("gone@example.com" in e and "550" in e for e in events(app, "message_rejected"))

    clock.advance(seconds=10)
    assert app.deliver().sent == 0  # the retry schedule: the first retry comes after 30s
    server.rcpt.pop("greylisted@example.com")  # the greylist lets us through now
    clock.advance(seconds=30)
    assert app.deliver().sent == 1
    clock.advance(hours=2)
    assert app.deliver().sent == 0
    # each got it once; the one refused for good was never asked again
    assert server.received_by() == Counter({"pr-team@example.com": 1, "ceo@example.com": 1, "greylisted@example.com": 1})
    assert server.asked["gone@example.com"] == 1
    rcpt, late = server.delivered[-1]
    assert rcpt == ["greylisted@example.com"]
    first = next(m for r, m in server.delivered if r == ["pr-team@example.com"])
    assert late["Message-ID"] == first["Message-ID"]  # the same message, late, not a new one
    assert late["To"] == first["To"] == ", ".join(team)  # and it shows whom else it went to

    health = {h["route"]: h for h in delivery_json(path)}
    assert health["management"]["state"] == "ok"
    pr = health["pr"]
    assert (pr["state"], pr["sent"], pr["rejected"], pr["retrying"]) == ("rejected", 2, 1, 0)
    [problem] = pr["problems"]
    assert problem["recipients"] == ["gone@example.com"] and problem["tickets"] == [1] and "550" in problem["error"]
    assert problem["status"] == "rejected" and problem["next_attempt"] is None


def test_no_recipient_accepted_temporary_ones_retry_and_permanent_ones_leave(tmp_path, make_app, loopback, server, clock):
    server.rcpt = {"greylisted@example.com": "451 4.7.1 Greylisted", "gone@example.com": "550 5.1.1 No such user"}
    app, _path = app_with(tmp_path, make_app, loopback, server, pr=["greylisted@example.com", "gone@example.com"])
    report = app.deliver()
    assert (report.sent, report.failed, report.rejected) == (1, 1, 0)
    messages = rows(app)
    assert messages["ticket-1-opened-urgent-pr"].status == "queued"
    assert messages["ticket-1-opened-urgent-pr:rcpt:gone@example.com"].status == "failed"
    server.rcpt.clear()
    clock.advance(seconds=31)
    assert app.deliver().sent == 1
    assert server.received_by() == Counter({"ceo@example.com": 1, "greylisted@example.com": 1})
    assert server.asked["gone@example.com"] == 1


# -- item 9: accepted means sent; permanent means stop ----------------------------------


@pytest.mark.parametrize("quit_reply", ["421 4.3.2 Shutting down", "reset"])
def test_a_message_the_server_accepted_is_not_sent_again_when_quit_fails(tmp_path, make_app, loopback, server, clock, quit_reply):
    server.quit = quit_reply
    app, _path = app_with(tmp_path, make_app, loopback, server)
    assert app.deliver().sent == 2
    for _ in range(3):
        clock.advance(minutes=31)
        assert app.deliver().sent == 0
    assert server.received_by() == Counter({"pr-team@example.com": 1, "ceo@example.com": 1})
    assert {m.status for m in rows(app).values()} == {"sent"}
    assert events(app, "message_failed") == []


def test_every_recipient_refused_for_good_is_not_retried_and_shows_on_timeline_and_in_delivery(tmp_path, make_app, loopback, server, clock):
    server.rcpt = {"pr-team@example.com": "550 5.1.1 No such user", "ceo@example.com": "553 5.1.3 Bad address"}
    app, path = app_with(tmp_path, make_app, loopback, server)
    report = app.deliver()
    assert (report.sent, report.failed, report.rejected) == (0, 0, 2)
    for _ in range(3):
        clock.advance(minutes=31)
        assert app.deliver() == type(report)()  # nothing attempted again
    assert server.asked == Counter({"pr-team@example.com": 1, "ceo@example.com": 1})
    assert {m.status for m in rows(app).values()} == {"failed"}
    rejected = events(app, "message_rejected")
    assert len(rejected) == 2 and any("550" in e and "pr-team@example.com" in e for e in rejected)

    health = delivery_json(path)
    assert [(h["route"], h["state"], h["rejected"]) for h in health] == [("management", "rejected", 1), ("pr", "rejected", 1)]
    text = CliRunner().invoke(cli, ["-c", str(path), "delivery"])
    assert text.exit_code == 0, text.output
    assert "rejected" in text.stdout and "被拒收" in text.stdout and "#1" in text.stdout and "553" in text.stdout

    shown = CliRunner().invoke(cli, ["-c", str(path), "tickets", "show", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert "message_rejected" in shown.stdout


@pytest.mark.parametrize(("data_reply", "retried"), [("554 5.7.1 Message rejected as spam", False), ("451 4.3.0 Try again later", True)])
def test_data_refused_permanent_stops_temporary_retries(tmp_path, make_app, loopback, server, clock, data_reply, retried):
    server.data = data_reply
    app, _path = app_with(tmp_path, make_app, loopback, server)
    report = app.deliver()
    # a 4xx to DATA may be the server's trouble: the channel's other message waits for the next round
    assert report.sent == 0 and (report.rejected, report.failed) == ((0, 1) if retried else (2, 0))
    server.data = "250 OK"
    clock.advance(minutes=1)
    assert app.deliver().sent == (2 if retried else 0)
    assert len(server.delivered) == (2 if retried else 0)
    status_wanted = "sent" if retried else "failed"
    assert {m.status for m in rows(app).values()} == {status_wanted}


def test_delivery_with_no_messages_says_so(tmp_path, make_app, loopback, server):
    path = write_config(tmp_path, mastodon_source(loopback.base), smtp_block(server.port))
    result = CliRunner().invoke(cli, ["-c", str(path), "delivery"])
    assert result.exit_code == 0, result.output
    assert "no messages yet" in result.stdout
    assert delivery_json(path) == []


# -- secrets ----------------------------------------------------------------------------


def test_an_smtp_password_the_mail_library_cannot_send_is_named_never_quoted():
    """smtplib sends a password only as ASCII; any other character raised
    UnicodeEncodeError, which quoted that character and its position, and the courier
    wrote that onto the ticket's timeline and into the log."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from alerts import DeliveryError, Envelope, SmtpChannel, SmtpSettings

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    port = free_port()
    controller = Controller(Accept(), hostname="127.0.0.1", port=port, auth_require_tls=False, authenticator=lambda *_: AuthResult(success=True))
    controller.start()
    password = "s3cret-pässwort"
    channel = SmtpChannel(SmtpSettings("127.0.0.1", port, starttls=False, username="monitor", password=password, timeout=5))
    envelope = Envelope("k", "m@example.com", ("pr@example.com",), "s", "t", "<p>t</p>", "<id@test>", datetime(2026, 1, 1, tzinfo=UTC))
    try:
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope)
    finally:
        controller.stop()
    text = str(info.value)
    assert info.value.retryable and "password" in text and "not shown" in text
    assert "ä" not in text and "\\xe4" not in text and "position" not in text
