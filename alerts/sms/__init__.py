"""SMS receivers: Aliyun, Tencent Cloud and Twilio, one small module each; what an SMS
may say, the outcomes and the key hygiene live in ``base.py``. Each provider signs its
requests exactly as its documentation says, and each signer is tested against the worked
example that documentation publishes."""

from __future__ import annotations

import httpx

from alerts.sms.aliyun import AliyunSms, aliyun_signature, aliyun_string_to_sign
from alerts.sms.base import PLACEHOLDERS, SmsChannel, SmsSettings, is_phone_number, placeholders, secure_enough
from alerts.sms.tencent import TencentSms, tc3_authorization, tc3_signature, tc3_string_to_sign
from alerts.sms.twilio import TwilioSms, basic_auth

SMS_KINDS: dict[str, type[SmsChannel]] = {"aliyun": AliyunSms, "tencent": TencentSms, "twilio": TwilioSms}

DEFAULT_SMS_RATES: dict[str, str] = {
    # Aliyun's default flow control per number (通知短信): 1 a minute, 5 an hour, 10 a day
    "aliyun": "1/m, 5/h, 10/d",
    # Tencent Cloud's default frequency limits per number: 1 in 30 s, 5 an hour, 10 a day
    "tencent": "1/30s, 5/h, 10/d",
    # Twilio: one message a second from a long code
    "twilio": "1/s",
}


def make_sms_channel(kind: str, name: str, settings: SmsSettings, client: httpx.Client) -> SmsChannel:
    cls = SMS_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown SMS kind {kind!r} (known: {', '.join(SMS_KINDS)})")
    return cls(name, settings, client)


__all__ = [
    "DEFAULT_SMS_RATES",
    "PLACEHOLDERS",
    "SMS_KINDS",
    "AliyunSms",
    "SmsChannel",
    "SmsSettings",
    "TencentSms",
    "TwilioSms",
    "aliyun_signature",
    "aliyun_string_to_sign",
    "basic_auth",
    "is_phone_number",
    "make_sms_channel",
    "placeholders",
    "secure_enough",
    "tc3_authorization",
    "tc3_signature",
    "tc3_string_to_sign",
]
