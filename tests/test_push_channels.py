"""Phone push receivers (Bark, ntfy, Telegram) against a real HTTP server on 127.0.0.1:
the exact request each sends, a retry after a throttle, a permanent failure, no secret in
any error or log line, and an urgent ticket reaching the phones while email is down."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from email.header import decode_header, make_header

import httpx
import pytest
from conftest import BASE_CONFIG, START, Phone, free_port, mastodon_source, smtp_block, status, write_config
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from alerts import Brief, DeliveryError, Envelope, Rejected, Severity
from alerts.chat import BarkChannel, NtfyChannel, TelegramChannel, make_chat_channel
from alerts.chat.ntfy import encode_header
from alerts.chat.telegram import cut_utf16
from monitor.delivery.links import LinkSigner
from monitor.storage.models import EventRow, MessageRow

DEVICE_KEY = "ynJ5Ft4atkMkWeo2PAvFhF"
BOT_TOKEN = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
NTFY_TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
TOPIC = "acme-crisis-7f3k2q9d"
LINK = "https://monitor.example.com/l/eyJ0IjoxfQ.c2ln"
SUBJECT = "[紧急 urgent] #1 艾克美: 保温杯烫伤"
TEXT = "新工单 new ticket · 工单 ticket #1\n孩子被艾克美保温杯烫伤了\n一键确认 acknowledge:  " + LINK
SECRETS = (DEVICE_KEY, BOT_TOKEN, NTFY_TOKEN, TOPIC)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2, trust_env=False) as c:
        yield c


def envelope(severity: Severity | None = Severity.urgent, link: str = LINK) -> Envelope:
    return Envelope(
        key="ticket-1-opened-management", sender="monitor@example.com", to=(), subject=SUBJECT, text=TEXT, html="<p>unused</p>",
        message_id="<abc@brand-monitor.local>", created_at=START, brief=Brief(severity, (1,), ("艾克美",), link) if severity else None,
    )


def bark(phone: Phone, client: httpx.Client, **options: str) -> BarkChannel:
    phone.answer(200, {"code": 200, "message": "success", "timestamp": 1764000000})
    return BarkChannel("ceo-iphone", phone.base, client, secret=DEVICE_KEY, options=options)


def ntfy(phone: Phone, client: httpx.Client, token: str | None = NTFY_TOKEN) -> NtfyChannel:
    phone.answer(200, {"id": "sPs71M8A2T", "time": 1764000000, "event": "message", "topic": TOPIC})
    return NtfyChannel("oncall-ntfy", f"{phone.base}/{TOPIC}", client, secret=token)


def telegram(phone: Phone, client: httpx.Client) -> TelegramChannel:
    phone.answer(200, {"ok": True, "result": {"message_id": 7, "chat": {"id": -1001234567890, "type": "supergroup"}, "date": 1764000000}})
    return TelegramChannel("pr-telegram", phone.base, client, secret=BOT_TOKEN, options={"chat_id": "-1001234567890"})


def hidden(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# -- the exact request -------------------------------------------------------------------


def test_bark_posts_json_to_push_with_the_device_key_in_the_body_never_the_url(phone, client):
    assert bark(phone, client, group="艾克美舆情").send(envelope()) == "bark ceo-iphone: accepted"
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", "/push")
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.json() == {"device_key": DEVICE_KEY, "title": SUBJECT, "body": TEXT, "level": "critical", "group": "艾克美舆情", "url": LINK}


@pytest.mark.parametrize(("severity", "level"), [(Severity.urgent, "critical"), (Severity.important, "timeSensitive"), (Severity.normal, "active"), (None, "passive")])
def test_bark_level_follows_severity_and_group_defaults_to_monitor(phone, client, severity, level):
    bark(phone, client).send(envelope(severity))
    body = phone.seen[0].json()
    assert body["level"] == level and body["group"] == "monitor"
    assert ("url" in body) is (severity is not None)  # a digest has no ticket to open


def test_bark_server_defaults_to_the_public_one(client):
    assert BarkChannel("x", "", client, secret=DEVICE_KEY).target() == "https://api.day.app/push"
    with pytest.raises(ValueError, match="device key is missing"):
        BarkChannel("x", "", client)


def test_ntfy_posts_the_text_with_title_priority_click_and_token_headers(phone, client):
    assert ntfy(phone, client).send(envelope()) == "ntfy oncall-ntfy: accepted"
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", f"/{TOPIC}")
    assert req.body == TEXT.encode("utf-8")
    assert req.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert str(make_header(decode_header(req.headers["Title"]))) == SUBJECT  # RFC 2047, as ntfy decodes it
    assert req.headers["Priority"] == "5" and req.headers["Tags"] == "rotating_light"
    assert req.headers["Click"] == LINK
    assert req.headers["Authorization"] == f"Bearer {NTFY_TOKEN}"


@pytest.mark.parametrize(("severity", "priority"), [(Severity.urgent, "5"), (Severity.important, "4"), (Severity.normal, "3"), (None, "2")])
def test_ntfy_priority_follows_severity_and_a_public_topic_sends_no_token(phone, client, severity, priority):
    ntfy(phone, client, token=None).send(envelope(severity))
    headers = phone.seen[0].headers
    assert headers["Priority"] == priority and "Authorization" not in headers
    assert ("Click" in headers) is (severity is not None)


def test_ntfy_title_encoding_round_trips_and_keeps_ascii_as_it_is():
    assert encode_header("[urgent] #1 Acme") == "[urgent] #1 Acme"
    title = "[紧急 urgent] #12 艾克美: " + "保温杯烫伤" * 20
    encoded = encode_header(title)
    assert encoded.isascii() and all(len(word) <= 75 for word in encoded.split(" "))
    assert str(make_header(decode_header(encoded))) == title


def test_telegram_posts_send_message_as_plain_text_with_an_acknowledge_button(phone, client):
    assert telegram(phone, client).send(envelope()) == "telegram pr-telegram: accepted"
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", f"/bot{BOT_TOKEN}/sendMessage")
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.json() == {
        "chat_id": "-1001234567890",
        "text": f"{SUBJECT}\n\n{TEXT}",
        "link_preview_options": {"is_disabled": True},
        "reply_markup": {"inline_keyboard": [[{"text": "确认 Acknowledge", "url": LINK}]]},
    }


def test_telegram_puts_no_button_for_an_http_link_and_defaults_to_the_public_api(phone, client):
    telegram(phone, client).send(envelope(link="http://127.0.0.1:8080/l/abc.def"))
    assert "reply_markup" not in phone.seen[0].json()  # the link is still in the text
    channel = TelegramChannel("x", "", client, secret=BOT_TOKEN, options={"chat_id": "@acme_alerts"})
    assert channel.target() == f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
    assert "api.telegram.org" in repr(channel) and BOT_TOKEN not in repr(channel)
    with pytest.raises(ValueError, match="chat_id is missing"):
        TelegramChannel("x", "", client, secret=BOT_TOKEN)


def test_telegram_text_is_cut_to_4096_utf16_units_without_splitting_a_pair():
    assert cut_utf16("短" * 10) == "短" * 10
    cut = cut_utf16("😀" * 3000)  # 2 units each
    assert len(cut.encode("utf-16-le")) // 2 <= 4096 and cut.endswith("…") and "\ud83d" not in cut


# -- throttles retry, refusals are permanent, secrets stay hidden ---------------------------


def test_telegram_429_is_retried_after_the_wait_it_asks_for_capped(phone, client):
    channel = telegram(phone, client)
    phone.answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35", "parameters": {"retry_after": 35}}, once=True)
    phone.answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 86400", "parameters": {"retry_after": 86400}}, once=True)
    for wait in (35, 1800):
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope())
        assert info.value.retryable and not isinstance(info.value, Rejected)
        assert info.value.retry_after == wait and "Too Many Requests" in str(info.value)
        hidden(str(info.value))
    assert channel.send(envelope()) == "telegram pr-telegram: accepted"


@pytest.mark.parametrize("kind", ["bark", "ntfy", "telegram"])
def test_a_429_or_5xx_is_retryable_and_honours_retry_after(phone, client, kind):
    channel = {"bark": bark, "ntfy": ntfy, "telegram": telegram}[kind](phone, client)
    phone.answer(429, {"error": "limit reached"}, {"Retry-After": "12"}, once=True)
    phone.answer(503, b"<html>bad gateway</html>", once=True)
    with pytest.raises(DeliveryError) as throttled:
        channel.send(envelope())
    assert throttled.value.retryable and throttled.value.retry_after == 12
    with pytest.raises(DeliveryError) as down:
        channel.send(envelope())
    assert down.value.retryable and down.value.retry_after is None
    assert channel.send(envelope()).endswith("accepted")
    hidden(str(throttled.value) + str(down.value))


REFUSALS = {
    "bark": {400: {"code": 400, "message": "failed to get device token: device key not found"}},
    "ntfy": {
        400: {"code": 40001, "http": 400, "error": "invalid request"},
        401: {"code": 40101, "http": 401, "error": "unauthorized"},
        403: {"code": 40301, "http": 403, "error": "forbidden"},
        404: {"code": 40401, "http": 404, "error": "page not found"},
    },
    "telegram": {
        400: {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        401: {"ok": False, "error_code": 401, "description": "Unauthorized"},
        403: {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
        404: {"ok": False, "error_code": 404, "description": "Not Found"},
    },
}


@pytest.mark.parametrize(("kind", "status"), [(kind, status) for kind, replies in REFUSALS.items() for status in (*replies, 401, 403, 404)])
def test_a_refusal_is_rejected_for_good_with_the_reason_and_no_secret(phone, client, kind, status):
    channel = {"bark": bark, "ntfy": ntfy, "telegram": telegram}[kind](phone, client)
    phone.answer(status, REFUSALS[kind].get(status, b"refused"))
    with pytest.raises(Rejected) as info:
        channel.send(envelope())
    assert not info.value.retryable and f"HTTP {status}" in str(info.value)
    hidden(str(info.value))


def test_bark_200_that_is_not_a_bark_reply_is_permanent(phone, client):
    channel = bark(phone, client)
    phone.answer(200, b"<html>a login page</html>")
    with pytest.raises(Rejected, match="is this a Bark server"):
        channel.send(envelope())


def test_nothing_listening_is_retryable_and_names_no_secret(client):
    port = free_port()
    for channel in (
        BarkChannel("b", f"http://127.0.0.1:{port}", client, secret=DEVICE_KEY),
        NtfyChannel("n", f"http://127.0.0.1:{port}/{TOPIC}", client, secret=NTFY_TOKEN),
        make_chat_channel("telegram", "t", f"http://127.0.0.1:{port}", client, secret=BOT_TOKEN, chat_id="1"),
    ):
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope())
        assert info.value.retryable
        hidden(str(info.value))


# -- end to end: an urgent ticket reaches the phones while email is down -------------------

TIMELINE = "/api/v1/timelines/tag/acme"
HEAD = BASE_CONFIG.split("# detection tests want")[0]
WEB_SECRET = "a console secret from the environment, 32 bytes or more"


def test_urgent_ticket_reaches_every_phone_with_a_working_ack_link_while_email_is_down(tmp_path, loopback, make_app, clock, phone, monkeypatch, caplog):
    monkeypatch.setenv("MONITOR_WEB_SECRET", WEB_SECRET)
    monkeypatch.setenv("TEST_BARK_KEY", DEVICE_KEY)
    monkeypatch.setenv("TEST_NTFY_URL", f"{phone.base}/{TOPIC}")
    monkeypatch.setenv("TEST_NTFY_TOKEN", NTFY_TOKEN)
    monkeypatch.setenv("TEST_TG_TOKEN", BOT_TOKEN)
    phones = f"""
[web]
listen = "127.0.0.1:{free_port()}"
base_url = "https://monitor.example.com"

[alerts.chat.ceo-iphone]
kind = "bark"
url = "{phone.base}"
secret_env = "TEST_BARK_KEY"
group = "艾克美"

[alerts.chat.oncall-ntfy]
kind = "ntfy"
url_env = "TEST_NTFY_URL"
secret_env = "TEST_NTFY_TOKEN"

[alerts.chat.pr-telegram]
kind = "telegram"
url = "{phone.base}"
secret_env = "TEST_TG_TOKEN"
chat_id = -1001234567890

[[alerts.routes]]
name = "management"
to = ["ceo@example.com"]
chat = ["ceo-iphone", "oncall-ntfy", "pr-telegram"]
min_severity = "urgent"
group_wait = "0s"
"""
    caplog.set_level(logging.DEBUG, logger="monitor")
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(free_port()), phones, base=HEAD))  # nobody listens for SMTP
    phone.answer(200, {"code": 200, "message": "success", "ok": True, "result": {}})  # one reply that every kind takes as success
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了，手上起泡")])
    app.poll("masto")
    report = app.deliver()
    assert (report.sent, report.failed) == (3, 1)  # the phones got it; the mail waits for its retry

    by_path = {req.path: req for req in phone.seen}
    bark_req, ntfy_req, tg_req = by_path["/push"], by_path[f"/{TOPIC}"], by_path[f"/bot{BOT_TOKEN}/sendMessage"]
    assert bark_req.json()["level"] == "critical" and bark_req.json()["group"] == "艾克美"
    assert ntfy_req.headers["Priority"] == "5"
    links = [bark_req.json()["url"], ntfy_req.headers["Click"], tg_req.json()["reply_markup"]["inline_keyboard"][0][0]["url"]]
    signer = LinkSigner(WEB_SECRET.encode(), "https://monitor.example.com", timedelta(hours=72))
    for link in links:
        assert link.startswith("https://monitor.example.com/l/")
        claim = signer.verify(link.rsplit("/", 1)[1], clock.now)
        assert (claim.ticket_id, claim.action, claim.sent_to) == (1, "ack", "management")
    assert "孩子被艾克美保温杯烫伤了" in tg_req.json()["text"]  # a chat kind carries the message text, like the others

    with app.sessions() as s:
        sent = {m.channel: m.status for m in s.scalars(select(MessageRow))}
        told = [e.detail for e in s.scalars(select(EventRow).where(EventRow.kind == "message_sent"))]
    assert sent == {"email": "queued", "ceo-iphone": "sent", "oncall-ntfy": "sent", "pr-telegram": "sent"}
    assert sorted(d.split(": ", 1)[1] for d in told) == ["bark ceo-iphone: accepted", "ntfy oncall-ntfy: accepted", "telegram pr-telegram: accepted"]
    hidden(caplog.text)


def test_a_throttled_phone_waits_as_asked_and_a_refusing_one_is_on_the_timeline(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_TG_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TEST_BARK_KEY", DEVICE_KEY)
    phones = f"""
[alerts.chat.pr-telegram]
kind = "telegram"
url = "{phone.base}"
secret_env = "TEST_TG_TOKEN"
chat_id = "@acme_alerts"

[[alerts.routes]]
name = "pr"
chat = ["pr-telegram"]
group_wait = "0s"
"""
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), phones, base=HEAD))
    phone.answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 120", "parameters": {"retry_after": 120}}, once=True)
    phone.answer(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked from the supergroup chat"})
    loopback.json(TIMELINE, [status("1", "艾克美保温杯烫伤")])
    app.poll("masto")
    assert app.deliver().failed == 1
    with app.sessions() as s:
        message = s.scalar(select(MessageRow))
        assert message.status == "queued" and (message.next_attempt_at - clock.now) == timedelta(seconds=120)  # not our 30 s
    clock.advance(seconds=119)
    assert app.deliver() == type(app.deliver())()  # nothing due yet
    clock.advance(seconds=1)
    assert app.deliver().rejected == 1
    with app.sessions() as s:
        message = s.scalar(select(MessageRow))
        [(detail,)] = s.execute(select(EventRow.detail).where(EventRow.kind == "message_rejected")).all()
    assert message.status == "failed" and "bot was kicked" in message.last_error
    assert "pr-telegram" in detail and "HTTP 403" in detail and "not retried" in detail
    hidden(detail + message.last_error)


def test_config_names_each_push_receiver_problem(tmp_path, monkeypatch):
    from monitor.config import ConfigError, load_config
    from sources import source_kinds

    monkeypatch.delenv("TEST_TG_TOKEN", raising=False)
    bad = """
[alerts.chat.tg]
kind = "telegram"
secret_env = "TEST_TG_TOKEN"
group = "x"

[alerts.chat.iphone]
kind = "bark"

[alerts.chat.ding]
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=x"
chat_id = 1
"""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, bad, base=HEAD), source_kinds())
    text = str(info.value)
    for expected in (
        "alerts.chat.tg.chat_id: is required for telegram", "alerts.chat.tg.group: only bark takes group",
        "alerts.chat.tg.secret_env: environment variable TEST_TG_TOKEN is not set (it holds the bot token)",
        "alerts.chat.iphone.secret_env: is required for bark: the environment variable holding the device key",
        "alerts.chat.ding.chat_id: only telegram takes chat_id",
    ):
        assert expected in text, (expected, text)


@given(st.text())
def test_encode_header_is_always_a_latin1_header_that_decodes_back(title):
    encoded = encode_header(title)
    assert encoded.isascii() and "\n" not in encoded and "\r" not in encoded
    expected = " ".join(title.encode("utf-8", "replace").decode("utf-8").split())
    if expected.isascii() and expected.isprintable():
        assert encoded == expected
    else:
        assert str(make_header(decode_header(encoded))) == expected


@given(st.text(), st.integers(min_value=2, max_value=50))
def test_cut_utf16_never_exceeds_the_limit(text, units):
    cut = cut_utf16(text, units)
    assert len(cut.encode("utf-16-le", "surrogatepass")) // 2 <= units
    assert cut == text or (cut.endswith("…") and text.startswith(cut[:-1]))


def test_a_token_with_a_line_break_is_refused_before_it_can_be_quoted(phone, client):
    """httpx quotes a header value it refuses escaped (``b'Bearer …\\n'``), where no plain
    search for the secret finds it: such a secret is refused when the channel is made,
    and the one poster never shows the library's words."""
    from alerts._http import post

    with pytest.raises(ValueError) as made:
        NtfyChannel("phone", "https://ntfy.sh/acme-alerts", client, secret=NTFY_TOKEN + "\n")
    assert NTFY_TOKEN not in str(made.value)
    with pytest.raises(DeliveryError) as sent:
        post(client, phone.base + "/acme-alerts", b"x", {"Authorization": f"Bearer {NTFY_TOKEN}\n"}, label="ntfy phone (127.0.0.1)", shorten=str)
    assert NTFY_TOKEN not in str(sent.value) and not sent.value.retryable
