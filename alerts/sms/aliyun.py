"""Aliyun (阿里云) SMS: the RPC API ``SendSms`` (dysmsapi, version 2017-05-25), signed
with the RPC signature (V2, HMAC-SHA1).

Signature, as https://help.aliyun.com/document_detail/25492.html (V2版本RPC风格请求体&签名机制)
specifies: every parameter except ``Signature``, sorted by name, each name and value
percent-encoded per RFC 3986 (space ``%20``, ``*`` ``%2A``, ``~`` kept), joined as
``k=v&…``; StringToSign = ``METHOD&%2F&`` + the encoded query; Signature =
base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)). The worked example the docs
publish (https://developer.aliyun.com/ask/210168, ``testid`` / ``testsecret``) is the test.

SendSms: https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendsms
(``PhoneNumbers`` comma-separated, ``SignName``, ``TemplateCode``, ``TemplateParam`` as
JSON). Template variables take at most 35 characters by default
(https://help.aliyun.com/zh/document_detail/3041859.html); we cut to that. The reply is
``{"Code": "OK", ...}`` or a code: throttling (``isv.BUSINESS_LIMIT_CONTROL``, the
per-number flow control; ``Throttling.User``), a busy system and an empty balance retry;
``isv.SMS_TEMPLATE_ILLEGAL``, ``isv.SMS_SIGNATURE_ILLEGAL``, ``isv.MOBILE_NUMBER_ILLEGAL``,
``isv.BLACK_KEY_CONTROL_LIMIT``, ``SignatureDoesNotMatch``, ``InvalidAccessKeyId.NotFound``
and the rest are permanent. One code answers for every number of a request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from alerts.channels import Receipt
from alerts.model import Brief
from alerts.sms.base import SmsChannel


def percent(text: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's signature wants it."""
    return quote(text, safe="-_.~")


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent('/')}&{percent(query)}"


def aliyun_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms(SmsChannel):
    kind = "aliyun"
    default_url = "https://dysmsapi.aliyuncs.com/"
    param_limit = 35
    retry_codes = frozenset(
        {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError", "isv.AMOUNT_NOT_ENOUGH"}
    )

    def request(self, brief: Brief, numbers: tuple[str, ...]) -> dict[str, str]:
        """The signed parameters of one SendSms call."""
        s = self.settings
        params = {
            "AccessKeyId": s.key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": ",".join(numbers),
            "RegionId": s.region or "cn-hangzhou",
            "SignName": s.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self.nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": s.template,
            "TemplateParam": json.dumps(self.params(brief), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        return {**params, "Signature": aliyun_signature("POST", params, s.key_secret)}

    def deliver(self, brief: Brief, numbers: tuple[str, ...]) -> str | Receipt:
        params = self.request(brief, numbers)
        body = "&".join(f"{percent(k)}={percent(v)}" for k, v in params.items()).encode("ascii")
        status, reply, wait = self.post(self.url, body, {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            data = json.loads(reply)
        except ValueError:
            data = None
        code = str(data.get("Code") or "") if isinstance(data, dict) else ""
        if 200 <= status < 300 and code == "OK":
            return f"aliyun {self.name}: sent to {len(numbers)} number(s)"
        message = str(data.get("Message") or "") if isinstance(data, dict) else self.shorten(reply.decode("utf-8", "replace"))
        if 200 <= status < 300 and not code:
            message = f"unexpected reply (is this Aliyun's SMS API?): {message}"
        self.fail(status, code, message, wait)
