"""Chat webhook channels against a real HTTP receiver on 127.0.0.1 (DingTalk, the generic
webhook, failure modes) and respx (the rest): what the robot receives, how signatures
check out, and which failures come back as retryable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import START, free_port
from hypothesis import given
from hypothesis import strategies as st

from alerts._http import MAX_RETRY_AFTER
from alerts.channels import Envelope
from alerts.chat import (
    CHAT_KINDS,
    ChatChannel,
    DingTalkChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
    make_chat_channel,
    truncate_utf8,
    verify_signature,
)
from alerts.errors import DeliveryError, Rejected

TOKEN = "3f1c9e0d-7b2a-4c55-9e61-0a8d2b7c4e11"
SECRET = "SEC8a1f0e9d2c3b4a5968778695a4b3c2d1"
NOW = START.timestamp() + 0.75  # the injected clock, in Unix seconds

URLS = {
    "dingtalk": f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
    "wecom": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}",
    "feishu": f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}",
    "slack": f"https://hooks.slack.com/services/T0001/B0001/{TOKEN}",
    "webhook": f"https://hooks.example.com/monitor?token={TOKEN}",
}
OK_REPLY = {
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (200, {"code": 0, "msg": "success", "data": {}, "StatusCode": 0, "StatusMessage": "success"}),
    "slack": (200, "ok"),
    "webhook": (204, ""),
}


def envelope(subject: str = "[紧急 urgent] #1 艾克美: 保温杯烫伤", text: str = "孩子被艾克美保温杯烫伤了\nhttps://weibo.example/1") -> Envelope:
    return Envelope(
        key="ticket-1-opened-pr",
        sender="monitor@example.com",
        to=("pr-team@example.com",),
        subject=subject,
        text=text,
        html="<p>unused</p>",
        message_id="<abc@brand-monitor.local>",
        created_at=START,
    )


@pytest.fixture
def fast_client() -> Iterator[httpx.Client]:
    """A real client with a short timeout (no proxies from the environment: 127.0.0.1 only)."""
    with httpx.Client(timeout=0.5, trust_env=False) as c:
        yield c


def clock() -> float:
    return NOW


def failure(channel: ChatChannel) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        channel.send(envelope())
    return info.value


def assert_no_credentials(message: str) -> None:
    assert TOKEN not in message
    assert SECRET not in message
    assert "access_token=" not in message and "key=" not in message


# -- DingTalk, on loopback ---------------------------------------------------------------


def test_dingtalk_posts_signed_markdown_and_the_signature_checks_out(receiver, fast_client):
    ding = DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client, secret=SECRET, clock=clock)

    assert ding.send(envelope()) == "dingtalk pr-ding: accepted"

    [req] = receiver.seen
    assert req.path == "/robot/send"
    assert req.query["access_token"] == TOKEN
    timestamp = req.query["timestamp"]
    assert abs(int(timestamp) / 1000 - NOW) < 3  # milliseconds, from the injected clock
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    assert req.query["sign"] == expected  # parse_qs undid the URL-encoding, so "+" and "/" survived it
    assert req.headers["Content-Type"].startswith("application/json")
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[紧急 urgent] #1 艾克美: 保温杯烫伤"
    assert body["markdown"]["text"].startswith("### [紧急 urgent] #1 艾克美: 保温杯烫伤\n")
    assert "孩子被艾克美保温杯烫伤了" in body["markdown"]["text"]


def test_dingtalk_without_secret_sends_the_url_unchanged(receiver, fast_client):
    ding = DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client, clock=clock)
    ding.send(envelope())
    assert receiver.seen[0].query == {"access_token": TOKEN}


@pytest.mark.parametrize(
    ("errcode", "errmsg", "retryable"),
    [
        (130101, "send too fast, exceed 20 times per minute", True),
        (310000, "keywords not in content", False),
        (300001, "token is not exist", False),
    ],
)
def test_dingtalk_errcode_in_a_200_is_a_failure(receiver, fast_client, errcode, errmsg, retryable):
    receiver.answer(200, {"errcode": errcode, "errmsg": errmsg})
    ding = DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client, secret=SECRET, clock=clock)
    err = failure(ding)
    assert err.retryable is retryable
    assert isinstance(err, Rejected) is not retryable  # a refusal for good is recorded on the timeline, not retried for ever
    assert str(errcode) in str(err) and errmsg in str(err)
    assert "dingtalk pr-ding (127.0.0.1)" in str(err)
    assert_no_credentials(str(err))


def test_dingtalk_200_that_is_not_a_robot_reply_is_permanent(receiver, fast_client):
    receiver.answer(200, b"<html>captive portal</html>")
    err = failure(DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client))
    assert not err.retryable
    assert "unexpected reply" in str(err) and "captive portal" in str(err)


def test_hung_server_is_a_retryable_failure_within_the_client_timeout(receiver, fast_client):
    receiver.hang = True
    ding = DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client, secret=SECRET)
    started = time.monotonic()
    err = failure(ding)
    assert time.monotonic() - started < 3  # 0.5 s read timeout, not forever
    assert err.retryable
    assert "no answer in time" in str(err)
    assert_no_credentials(str(err))
    assert len(receiver.seen) == 1  # it did reach the server


def test_nothing_listening_is_a_retryable_failure_without_the_token(fast_client):
    ding = DingTalkChannel("pr-ding", f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}", fast_client, secret=SECRET)
    err = failure(ding)
    assert err.retryable
    assert_no_credentials(str(err))


def test_a_huge_error_body_is_read_only_in_part_and_quoted_briefly(receiver, fast_client):
    receiver.answer(400, b"x" * 2_000_000)
    err = failure(DingTalkChannel("pr-ding", receiver.url(f"/robot/send?access_token={TOKEN}"), fast_client))
    assert not err.retryable
    assert "HTTP 400" in str(err)
    assert len(str(err)) < 400


# -- the generic webhook, on loopback ----------------------------------------------------


def test_webhook_signature_verifies_and_fails_for_an_altered_body(receiver, fast_client):
    receiver.answer(204, b"")
    hook = WebhookChannel("ops", receiver.url(f"/in?token={TOKEN}"), fast_client, secret=SECRET, clock=clock)

    assert hook.send(envelope()) == "webhook ops: accepted"  # any 2xx

    [req] = receiver.seen
    timestamp, signature = req.headers["X-Monitor-Timestamp"], req.headers["X-Monitor-Signature"]
    assert timestamp == str(int(NOW))
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, req.body, signature, now=NOW + 10)
    altered = req.body.replace("烫伤".encode(), "好评".encode())
    assert altered != req.body
    assert not verify_signature(SECRET, timestamp, altered, signature, now=NOW + 10)
    assert not verify_signature("another-secret", timestamp, req.body, signature, now=NOW + 10)
    assert not verify_signature(SECRET, str(int(NOW) + 1), req.body, signature, now=NOW + 10)
    assert not verify_signature(SECRET, timestamp, req.body, signature, now=NOW + 3600)  # a replay an hour later
    assert not verify_signature(SECRET, "yesterday", req.body, signature, now=NOW)
    assert req.json() == {
        "subject": "[紧急 urgent] #1 艾克美: 保温杯烫伤",
        "text": "孩子被艾克美保温杯烫伤了\nhttps://weibo.example/1",
        "key": "ticket-1-opened-pr",
        "message_id": "<abc@brand-monitor.local>",
        "created_at": START.isoformat(),
    }


def test_webhook_without_secret_sends_no_signature(receiver, fast_client):
    receiver.answer(200, b"thanks")
    WebhookChannel("ops", receiver.url("/in"), fast_client).send(envelope())
    assert "X-Monitor-Signature" not in receiver.seen[0].headers


# -- every kind: HTTP status mapping, never the credentials in the error ------------------


@pytest.mark.parametrize("kind", sorted(URLS))
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (502, True), (503, True), (429, True), (400, False), (403, False), (404, False)])
def test_http_status_decides_retryable_and_the_error_hides_the_credentials(router, client, kind, status, retryable):
    url = URLS[kind]
    # a server that echoes the URL it was called with must not leak it through us
    router.post(url__startswith=url.split("?")[0]).mock(return_value=httpx.Response(status, text=f"failed for {url} ({SECRET})"))
    channel = make_chat_channel(kind, "pr", url, client, secret=SECRET)
    err = failure(channel)
    assert err.retryable is retryable
    assert f"HTTP {status}" in str(err)
    assert f"{kind} pr (" in str(err)
    assert_no_credentials(str(err))


@pytest.mark.parametrize("kind", sorted(URLS))
def test_every_kind_accepts_its_platforms_success_reply(router, client, kind):
    status, payload = OK_REPLY[kind]
    reply = httpx.Response(status, json=payload) if isinstance(payload, dict) else httpx.Response(status, text=payload)
    route = router.post(url__startswith=URLS[kind].split("?")[0]).mock(return_value=reply)
    channel = make_chat_channel(kind, "pr", URLS[kind], client, secret=SECRET)
    assert channel.send(envelope()) == f"{kind} pr: accepted"
    assert route.call_count == 1
    assert TOKEN not in repr(channel)


def test_a_token_straddling_the_excerpt_cut_is_hidden_whole(router, client):
    # the platform echoes the URL right where a naive excerpt would cut it in half
    errmsg = "x" * 120 + " " + URLS["dingtalk"]  # the token starts just before character 200
    router.post(url__startswith="https://oapi.dingtalk.com/").mock(return_value=httpx.Response(200, json={"errcode": 310000, "errmsg": errmsg}))
    err = failure(DingTalkChannel("pr-ding", URLS["dingtalk"], client))
    assert TOKEN[:6] not in str(err)
    assert "error 310000" in str(err)


def test_transport_error_is_retryable_without_credentials(router, client):
    router.post(url__startswith="https://open.feishu.cn/").mock(side_effect=httpx.ConnectError(f"cannot reach {URLS['feishu']}"))
    err = failure(FeishuChannel("pr", URLS["feishu"], client, secret=SECRET))
    assert err.retryable
    assert_no_credentials(str(err))


# -- the robot's own wait, named as a date (RFC 9110 §10.2.3's other form) -----------------

THROTTLED_UNTIL = "Wed, 21 Oct 2026 07:28:00 GMT"
UNTIL = datetime(2026, 10, 21, 7, 28, tzinfo=UTC).timestamp()
"""A robot's ``Retry-After`` as a date, and that instant; each test's clock is set from it,
so the waits hold on any day the tests run."""


def test_a_robot_that_names_a_date_is_retried_no_sooner_than_that_date_capped(phone, fast_client):
    ding = DingTalkChannel("pr-ding", f"{phone.base}/robot/send?access_token={TOKEN}", fast_client, secret=SECRET, clock=lambda: UNTIL - 600)
    phone.answer(200, {"errcode": 0, "errmsg": "ok"})
    waits = []
    for status, reply, asked in [
        (429, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, THROTTLED_UNTIL),
        (503, b"<html>503 Service Temporarily Unavailable</html>", "Wednesday, 21-Oct-26 07:20:00 GMT"),  # RFC 850's form
        (503, b"<html>503 Service Temporarily Unavailable</html>", "Wed Oct 21 07:19:00 2026"),  # asctime's: UTC
        (429, {"errcode": 130101, "errmsg": "send too fast"}, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (429, {"errcode": 130101, "errmsg": "send too fast"}, "Wed, 21 Oct 2026 07:00:00 GMT"),  # already past
    ]:
        phone.answer(status, reply, {"Retry-After": asked}, once=True)
        err = failure(ding)
        assert err.retryable and not isinstance(err, Rejected)
        assert_no_credentials(str(err))
        waits.append(err.retry_after)
    # ten minutes as asked; two and one minute; the year 9999 is our cap; a date past asks for nothing
    assert waits == [600.0, 120.0, 60.0, MAX_RETRY_AFTER, None]
    assert ding.send(envelope()) == "dingtalk pr-ding: accepted"


@pytest.mark.parametrize("kind", sorted(URLS))
def test_every_kind_honours_a_retry_after_date(router, client, kind):
    router.post(url__startswith=URLS[kind].split("?")[0]).mock(return_value=httpx.Response(429, headers={"Retry-After": THROTTLED_UNTIL}, text="Too Many Requests"))
    channel = CHAT_KINDS[kind]("pr", URLS[kind], client, secret=SECRET, clock=lambda: UNTIL - 90)
    assert failure(channel).retry_after == 90.0


# -- WeCom ---------------------------------------------------------------------------------


def test_wecom_cuts_chinese_text_to_4096_bytes_of_valid_utf8(router, client):
    route = router.post(url__startswith="https://qyapi.weixin.qq.com/").mock(return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}))
    long_text = "孩子被艾克美保温杯烫伤了，家长说要找记者曝光。" * 400  # ~27 KB
    WeComChannel("pr-wx", URLS["wecom"], client).send(envelope(text=long_text))

    raw = route.calls[0].request.content
    content = json.loads(raw.decode("utf-8"))["markdown"]["content"]  # strict decode: valid UTF-8
    assert json.loads(raw)["msgtype"] == "markdown"
    assert len(content.encode("utf-8")) <= 4096
    assert len(content.encode("utf-8")) > 4096 - 6  # cut at the limit, not far before it
    assert content.endswith("…")
    assert content.startswith("### [紧急 urgent] #1 艾克美: 保温杯烫伤\n")


@pytest.mark.parametrize(("errcode", "retryable"), [(45009, True), (-1, True), (93000, False), (40058, False)])
def test_wecom_errcodes(router, client, errcode, retryable):
    router.post(url__startswith="https://qyapi.weixin.qq.com/").mock(
        return_value=httpx.Response(200, json={"errcode": errcode, "errmsg": f"failed, more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"})
    )
    err = failure(WeComChannel("pr-wx", URLS["wecom"], client))
    assert err.retryable is retryable
    assert str(errcode) in str(err)
    assert_no_credentials(str(err))


# -- Feishu / Lark -------------------------------------------------------------------------


def test_feishu_body_carries_a_valid_signature(router, client):
    route = router.post(url__startswith="https://open.feishu.cn/").mock(return_value=httpx.Response(200, json={"code": 0, "msg": "success"}))
    FeishuChannel("pr-fs", URLS["feishu"], client, secret=SECRET, clock=clock).send(envelope(text='<at user_id="all">所有人</at> 烫伤'))

    body = json.loads(route.calls[0].request.content)
    assert body["timestamp"] == str(int(NOW))  # seconds, as a string
    key = f"{body['timestamp']}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == "[紧急 urgent] #1 艾克美: 保温杯烫伤"
    # the post's text is one literal text element: an <at> in a post cannot ping everyone
    assert post["content"] == [[{"tag": "text", "text": '<at user_id="all">所有人</at> 烫伤'}]]


def test_feishu_without_secret_sends_no_signature(router, client):
    route = router.post(url__startswith="https://open.feishu.cn/").mock(return_value=httpx.Response(200, json={"StatusCode": 0, "StatusMessage": "success"}))
    FeishuChannel("pr-fs", URLS["feishu"], client).send(envelope())
    assert "sign" not in json.loads(route.calls[0].request.content)


@pytest.mark.parametrize(
    ("status", "reply", "retryable"),
    [
        (200, {"code": 11232, "msg": "frequency limited", "data": {}}, True),
        (400, {"code": 99991400, "msg": "request trigger frequency limit"}, True),
        (200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}, False),
        (200, {"code": 9499, "msg": "Bad Request", "data": {}}, False),
        (200, {"StatusCode": 19024, "StatusMessage": "Key Words Not Found"}, False),
    ],
)
def test_feishu_error_codes(router, client, status, reply, retryable):
    router.post(url__startswith="https://open.feishu.cn/").mock(return_value=httpx.Response(status, json=reply))
    err = failure(make_chat_channel("lark", "pr-fs", URLS["feishu"], client, secret=SECRET))
    assert err.retryable is retryable
    code = reply.get("code", reply.get("StatusCode"))
    assert f"error {code}" in str(err)
    assert_no_credentials(str(err))


# -- Slack ---------------------------------------------------------------------------------


def test_slack_escapes_post_text(router, client):
    route = router.post(url__startswith="https://hooks.slack.com/").mock(return_value=httpx.Response(200, text="ok"))
    hostile = '孩子被烫伤 <script>alert("x")</script> & <!channel> <https://evil.example|click>'
    assert SlackChannel("pr-slack", URLS["slack"], client).send(envelope(subject="A & B <urgent>", text=hostile)) == "slack pr-slack: accepted"

    text = json.loads(route.calls[0].request.content)["text"]
    assert "<script>" not in text and "<!channel>" not in text and "<https://" not in text
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt; &amp; &lt;!channel&gt;" in text
    assert text.startswith("*A &amp; B &lt;urgent&gt;*\n")


def test_slack_truncation_never_leaves_half_an_entity(router, client):
    route = router.post(url__startswith="https://hooks.slack.com/").mock(return_value=httpx.Response(200, text="ok"))
    SlackChannel("pr-slack", URLS["slack"], client).send(envelope(subject="s", text="<" * 50_000))
    text = json.loads(route.calls[0].request.content)["text"]
    assert len(text.encode()) <= 40_000
    assert text.endswith("&lt;…")


def test_slack_refusals_quote_slacks_reason(router, client):
    router.post(url__startswith="https://hooks.slack.com/").mock(return_value=httpx.Response(404, text="no_service"))
    err = failure(SlackChannel("pr-slack", URLS["slack"], client))
    assert not err.retryable
    assert "HTTP 404: no_service" in str(err)
    assert_no_credentials(str(err))


def test_slack_200_without_ok_is_a_permanent_failure(router, client):
    router.post(url__startswith="https://hooks.slack.com/").mock(return_value=httpx.Response(200, text="<html>login</html>"))
    err = failure(SlackChannel("pr-slack", URLS["slack"], client))
    assert not err.retryable
    assert "unexpected reply" in str(err)


# -- building channels ----------------------------------------------------------------------


def test_make_chat_channel_knows_every_kind_and_refuses_others(client):
    for kind, cls in CHAT_KINDS.items():
        assert type(make_chat_channel(kind, "x", URLS.get(kind, URLS["feishu"]), client, secret=SECRET, chat_id="42")) is cls
    assert isinstance(make_chat_channel("Lark", "x", URLS["feishu"], client), FeishuChannel)
    with pytest.raises(ValueError, match="unknown chat channel kind 'teams'.*dingtalk, wecom, feishu, lark, slack, webhook"):
        make_chat_channel("teams", "x", "https://example.com/", client)
    with pytest.raises(ValueError, match="must be an http"):
        make_chat_channel("dingtalk", "x", "oapi.dingtalk.com/robot/send", client)


def test_repr_names_the_channel_by_name_and_host_only(client):
    ding = DingTalkChannel("pr-ding", URLS["dingtalk"], client, secret=SECRET)
    assert repr(ding) == "<DingTalkChannel 'pr-ding' at oapi.dingtalk.com>"


# -- truncation ------------------------------------------------------------------------------


@given(st.text(max_size=300), st.integers(min_value=3, max_value=400))
def test_truncate_utf8_fits_the_limit_and_never_splits_a_character(text, limit):
    out = truncate_utf8(text, limit)
    size = len(out.encode("utf-8"))
    assert size <= limit
    if len(text.encode("utf-8")) <= limit:
        assert out == text
    else:
        assert out.endswith("…")
        kept = out[: -len("…")]
        assert text.startswith(kept)  # whole characters of the original, in order
        assert limit - size < 4  # at most one character's bytes given up to the cut


def test_truncate_utf8_refuses_a_limit_smaller_than_the_ellipsis():
    with pytest.raises(ValueError, match="no room"):
        truncate_utf8("烫伤", 2)


def test_a_platforms_refusal_keeps_its_old_name_beside_the_one_that_tells_it_from_a_recipients():
    """``alerts.chat.Refusal`` (a platform refusing a whole message) shared its name with
    ``alerts.Refusal`` (a server refusing one recipient), whose fields differ: a channel
    that imported the wrong one failed only when the refusal came. The new name says
    which; the old one still works for channels written against it."""
    from alerts import Refusal as RecipientRefusal
    from alerts.chat import ChatRefusal, Refusal

    assert Refusal is ChatRefusal and ChatRefusal is not RecipientRefusal
    assert ChatRefusal(None, "unexpected reply").retry_after is None
