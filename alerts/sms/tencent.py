"""Tencent Cloud (腾讯云) SMS: API 3.0 ``SendSms`` (version 2021-01-11), signed with
TC3-HMAC-SHA256.

Signature, as https://cloud.tencent.com/document/api/362/4208 (签名方法 v3; the same text
is in every product's API docs, SMS's English one at
https://www.tencentcloud.com/document/product/382/40467) specifies:

1. CanonicalRequest = ``POST\\n/\\n\\n`` + ``content-type:<ct>\\nhost:<host>\\n`` + ``\\n`` +
   ``content-type;host\\n`` + hex(SHA256(payload));
2. StringToSign = ``TC3-HMAC-SHA256\\n<timestamp>\\n<UTC date>/<service>/tc3_request\\n`` +
   hex(SHA256(CanonicalRequest));
3. key = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request");
   Signature = hex(HMAC-SHA256(key, StringToSign));
4. ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request,
   SignedHeaders=content-type;host, Signature=<sig>``.

The worked example of that page (CVM ``DescribeInstances``, timestamp 1551113065, signature
``2230eefd…652c``) is the test.

SendSms: https://cloud.tencent.com/document/api/382/55981 (``PhoneNumberSet`` in E.164,
``SmsSdkAppId``, ``SignName``, ``TemplateId``, ``TemplateParamSet`` in the template's
order). Each number gets its own ``SendStatusSet`` entry (``"Code": "Ok"``); a refused
number is reported on its own and retried alone when the refusal is temporary. A request
error (``Response.Error``): ``RequestLimitExceeded*``, ``LimitExceeded.PhoneNumber*`` (the
per-number frequency limits), ``InternalError*`` and an empty package retry;
``AuthFailure.*``, ``FailedOperation.TemplateIncorrectOrUnapproved``,
``FailedOperation.SignatureIncorrectOrUnapproved``, ``FailedOperation.PhoneNumberInBlacklist``,
``InvalidParameterValue.*`` are permanent. The pages we found state no one variable limit
for every account, so variables are cut to a conservative 12 characters by default: set
``param_limit`` to what your approved template allows. Tencent does not accept links as variables (its template FAQ,
https://cloud.tencent.com/document/product/382/13301): put the console's address in the
template itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

from alerts.channels import Receipt
from alerts.errors import Refusal
from alerts.model import Brief
from alerts.sms.base import SmsChannel

CONTENT_TYPE = "application/json; charset=utf-8"


def tc3_string_to_sign(*, host: str, service: str, payload: bytes, timestamp: int, content_type: str = CONTENT_TYPE) -> str:
    canonical = f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{hashlib.sha256(payload).hexdigest()}"
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def tc3_signature(secret_key: str, *, host: str, service: str, payload: bytes, timestamp: int, content_type: str = CONTENT_TYPE) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")

    def step(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = step(step(step(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    to_sign = tc3_string_to_sign(host=host, service=service, payload=payload, timestamp=timestamp, content_type=content_type)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(secret_id: str, secret_key: str, *, host: str, service: str, payload: bytes, timestamp: int) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signature = tc3_signature(secret_key, host=host, service=service, payload=payload, timestamp=timestamp)
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={signature}"


def _later(code: str) -> bool:
    return code.startswith(("RequestLimitExceeded", "LimitExceeded.PhoneNumber", "InternalError")) or code in {
        "FailedOperation.InsufficientBalanceInSmsPackage", "LimitExceeded.DeliveryFrequencyLimit",
    }


class TencentSms(SmsChannel):
    kind = "tencent"
    default_url = "https://sms.tencentcloudapi.com/"
    param_limit = 12

    def later(self, code: str) -> bool:
        return _later(code)

    def headers(self, payload: bytes) -> dict[str, str]:
        host = urlsplit(self.url).netloc
        timestamp = int(self.clock())
        return {
            "Authorization": tc3_authorization(self.settings.key_id, self.settings.key_secret, host=host, service="sms", payload=payload, timestamp=timestamp),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.settings.region or "ap-guangzhou",
        }

    def payload(self, brief: Brief, numbers: tuple[str, ...]) -> bytes:
        s = self.settings
        body = {
            "PhoneNumberSet": list(numbers), "SmsSdkAppId": s.app_id, "SignName": s.sign_name, "TemplateId": s.template,
            "TemplateParamSet": list(self.params(brief).values()),
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def deliver(self, brief: Brief, numbers: tuple[str, ...]) -> str | Receipt:
        payload = self.payload(brief, numbers)
        status, reply, wait = self.post(self.url, payload, self.headers(payload))
        try:
            data = json.loads(reply)
        except ValueError:
            data = None
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            self.fail(status, "", ("unexpected reply (is this Tencent Cloud's API?): " if 200 <= status < 300 else "") + self.shorten(reply.decode("utf-8", "replace")), wait)
        error = response.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code") or "")
            self.fail(status, code, str(error.get("Message") or ""), wait)
        if not 200 <= status < 300:
            self.fail(status, "", "", wait)
        sent: list[str] = []
        refused: dict[str, Refusal] = {}
        for entry in response.get("SendStatusSet") or []:
            number, code = str(entry.get("PhoneNumber") or ""), str(entry.get("Code") or "")
            if code == "Ok":
                sent.append(number)
            else:
                refused[number] = self.refusal(code, str(entry.get("Message") or ""), _later(code))
        return self.conclude(sent, refused)
