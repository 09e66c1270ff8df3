"""Alert mail through a real SMTP server (aiosmtpd on 127.0.0.1) and the .eml outbox."""

from __future__ import annotations

import html as htmllib
from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import select

from monitor.storage.models import EventRow, MessageRow
from tests.conftest import SmtpSink, free_port, mastodon_source, smtp_block, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
# what a user typed; Mastodon sends it entity-escaped inside its HTML, so after the
# source strips markup the post text really contains "<script>"
HOSTILE = '孩子被艾克美保温杯烫伤 <script>alert("x")</script> <img src=x onerror=alert(1)>'


def test_smtp_down_then_up_delivers_once_per_route(tmp_path, loopback, make_app, clock):
    port = free_port()  # nothing listens here yet: the SMTP server is "down"
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(port)))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")

    report = app.deliver()
    assert (report.sent, report.failed) == (0, 1)  # server down: one try, the rest wait for the next cycle
    with app.sessions() as s:
        rows = s.scalars(select(MessageRow).order_by(MessageRow.id)).all()
        assert {m.status for m in rows} == {"queued"}
        assert "refused" in rows[0].last_error.lower()
    clock.advance(seconds=5)
    assert app.deliver().failed == 1  # the second message gets its try

    assert app.deliver().sent == 0  # before the retry time nothing is attempted
    sink = SmtpSink(port)
    sink.start()
    try:
        clock.advance(minutes=2)
        assert app.deliver().sent == 2
        clock.advance(hours=1)
        assert app.deliver().sent == 0
        messages = sink.wait_for(2)
    finally:
        sink.stop()
    assert sorted(m["X-Envelope-To"] for m in messages) == ["ceo@example.com", "pr-team@example.com"]
    with app.sessions() as s:
        sent_events = s.scalars(select(EventRow).where(EventRow.kind == "message_sent")).all()
    assert len(sent_events) == 2


def test_alert_email_names_ticket_links_posts_and_escapes_post_text(tmp_path, loopback, make_app, smtp):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(smtp.port)))
    loopback.json(TIMELINE, [status("1", htmllib.escape(HOSTILE), reblogs=7, replies=2, favs=11)])
    app.poll("masto")
    assert app.deliver().sent == 2
    msg = next(m for m in smtp.wait_for(2) if "pr-team" in m["To"])
    subject = msg["Subject"]
    assert subject.startswith("[紧急 urgent] #1 艾克美: ")
    assert "\n" not in subject
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "#1" in body
        assert "http://127.0.0.1/@someone/1" in body
        assert "烫伤" in body  # why it fired
        assert "tickets ack 1" in body
    assert "转发 reposts 7" in text and "赞 likes 11" in text
    assert '<script>alert("x")</script>' in text  # plain text shows what was written
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html.split("<blockquote", 1)[1]
    assert msg["Message-ID"]


def test_without_email_settings_messages_are_written_as_eml_files(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美杯子被记者曝光")])
    app.poll("masto")
    assert app.deliver().sent == 2
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == ["ticket-1-opened-urgent-management.eml", "ticket-1-opened-urgent-pr.eml"]
    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "ceo@example.com"
    assert "#1" in msg["Subject"]
    assert not list((tmp_path / "outbox").glob("*.tmp"))


def test_reminder_for_unresolved_normal_ticket_after_48h(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    clock.advance(minutes=5)  # a normal ticket's group_wait
    app.dispatch()
    assert app.remind().reminders == 0
    clock.advance(hours=47)
    assert app.remind().reminders == 0
    clock.advance(hours=2)
    assert app.remind().reminders == 1
    assert app.remind().reminders == 0  # once
    clock.advance(minutes=5)
    app.dispatch()
    with app.sessions() as s:
        keys = sorted(m.key for m in s.scalars(select(MessageRow)))
    assert keys == ["ticket-1-opened-normal-pr", "ticket-1-reminder-normal-pr"]


def test_smtp_login_uses_the_password_from_the_environment(tmp_path, loopback, make_app, monkeypatch, caplog):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret-from-env")

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            seen.append(("data", envelope.rcpt_tos))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-from-env")
        block = smtp_block(port) + 'username = "monitor@example.com"\npassword_env = "TEST_SMTP_PASSWORD"\n'
        app = make_app(write_config(tmp_path, mastodon_source(loopback.base), block))
        loopback.json(TIMELINE, [status("1", "艾克美被记者曝光")])
        app.poll("masto")
        assert app.deliver().sent == 2
    finally:
        controller.stop()
    assert (b"monitor@example.com", b"s3cret-from-env") in seen
    assert "s3cret-from-env" not in caplog.text


def test_two_processes_delivering_from_one_database_send_each_message_once(tmp_path, loopback, make_app, clock):
    """`monitor run` and `monitor poll` (or two replicas) share one outbox."""
    import threading
    import time

    from monitor.delivery.outbox import Courier

    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    app.dispatch()

    sent: list[str] = []
    gate = threading.Barrier(2)

    class SlowChannel:
        def send(self, envelope):
            sent.append(envelope.key)
            time.sleep(0.2)  # a slow mail server, so both couriers are mid-round at once
            return "ok"

    couriers = [Courier(app.writer, SlowChannel(), "m@example.com", clock) for _ in range(2)]

    def run(courier):
        gate.wait(5)
        courier.deliver_due()

    threads = [threading.Thread(target=run, args=(c,)) for c in couriers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(sent) == ["ticket-1-opened-urgent-management", "ticket-1-opened-urgent-pr"]


def test_a_claim_left_by_a_dead_process_is_taken_again_after_its_lease(tmp_path, loopback, make_app, clock):
    from sqlalchemy import update

    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美漏水")])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:  # a process claimed it, then died before sending
        s.execute(update(MessageRow).values(status="sending", next_attempt_at=clock.now + timedelta(minutes=5)))
        s.commit()
    assert app.deliver().sent == 0
    clock.advance(minutes=6)
    assert app.deliver().sent == 1
