"""SMS receivers: each provider's signer against the worked example its documentation
publishes, the exact request each sends to a loopback server, throttles retried, refusals
recorded for good, no secret in any error, and urgent tickets reaching the phones while
email is down (and nothing less than urgent, by default)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
from conftest import BASE_CONFIG, START, Phone, free_port, mastodon_source, smtp_block, status, write_config
from sqlalchemy import select

from alerts import SEND_LIMIT, Brief, DeliveryError, Envelope, Receipt, Rejected, Severity
from alerts._http import MAX_RETRY_AFTER
from alerts.sms import AliyunSms, SmsSettings, TencentSms, TwilioSms, aliyun_signature, aliyun_string_to_sign, basic_auth
from alerts.sms.tencent import tc3_authorization, tc3_signature, tc3_string_to_sign
from monitor.config import ConfigError, load_config
from monitor.delivery.courier import DeliveryReport
from monitor.storage.models import EventRow, MessageRow
from sources import source_kinds

KEY_ID = "LTAI5tPxRzQyqG4mEXAMPLE1"
KEY_SECRET = "kX9wR2mP4vL7nQ8sT1uY3zA6bC5dE0"
LINK = "https://monitor.example.com/l/eyJ0IjoxfQ.c2ln"
NOW = 1764000000.0  # 2025-11-24T16:00:00Z
BRIEF = Brief(Severity.urgent, (12,), ("艾克美",), LINK)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2, trust_env=False) as c:
        yield c


def envelope(brief: Brief | None = BRIEF) -> Envelope:
    return Envelope(
        key="ticket-12-opened-management:chat:oncall", sender="m@example.com", to=(), subject="[紧急 urgent] #12 艾克美: 孩子被烫伤",
        text="孩子被艾克美保温杯烫伤了 (post text)", html="", message_id="<x@y>", created_at=START, brief=brief,
    )


def hidden(text: str) -> None:
    assert KEY_SECRET not in text and "kX9wR2mP" not in text


# -- the signers, against the worked examples of the providers' documentation -------------


def test_aliyun_rpc_signature_matches_the_documented_example():
    """https://developer.aliyun.com/ask/210168 (Aliyun's "API 签名机制 (示例)", the
    DescribeRegions example of the RPC signature, V2): AccessKeyId ``testid``,
    AccessKeySecret ``testsecret``."""
    params = {
        "TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert aliyun_string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    )
    assert aliyun_signature("GET", params, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_tencent_tc3_signature_matches_the_documented_example():
    """https://cloud.tencent.com/document/api/362/4208 (签名方法 v3): the CVM
    DescribeInstances example, SecretKey ``Gu5t9xGARNpq86cd98joQYCN3*******`` as printed,
    timestamp 1551113065 (2019-02-25), its hashed payload, string to sign and signature."""
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    common = {"host": "cvm.tencentcloudapi.com", "service": "cvm", "payload": payload, "timestamp": 1551113065}
    assert tc3_string_to_sign(**common) == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert tc3_signature("Gu5t9xGARNpq86cd98joQYCN3*******", **common) == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******", **common) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_twilio_basic_auth_matches_the_rfc_7617_example():
    """https://www.rfc-editor.org/rfc/rfc7617#section-2: user ``Aladdin``, password
    ``open sesame``; Twilio authenticates with exactly this scheme."""
    assert basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


# -- the exact requests ---------------------------------------------------------------------


def aliyun(phone: Phone, client: httpx.Client, **extra) -> AliyunSms:
    phone.answer(200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"})
    settings = SmsSettings(
        to=("+8613800000000", "+8613900000000"), key_id=KEY_ID, key_secret=KEY_SECRET, sign_name="艾克美", template="SMS_123456789",
        params={"severity": "{severity}", "brand": "{brand}", "ticket": "{id}"}, base_url=phone.base + "/", **extra,
    )
    return AliyunSms("oncall", settings, client, clock=lambda: NOW, nonce=lambda: "c0ffee00-0000-4000-8000-000000000001")


def test_aliyun_posts_a_signed_send_sms_form_with_brand_severity_and_ticket_only(phone, client):
    assert aliyun(phone, client).send(envelope()) == "aliyun oncall: sent to 2 number(s)"
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", "/")
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(req.body.decode("ascii"), keep_blank_values=True))
    signature = form.pop("Signature")
    assert form == {
        "AccessKeyId": KEY_ID, "Action": "SendSms", "Format": "JSON", "PhoneNumbers": "+8613800000000,+8613900000000",
        "RegionId": "cn-hangzhou", "SignName": "艾克美", "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "c0ffee00-0000-4000-8000-000000000001",
        "SignatureVersion": "1.0", "TemplateCode": "SMS_123456789", "TemplateParam": '{"severity":"紧急","brand":"艾克美","ticket":"12"}',
        "Timestamp": "2025-11-24T16:00:00Z", "Version": "2017-05-25",
    }
    assert signature == aliyun_signature("POST", form, KEY_SECRET)  # what Aliyun recomputes from the form it received
    assert "烫伤" not in req.body.decode("ascii") and KEY_SECRET not in req.body.decode("ascii")


def test_template_parameters_are_cut_to_the_providers_limit_never_refused(phone, client):
    long_brand = Brief(Severity.urgent, (12,), ("艾克美" * 20,), LINK)
    aliyun(phone, client).send(envelope(long_brand))
    params = json.loads(dict(parse_qsl(phone.seen[0].body.decode("ascii")))["TemplateParam"])
    assert len(params["brand"]) == 35 and params["brand"].endswith("…")


def tencent(phone: Phone, client: httpx.Client) -> TencentSms:
    phone.answer(200, {"Response": {"SendStatusSet": [
        {"SerialNo": "5000:1045710669157053657849499619", "PhoneNumber": "+8613800000000", "Fee": 1, "Code": "Ok", "Message": "send success"},
    ], "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}})
    settings = SmsSettings(
        to=("+8613800000000",), key_id="AKIDz8krbsJ5yKBZQpn74WFkmLPxEXAMPLE", key_secret=KEY_SECRET, sign_name="艾克美", template="1110",
        app_id="1400006666", params={"1": "{severity}", "2": "{id}"}, base_url=phone.base + "/",
    )
    return TencentSms("oncall", settings, client, clock=lambda: NOW)


def test_tencent_posts_send_sms_json_signed_tc3(phone, client):
    assert tencent(phone, client).send(envelope()) == Receipt("tencent oncall: sent to 1 number(s)")
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", "/")
    host = phone.base.removeprefix("http://")
    assert req.json() == {
        "PhoneNumberSet": ["+8613800000000"], "SmsSdkAppId": "1400006666", "SignName": "艾克美", "TemplateId": "1110", "TemplateParamSet": ["紧急", "12"],
    }
    assert req.headers["Content-Type"] == "application/json; charset=utf-8" and req.headers["Host"] == host
    assert (req.headers["X-TC-Action"], req.headers["X-TC-Version"], req.headers["X-TC-Region"]) == ("SendSms", "2021-01-11", "ap-guangzhou")
    assert req.headers["X-TC-Timestamp"] == "1764000000"
    expected = tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPxEXAMPLE", KEY_SECRET, host=host, service="sms", payload=req.body, timestamp=1764000000)
    assert req.headers["Authorization"] == expected
    assert expected.startswith("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPxEXAMPLE/2025-11-24/sms/tc3_request, SignedHeaders=content-type;host, ")


def twilio(phone: Phone, client: httpx.Client, to: tuple[str, ...] = ("+15551230000",), clock: Callable[[], float] = time.time) -> TwilioSms:
    phone.answer(201, {"sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued"})
    settings = SmsSettings(to=to, key_id="AC00000000000000000000000000000001", key_secret=KEY_SECRET, sender="+15550000000", base_url=phone.base)
    return TwilioSms("oncall", settings, client, clock=clock)


def test_twilio_posts_one_form_per_number_with_basic_auth_and_no_post_text(phone, client):
    assert str(twilio(phone, client).send(envelope())) == "twilio oncall: sent to 1 number(s)"
    [req] = phone.seen
    assert (req.method, req.path) == ("POST", "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json")
    assert req.headers["Authorization"] == basic_auth("AC00000000000000000000000000000001", KEY_SECRET)
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(req.body.decode("ascii"))) == {"To": "+15551230000", "From": "+15550000000", "Body": f"[艾克美] 紧急 urgent alert: ticket #12 {LINK}"}


def test_a_message_about_no_ticket_is_not_texted(phone, client):
    assert "nothing to send" in str(aliyun(phone, client).send(envelope(brief=None)))
    assert phone.seen == []


# -- throttles retry, refusals are permanent, keys stay hidden ------------------------------


@pytest.mark.parametrize(("status", "reply", "retryable"), [
    (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}, True),
    (200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法(不存在或被拉黑)"}, False),
    (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}, False),
    (404, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation."}, False),
    (503, b"<html>Service Unavailable</html>", True),
])
def test_aliyun_outcomes(phone, client, status, reply, retryable):
    channel = aliyun(phone, client)
    phone.answer(status, reply)
    with pytest.raises(DeliveryError) as info:
        channel.send(envelope())
    assert info.value.retryable is retryable and isinstance(info.value, Rejected) is (not retryable)
    hidden(str(info.value))


@pytest.mark.parametrize(("code", "retryable"), [
    ("RequestLimitExceeded", True), ("LimitExceeded.PhoneNumberOneHourLimit", True), ("InternalError.Timeout", True),
    ("FailedOperation.TemplateIncorrectOrUnapproved", False), ("AuthFailure.SignatureFailure", False), ("FailedOperation.PhoneNumberInBlacklist", False),
])
def test_tencent_request_errors(phone, client, code, retryable):
    channel = tencent(phone, client)
    phone.answer(200, {"Response": {"Error": {"Code": code, "Message": f"{code} (secret {KEY_SECRET})"}, "RequestId": "x"}})
    with pytest.raises(DeliveryError) as info:
        channel.send(envelope())
    assert info.value.retryable is retryable and code in str(info.value)
    hidden(str(info.value))


def test_tencent_per_number_refusals_come_back_in_the_receipt(phone, client):
    channel = tencent(phone, client)
    phone.answer(200, {"Response": {"SendStatusSet": [
        {"PhoneNumber": "+8613800000000", "Code": "Ok", "Message": "send success"},
        {"PhoneNumber": "+8613900000000", "Code": "FailedOperation.PhoneNumberInBlacklist", "Message": "blacklisted"},
        {"PhoneNumber": "+8613700000000", "Code": "LimitExceeded.PhoneNumberThirtySecondLimit", "Message": "too often"},
    ], "RequestId": "x"}})
    receipt = channel.send(envelope())
    assert isinstance(receipt, Receipt)
    assert {n: r.permanent for n, r in receipt.refused.items()} == {"+8613900000000": True, "+8613700000000": False}


def test_twilio_throttle_retries_and_bad_credentials_refuse_for_good(phone, client):
    channel = twilio(phone, client)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, once=True)
    with pytest.raises(DeliveryError) as throttled:
        channel.send(envelope())
    assert throttled.value.retryable and not isinstance(throttled.value, Rejected)
    phone.answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number: +1555123XXXX", "status": 400}, once=True)
    with pytest.raises(Rejected, match="21211"):
        channel.send(envelope())
    phone.answer(401, {"code": 20003, "message": "Authenticate", "status": 401}, once=True)
    with pytest.raises(Rejected, match="HTTP 401") as refused:
        channel.send(envelope())
    hidden(str(throttled.value) + str(refused.value))


def test_nothing_listening_is_retryable_without_the_keys(client):
    settings = SmsSettings(to=("+8613800000000",), key_id=KEY_ID, key_secret=KEY_SECRET, sign_name="s", template="t", base_url=f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(DeliveryError) as info:
        AliyunSms("oncall", settings, client).send(envelope())
    assert info.value.retryable
    hidden(str(info.value))


# -- config ---------------------------------------------------------------------------------

HEAD = BASE_CONFIG.split("# detection tests want")[0]
TIMELINE = "/api/v1/timelines/tag/acme"


def sms_block(base: str, kind: str = "aliyun", extra: str = "") -> str:
    return f"""
[alerts.sms.oncall]
kind = "{kind}"
to = ["+8613800000000"]
sign_name = "艾克美"
template = "SMS_123456789"
app_id = "1400006666"
params = {{ severity = "{{severity}}", brand = "{{brand}}", ticket = "{{id}}" }}
key_id_env = "TEST_SMS_KEY_ID"
key_secret_env = "TEST_SMS_KEY_SECRET"
base_url = "{base}/"
{extra}
"""


def test_config_reads_sms_receivers_and_routes_naming_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    route = '\n[[alerts.routes]]\nname = "management"\nto = ["ceo@example.com"]\nsms = ["oncall"]\nmin_severity = "urgent"\n'
    config = load_config(write_config(tmp_path, sms_block("https://dysmsapi.aliyuncs.com"), route, base=HEAD), source_kinds())
    sms = config.sms["oncall"]
    assert (sms.kind, sms.to, sms.min_severity, dict(sms.params)) == ("aliyun", ("+8613800000000",), Severity.urgent, {"severity": "{severity}", "brand": "{brand}", "ticket": "{id}"})
    assert config.routes[0].chat == ("oncall",) and config.routes[0].receivers == ("ceo@example.com", "sms:oncall")
    assert sms.settings().key_secret == KEY_SECRET


def test_config_names_each_sms_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SMS_KEY_SECRET", raising=False)
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    bad = """
[alerts.chat.oncall]
kind = "slack"
url = "https://hooks.slack.com/services/T/B/x"

[alerts.sms.oncall]
kind = "tencent"
to = ["13800000000x"]
params = { text = "{post}" }
key_id_env = "TEST_SMS_KEY_ID"
key_secret_env = "TEST_SMS_KEY_SECRET"

[[alerts.routes]]
name = "management"
sms = ["pager"]
"""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, bad, base=HEAD), source_kinds())
    text = str(info.value)
    for expected in (
        "alerts.sms.oncall.to[0]", "alerts.sms.oncall.params.text: 'post' is not a placeholder", "alerts.sms.oncall.sign_name: is required for tencent",
        "alerts.sms.oncall.app_id: is required for tencent", "alerts.sms.oncall.key_secret_env: environment variable TEST_SMS_KEY_SECRET is not set",
        "alerts.sms.oncall: 'oncall' is also the name of an [alerts.chat] receiver", "alerts.routes[0].sms[0]: 'pager' is not an [alerts.sms.*] receiver",
    ):
        assert expected in text, (expected, text)


# -- end to end -----------------------------------------------------------------------------


def test_urgent_ticket_is_texted_while_email_is_down_and_a_normal_one_is_not(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(200, {"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r"})
    route = '\n[[alerts.routes]]\nname = "pr"\nto = ["pr@example.com"]\nsms = ["oncall"]\ngroup_wait = "0s"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(free_port()), sms_block(phone.base), route, base=HEAD))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水了"), status("2", "孩子被艾克美保温杯烫伤了")])  # normal (quality) and urgent (safety)
    app.poll("masto")
    report = app.deliver()
    assert (report.sent, report.failed) == (1, 1)  # the SMS went; the first mail failed, the other waits its turn
    [req] = phone.seen
    form = dict(parse_qsl(req.body.decode("ascii")))
    with app.sessions() as s:
        [texted] = s.scalars(select(MessageRow).where(MessageRow.channel == "oncall")).all()  # the normal ticket is not texted
        assert texted.status == "sent"
        ticket = texted.ticket_id
        assert len(s.scalars(select(MessageRow).where(MessageRow.channel == "email")).all()) == 2
    assert json.loads(form["TemplateParam"]) == {"severity": "紧急", "brand": "艾克美", "ticket": str(ticket)}
    assert "烫伤" not in req.body.decode("ascii")


def test_an_unapproved_template_is_on_the_timeline_and_not_retried(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", "AKIDz8krbsJ5yKBZQpn74WFkmLPxEXAMPLE")
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(200, {"Response": {"Error": {"Code": "RequestLimitExceeded", "Message": "request too fast"}, "RequestId": "a"}}, once=True)
    phone.answer(200, {"Response": {"Error": {"Code": "FailedOperation.TemplateIncorrectOrUnapproved", "Message": "template unapproved"}, "RequestId": "b"}})
    route = '\n[[alerts.routes]]\nname = "management"\nsms = ["oncall"]\ngroup_wait = "0s"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), sms_block(phone.base, "tencent"), route, base=HEAD))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    assert app.deliver().failed == 1  # throttled: retried later
    clock.advance(minutes=1)
    assert app.deliver().rejected == 1
    clock.advance(hours=1)
    assert app.deliver().sent == 0 and len(phone.seen) == 2  # never again
    with app.sessions() as s:
        details = [e.detail for e in s.scalars(select(EventRow).where(EventRow.kind.in_(["message_failed", "message_rejected"])).order_by(EventRow.id))]
    assert len(details) == 2 and "RequestLimitExceeded" in details[0] and "(retrying)" in details[0]
    assert "FailedOperation.TemplateIncorrectOrUnapproved" in details[1] and "not retried" in details[1]
    hidden(" ".join(details))


def test_an_escalation_step_texts_its_sms_receiver_once_when_the_ticket_is_overdue(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(200, {"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r"})
    route = '\n[[alerts.routes]]\nname = "pr"\nto = ["pr@example.com"]\ngroup_wait = "0s"\nescalate_to = [{ after = "0s", sms = ["oncall"] }]\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), sms_block(phone.base), route, base=HEAD))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")  # urgent: due in 1 h
    app.deliver()
    assert phone.seen == []  # the route itself mails; only its escalation texts
    clock.advance(hours=1)
    assert app.remind().escalations == 1
    assert app.remind().escalations == 0  # once per step
    assert app.deliver().sent == 2  # the SMS, and the route's hourly repeat by mail
    [req] = phone.seen
    assert json.loads(dict(parse_qsl(req.body.decode("ascii")))["TemplateParam"])["ticket"] == "1"


# -- what a receiver may hold ---------------------------------------------------------------


def test_a_placeholder_with_a_format_spec_is_refused_it_would_build_a_gigabyte(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    block = sms_block("https://dysmsapi.aliyuncs.com").replace('ticket = "{id}"', 'ticket = "{link:>999999999}"')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, block, base=HEAD), source_kinds())
    assert "alerts.sms.oncall.params.ticket: 'link:>999999999' is not a placeholder" in str(info.value)


def test_keys_with_a_line_break_are_refused_by_check_and_never_quoted(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID + "\n")
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, sms_block("https://dysmsapi.aliyuncs.com"), base=HEAD), source_kinds())
    assert "alerts.sms.oncall.key_id_env: environment variable TEST_SMS_KEY_ID holds a line break" in str(info.value)
    assert KEY_ID not in str(info.value)


def test_a_provider_address_must_be_https_except_to_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, sms_block("http://sms-relay.example.com", kind="twilio", extra='from = "+15550000000"'), base=HEAD), source_kinds())
    assert "alerts.sms.oncall.base_url: 'http://sms-relay.example.com/' must be https" in str(info.value)
    assert load_config(write_config(tmp_path, sms_block("http://127.0.0.1:8025"), base=HEAD), source_kinds()).sms["oncall"]


# -- the provider's own wait (HTTP Retry-After), honoured and capped as chat's is ----------


@pytest.mark.parametrize(("make", "status", "reply"), [
    (aliyun, 429, {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}),
    (tencent, 503, b"<html>Service Unavailable</html>"),
])
def test_a_throttled_request_waits_as_long_as_the_provider_asks_capped_like_chat(phone, client, make, status, reply):
    channel = make(phone, client)
    waits = []
    for asked in ("120", "86400", "9" * 400, "Wed, 21 Oct 2015 07:28:00 GMT", "NaN", "-5"):
        phone.answer(status, reply, {"Retry-After": asked}, once=True)
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope())
        assert info.value.retryable
        waits.append(info.value.retry_after)
    # a day, or more seconds than a float holds, is cut to our own cap; a date already past, or nonsense, is no wait
    assert waits == [120.0, MAX_RETRY_AFTER, MAX_RETRY_AFTER, None, None, None]


@pytest.mark.parametrize(("make", "status", "reply"), [
    (aliyun, 429, {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}),
    (tencent, 503, b"<html>Service Unavailable</html>"),
    (lambda phone, client: twilio(phone, client, clock=lambda: NOW), 429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
])
def test_a_provider_that_names_a_date_is_retried_no_sooner_than_that_date_capped_like_chat(phone, client, make, status, reply):
    """RFC 9110 §10.2.3: Retry-After may be a date; NOW is Mon, 24 Nov 2025 16:00:00 GMT on
    the channel's clock, whatever day the tests run."""
    channel = make(phone, client)
    waits = []
    for asked in ("Mon, 24 Nov 2025 16:10:00 GMT", "Monday, 24-Nov-25 16:02:00 GMT", "Mon Nov 24 16:00:30 2025", "Fri, 31 Dec 9999 23:59:59 GMT"):
        phone.answer(status, reply, {"Retry-After": asked}, once=True)
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope())
        assert info.value.retryable
        hidden(str(info.value))
        waits.append(info.value.retry_after)
    # ten minutes, two, half of one, as asked (in each of the three forms a date may take); the year 9999 is our cap
    assert waits == [600.0, 120.0, 30.0, MAX_RETRY_AFTER]


def test_twilio_a_number_throttled_until_a_date_waits_that_long_alone(phone, client):
    channel = twilio(phone, client, to=("+15551230000", "+15551230001"), clock=lambda: NOW)
    phone.answer(201, {"sid": "SM1", "status": "queued"}, once=True)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "Mon, 24 Nov 2025 16:05:00 GMT"}, once=True)
    receipt = channel.send(envelope())
    assert isinstance(receipt, Receipt)
    [(number, refusal)] = receipt.refused.items()
    assert (number, refusal.permanent, refusal.retry_after) == ("+15551230001", False, 300.0)


def test_twilio_a_number_throttled_with_a_wait_carries_it_and_the_others_have_the_text(phone, client):
    channel = twilio(phone, client, to=("+15551230000", "+15551230001"))
    phone.answer(201, {"sid": "SM1", "status": "queued"}, once=True)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "300"}, once=True)
    receipt = channel.send(envelope())
    assert isinstance(receipt, Receipt)
    [(number, refusal)] = receipt.refused.items()
    assert (number, refusal.permanent, refusal.retry_after) == ("+15551230001", False, 300.0)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "60"}, once=True)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "90"}, once=True)
    with pytest.raises(DeliveryError) as info:
        channel.send(envelope())
    assert info.value.retry_after == 90.0  # nobody got it: the whole message waits for the longest


def test_twilio_starts_no_request_past_the_send_limit_and_leaves_those_numbers_for_a_retry(phone, client):
    numbers = ("+15551230000", "+15551230001", "+15551230002")
    phone.answer(201, {"sid": "SM1", "status": "queued"})
    settings = SmsSettings(to=numbers, key_id="AC00000000000000000000000000000001", key_secret=KEY_SECRET, sender="+15550000000", base_url=phone.base, timeout=10)
    slow = SEND_LIMIT.total_seconds() * 0.6  # each request takes the provider this long
    channel = TwilioSms("oncall", settings, client, clock=lambda: slow * len(phone.seen))
    receipt = channel.send(envelope())
    assert isinstance(receipt, Receipt)
    assert [dict(parse_qsl(r.body.decode("ascii")))["To"] for r in phone.seen] == list(numbers[:2])
    [(number, refusal)] = receipt.refused.items()
    assert number == numbers[2] and not refusal.permanent and "ran out of time" in str(refusal)


THREE = ("+15551230000", "+15551230001", "+15551230002")


@pytest.mark.parametrize(("status", "code"), [(401, 20003), (403, 20003)])
def test_twilio_keys_refused_after_a_number_has_the_text_record_it_as_told_and_refuse_the_rest_for_good(phone, client, status, code):
    """The keys rotated mid-send: the first phone has the text. Refusing the whole message
    would record nobody as told, and a retry would text that phone twice."""
    channel = twilio(phone, client, to=THREE)
    phone.answer(201, {"sid": "SM1", "status": "queued"}, once=True)
    phone.answer(status, {"code": code, "message": f"Authenticate (secret {KEY_SECRET})", "status": status}, once=True)
    receipt = channel.send(envelope())
    assert isinstance(receipt, Receipt)
    assert [dict(parse_qsl(r.body.decode("ascii")))["To"] for r in phone.seen] == list(THREE[:2])  # no request for the third
    assert {n: r.permanent for n, r in receipt.refused.items()} == {THREE[1]: True, THREE[2]: True}
    assert all("the account's keys were refused" in str(r) for r in receipt.refused.values())
    assert str(receipt).startswith(f"twilio oncall: sent to 1 number(s) ({THREE[0]}), refused ")
    hidden(str(receipt))


def test_twilio_keys_refused_for_the_first_number_refuse_the_whole_message_and_try_no_other(phone, client):
    channel = twilio(phone, client, to=THREE)
    phone.answer(401, {"code": 20003, "message": "Authenticate", "status": 401}, once=True)
    with pytest.raises(Rejected, match="HTTP 401"):
        channel.send(envelope())
    assert len(phone.seen) == 1


def test_a_throttled_text_is_not_retried_before_the_provider_allows(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(429, {"Code": "Throttling.User", "Message": "flow control"}, {"Retry-After": "600"}, once=True)
    phone.answer(200, {"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r"})
    route = '\n[[alerts.routes]]\nname = "management"\nsms = ["oncall"]\ngroup_wait = "0s"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), sms_block(phone.base), route, base=HEAD))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    assert app.deliver().failed == 1
    clock.advance(minutes=5)  # our own backoff would have tried again after 30 s
    assert app.deliver() == DeliveryReport() and len(phone.seen) == 1
    clock.advance(minutes=5)
    assert app.deliver().sent == 1 and len(phone.seen) == 2


def twilio_app(tmp_path, loopback, make_app, phone: Phone, to: tuple[str, ...]):
    """The daemon with one Twilio receiver texting ``to`` for the management route."""
    block = f"""
[alerts.sms.oncall]
kind = "twilio"
to = {json.dumps(list(to))}
from = "+15550000000"
key_id_env = "TEST_SMS_KEY_ID"
key_secret_env = "TEST_SMS_KEY_SECRET"
base_url = "{phone.base}/"
rate = "100/s"
"""
    route = '\n[[alerts.routes]]\nname = "management"\nsms = ["oncall"]\ngroup_wait = "0s"\n'
    return make_app(write_config(tmp_path, mastodon_source(loopback.base), block, route, base=HEAD))


def test_a_number_throttled_with_a_wait_is_retried_alone_no_sooner_and_the_other_phone_texted_once(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", "AC00000000000000000000000000000001")
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(201, {"sid": "SM1", "status": "queued"}, once=True)
    phone.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "600"}, once=True)
    phone.answer(201, {"sid": "SM2", "status": "queued"})
    app = twilio_app(tmp_path, loopback, make_app, phone, ("+15551230000", "+15551230001"))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    assert app.deliver().sent == 1  # the first phone has it; the second waits, alone
    clock.advance(minutes=5)
    assert app.deliver() == DeliveryReport()
    clock.advance(minutes=5)
    assert app.deliver().sent == 1
    clock.advance(hours=1)
    assert app.deliver() == DeliveryReport()
    assert [dict(parse_qsl(r.body.decode("ascii")))["To"] for r in phone.seen] == ["+15551230000", "+15551230001", "+15551230001"]


def test_keys_refused_mid_send_the_phone_that_has_the_text_is_told_once_and_the_timeline_says_who(tmp_path, loopback, make_app, clock, phone, monkeypatch):
    monkeypatch.setenv("TEST_SMS_KEY_ID", "AC00000000000000000000000000000001")
    monkeypatch.setenv("TEST_SMS_KEY_SECRET", KEY_SECRET)
    phone.answer(201, {"sid": "SM1", "status": "queued"}, once=True)
    phone.answer(401, {"code": 20003, "message": "Authenticate", "status": 401}, once=True)
    phone.answer(201, {"sid": "SM2", "status": "queued"})  # the keys fixed: any retry would be texted
    app = twilio_app(tmp_path, loopback, make_app, phone, THREE)
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    assert app.deliver().sent == 1
    for _ in range(3):
        clock.advance(hours=1)
        assert app.deliver() == DeliveryReport()
    assert [dict(parse_qsl(r.body.decode("ascii")))["To"] for r in phone.seen] == list(THREE[:2])  # the first phone once, the third never
    with app.sessions() as s:
        rows = {tuple(m.recipients): m.status for m in s.scalars(select(MessageRow).where(MessageRow.channel == "oncall"))}
        events = {e.kind: e.detail for e in s.scalars(select(EventRow).where(EventRow.kind == "message_sent"))}
        rejected = [e.detail for e in s.scalars(select(EventRow).where(EventRow.kind == "message_rejected").order_by(EventRow.id))]
    assert rows == {(): "sent", (THREE[1],): "failed", (THREE[2],): "failed"}  # (): the receiver's own numbers
    assert f"sent to 1 number(s) ({THREE[0]})" in events["message_sent"]
    assert len(rejected) == 2 and all("the account's keys were refused" in d and "not retried" in d for d in rejected)
    assert THREE[1] in rejected[0] and THREE[2] in rejected[1]
    hidden(" ".join([events["message_sent"], *rejected]))


def test_a_provider_that_drips_its_reply_is_cut_off_at_the_send_limit(tmp_path, loopback, make_app):
    """A per-read timeout never fires on a reply that comes a byte at a time, so the send
    would outlast ``SEND_LIMIT`` and with it the claim: another process would text the
    phone again. Through the daemon's own client, the request ends where the send must."""
    from tests.hostile import HostileServer

    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), base=HEAD))
    body = b'{"sid": "SM1", "status": "queued"}'

    def drip(conn) -> None:
        """Headers a byte every 50 ms for 3 s; then the rest, at once."""
        for byte in b"HTTP/1.1 201 Created\r\nX-Slow: " + b"a" * 60:
            conn.sendall(bytes([byte]))
            if server.released.wait(0.05):
                return
        conn.sendall(b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))

    server = HostileServer(default=drip)
    start = NOW
    ticks = iter([start])  # the send begins at NOW; every later reading finds half a second left
    settings = SmsSettings(to=("+15551230000",), key_id="AC00000000000000000000000000000001", key_secret=KEY_SECRET, sender="+15550000000", base_url=server.base, timeout=30)
    channel = TwilioSms("oncall", settings, app.chat_client, clock=lambda: next(ticks, start + SEND_LIMIT.total_seconds() - 0.5))
    try:
        with pytest.raises(DeliveryError) as info:
            channel.send(envelope())
    finally:
        server.close()
    assert info.value.retryable and "no answer in time" in str(info.value)
