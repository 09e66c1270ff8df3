"""A claimed message is sent once: its claim (lease) outlasts the slowest send and the
longest wait to record it, and every send ends within ``SEND_LIMIT``.

Two couriers on one real database stand for two processes (``run`` and ``poll``, or
replicas), each with its own engine and write lock; mail goes to aiosmtpd on 127.0.0.1;
time is the injected clock."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts import SEND_LIMIT, DeliveryError, Envelope, SmtpChannel, SmtpSettings
from alerts.retry import MAX_RETRY
from monitor.delivery.courier import Courier, DeliveryReport
from monitor.storage.db import WRITE_PATIENCE, DatabaseBusy, Writer, make_engine, session_factory
from monitor.storage.models import EventRow, MessageRow
from tests.conftest import mastodon_source, smtp_block, status, wait_until, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
SENDER = "Brand monitor <monitor@example.com>"


def queued_app(tmp_path, make_app, loopback, port: int):
    """An app with one message queued (a normal ticket: the pr route alone is told)."""
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(port)))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:
        assert [m.status for m in s.scalars(select(MessageRow))] == ["queued"]
    return app


def test_a_message_is_not_sent_again_while_its_sender_is_still_recording_it(tmp_path, make_app, loopback, clock, smtp):
    app = queued_app(tmp_path, make_app, loopback, smtp.port)
    other_engine = make_engine(app.engine.url.render_as_string(hide_password=False))  # another process
    mail = SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, starttls=False, timeout=5))
    other = Courier(Writer(session_factory(other_engine)), mail, SENDER, clock)
    meanwhile: list[DeliveryReport] = []

    class Slowest:
        """The server takes the mail; then the send has taken as long as any may, and the
        write that records it waits as long as the database lets a writer wait, while
        the other process looks for due messages."""

        def send(self, envelope: Envelope):
            receipt = mail.send(envelope)
            clock.advance(seconds=(SEND_LIMIT + WRITE_PATIENCE).total_seconds())
            meanwhile.append(other.deliver_due())
            return receipt

    try:
        assert Courier(app.writer, Slowest(), SENDER, clock).deliver_due().sent == 1
        assert meanwhile == [DeliveryReport()]  # still claimed: the other process left it alone
        clock.advance(hours=1)
        assert other.deliver_due() == DeliveryReport()
    finally:
        other_engine.dispose()
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["pr-team@example.com"]  # one mail in the inbox
    with app.sessions() as s:
        assert len(s.scalars(select(EventRow).where(EventRow.kind == "message_sent")).all()) == 1


@pytest.mark.skipif(bool(os.environ.get("MONITOR_TEST_DATABASE_URL")), reason="SQLite's write lock: PostgreSQL claims skip locked rows")
def test_a_claim_that_waited_for_the_write_lock_holds_for_its_whole_lease(tmp_path, make_app, loopback, clock, caplog):
    app = queued_app(tmp_path, make_app, loopback, 9)  # nothing listens on port 9: the probe below sends
    leases: list[datetime] = []

    class Probe:
        """Reads the claim as another process would see it, mid-send."""

        def send(self, envelope: Envelope) -> str:
            with app.read_sessions() as s:
                leases.append(s.scalar(select(MessageRow.next_attempt_at).where(MessageRow.key == envelope.key)))
            return "ok"

    courier = Courier(app.writer, Probe(), SENDER, clock)
    caplog.set_level(logging.WARNING, "monitor.db")
    other_process = sqlite3.connect(app.engine.url.database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # another process writing, for minutes
    worker = threading.Thread(target=courier.deliver_due)
    try:
        worker.start()
        wait_until(lambda: "database busy" in caplog.text)
        clock.advance(minutes=7)
        taken_at = clock()
    finally:
        other_process.rollback()
        other_process.close()
        worker.join(15)
    assert not worker.is_alive()
    assert [_utc(lease) for lease in leases] == [_utc(taken_at + Courier.LEASE)]  # counted from the claim, not from before the wait


def _utc(when: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; they were stored in UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _send_expecting_cut_off(port: int, *, starttls: bool, limit: float, finish) -> DeliveryError:
    """Send one mail to the loopback server on ``port`` with the conversation limited to
    ``limit`` seconds; the send must fail. ``finish`` stops and joins the server after."""
    channel = SmtpChannel(SmtpSettings("127.0.0.1", port, starttls=starttls, timeout=5, limit=limit))
    envelope = Envelope("k", SENDER, ("pr@example.com",), "subject", "text", "<p>html</p>", "<id@test>", datetime(2026, 1, 1, tzinfo=UTC))
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(envelope)
    finally:
        finish()
    return caught.value


def test_an_smtp_reply_that_never_ends_is_cut_off_and_retried_later():
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def hostile() -> None:
        """Greets, then answers EHLO with ``250-`` lines, each well within the socket
        timeout: only a limit on the whole conversation ends it. For 20 s at most, then it
        hangs up: without the limit the test fails (not "cut off") instead of hanging."""
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"220 hostile.test ESMTP\r\n")
            conn.recv(1024)
            try:
                for _ in range(4000):
                    if stop.wait(0.005):
                        break
                    conn.sendall(b"250-still thinking\r\n")
            except OSError:
                pass  # the client cut it off

    server = threading.Thread(target=hostile, daemon=True)
    server.start()

    def finish() -> None:
        stop.set()
        server.join(5)
        listener.close()

    error = _send_expecting_cut_off(listener.getsockname()[1], starttls=False, limit=0.5, finish=finish)
    assert error.retryable
    assert "took over 0.5s; cut off" in str(error)


@pytest.mark.skipif(bool(os.environ.get("MONITOR_TEST_DATABASE_URL")), reason="SQLite's write lock")
def test_a_mail_sent_but_not_recorded_says_so_once_in_the_log(tmp_path, make_app, loopback, clock, smtp, caplog):
    """The database refuses the write that records a mail the server took (another
    process held its write lock past the writer's patience): the operator is told the
    mail went and may go again, instead of only a database error."""
    app = queued_app(tmp_path, make_app, loopback, smtp.port)
    impatient = make_engine(app.engine.url.render_as_string(hide_password=False), write_patience=timedelta(seconds=1))
    mail = SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, starttls=False, timeout=5))
    other_process = sqlite3.connect(app.engine.url.database, isolation_level=None)

    class ThenBusy:
        def send(self, envelope: Envelope):
            receipt = mail.send(envelope)
            other_process.execute("BEGIN IMMEDIATE")  # and holds it past our patience
            return receipt

    courier = Courier(Writer(session_factory(impatient)), ThenBusy(), SENDER, clock)
    try:
        with pytest.raises(DatabaseBusy):
            courier.deliver_due()
    finally:
        other_process.rollback()
        other_process.close()
        impatient.dispose()
    assert len(smtp.messages) == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "monitor.outbox" and r.levelno == logging.ERROR]
    assert line.startswith("alert sent but not recorded: ticket #1 route pr via email (smtp 127.0.0.1: accepted)")
    assert "sent again after" in line


@pytest.mark.skipif(bool(os.environ.get("MONITOR_TEST_DATABASE_URL")), reason="SQLite's write lock")
def test_a_mail_recorded_as_sent_is_never_said_to_be_unrecorded(tmp_path, make_app, loopback, clock, smtp, caplog):
    """Another process takes the write lock the moment the courier has recorded a mail as
    sent, and holds it past the courier's patience. The record is made: the operator must
    not read "sent but not recorded … will be sent again", and the round must not fail
    (the first-alert latency is a read, which waits for no writer)."""
    from sqlalchemy import event

    app = queued_app(tmp_path, make_app, loopback, smtp.port)
    impatient = make_engine(app.engine.url.render_as_string(hide_password=False), write_patience=timedelta(seconds=1))
    sessions = session_factory(impatient)
    mail = SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, starttls=False, timeout=5))
    other_process = sqlite3.connect(app.engine.url.database, isolation_level=None)
    armed: list[bool] = []

    class ThenArm:
        def send(self, envelope: Envelope):
            receipt = mail.send(envelope)
            armed.append(True)  # the next commit is the one that records it
            return receipt

    def take_the_lock(_session: object) -> None:
        if armed:
            armed.clear()
            other_process.execute("BEGIN IMMEDIATE")

    event.listen(sessions, "after_commit", take_the_lock)
    latencies: list[float] = []
    courier = Courier(Writer(sessions), ThenArm(), SENDER, clock, on_first_alert=latencies.append)
    try:
        report = courier.deliver_due()
    finally:
        other_process.rollback()
        other_process.close()
        impatient.dispose()
    assert report.sent == 1 and len(latencies) == 1
    assert "not recorded" not in caplog.text
    with app.sessions() as s:
        assert [m.status for m in s.scalars(select(MessageRow))] == ["sent"]
    clock.advance(hours=1)
    assert Courier(app.writer, mail, SENDER, clock).deliver_due() == DeliveryReport()
    assert len(smtp.messages) == 1


def _self_signed(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made with the openssl tool (no Python
    package for it is a dependency); the test is skipped where the tool is missing."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl tool to make a certificate")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "30",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_an_smtp_conversation_whose_time_runs_out_during_starttls_is_still_cut_off(tmp_path, monkeypatch):
    """The limit passes while the client waits for the TLS handshake after STARTTLS (a
    slow server). The client's socket then is the plain one the TLS socket took over, so
    cutting it did nothing; the conversation must still end there, not run on over TLS
    for as long as the server likes."""
    import ssl

    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the channel trusts the system's store: this is it now
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    heard: list[bytes] = []

    def slow_tls() -> None:
        conn, _ = listener.accept()
        with conn:
            reader = conn.makefile("rb")
            conn.sendall(b"220 slow.test ESMTP\r\n")
            reader.readline()  # EHLO
            conn.sendall(b"250-slow.test\r\n250 STARTTLS\r\n")
            reader.readline()  # STARTTLS
            conn.sendall(b"220 go ahead\r\n")
            # begin the handshake only once the client's time is up (its timer has fired)
            wait_until(lambda: not any(isinstance(t, threading.Timer) for t in threading.enumerate()))
            try:
                tls = server_tls.wrap_socket(conn, server_side=True)
                reader = tls.makefile("rb")
                replies = {b"EHLO": b"250 slow.test\r\n", b"MAIL": b"250 ok\r\n", b"RCPT": b"250 ok\r\n", b"DATA": b"354 go on\r\n", b"QUIT": b"221 bye\r\n"}
                while line := reader.readline():
                    heard.append(line[:4].upper())
                    tls.sendall(replies.get(line[:4].upper(), b"250 queued\r\n" if line == b".\r\n" else b""))
            except OSError:
                pass  # the client cut it off

    server = threading.Thread(target=slow_tls, daemon=True)
    server.start()

    def finish() -> None:
        server.join(15)
        listener.close()

    error = _send_expecting_cut_off(listener.getsockname()[1], starttls=True, limit=0.2, finish=finish)
    assert error.retryable and "cut off" in str(error)
    assert b"DATA" not in heard  # no mail was handed over after the time was up


@pytest.mark.parametrize("asked", [float("inf"), 1e300, float("nan"), -30.0])
def test_a_channels_wait_out_of_all_measure_still_leaves_the_message_queued_within_our_cap(tmp_path, make_app, loopback, clock, asked):
    """A channel (a plugin's, say) passes on a receiver's wait unchecked: infinite, past
    what a date can hold, not a number, negative. The message must be queued for a retry
    no later than our own cap, not left claimed while the round fails on the arithmetic."""
    app = queued_app(tmp_path, make_app, loopback, 9)

    class Throttled:
        def send(self, envelope: Envelope) -> str:
            raise DeliveryError("throttled", retryable=True, retry_after=asked)

    assert Courier(app.writer, Throttled(), SENDER, clock).deliver_due().failed == 1
    with app.sessions() as s:
        [message] = s.scalars(select(MessageRow)).all()
    assert message.status == "queued"
    assert clock() < _utc(message.next_attempt_at) <= clock() + MAX_RETRY
