"""Twilio SMS: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``To``,
``From`` and ``Body`` as a form, one request per number.

Authentication is HTTP basic auth, user = Account SID, password = Auth Token
(https://www.twilio.com/docs/usage/requests-to-twilio), encoded as RFC 7617 says:
``Basic `` + base64(user + ":" + password); RFC 7617's own example
(https://www.rfc-editor.org/rfc/rfc7617#section-2, ``Aladdin`` / ``open sesame``) is the
test. API: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
(a Body of at most 1600 characters). Replies: 201 with the message; errors
``{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}``. 429 (code
20429) and 5xx retry that number; any other 4xx refuses that number for good (21211
invalid, 21610 unsubscribed). 401 and 403 are about the account's keys, not the number:
before any number has the text they refuse the whole message; once one has it (the keys
rotated mid-send), they refuse that number and those not tried for good, and the receipt
records the numbers that have it as told. Refusing the whole message then would record
nobody as told, and a retry would text those phones twice.

Twilio has no approved templates: ``template`` is the body, with the same placeholders as
the parameters of the others, ``"[{brand}] {severity_en} alert: ticket #{id} {link}"``
unless you write your own.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

from alerts.channels import SEND_LIMIT, Receipt
from alerts.errors import DeliveryError, Refusal
from alerts.model import Brief
from alerts.sms.base import SmsChannel, cut, fill

DEFAULT_BODY = "[{brand}] {severity} {severity_en} alert: ticket #{id} {link}"
MAX_BODY = 1600
KEYS_REFUSED = "the account's keys were refused (Account SID / Auth Token)"


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP basic auth (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class TwilioSms(SmsChannel):
    kind = "twilio"
    default_url = "https://api.twilio.com"
    param_limit = MAX_BODY

    def body(self, brief: Brief) -> str:
        return cut(" ".join(fill(self.settings.template or DEFAULT_BODY, brief).split()), MAX_BODY)

    def deliver(self, brief: Brief, numbers: tuple[str, ...]) -> str | Receipt:
        s = self.settings
        url = f"{self.url.rstrip('/')}/2010-04-01/Accounts/{s.key_id}/Messages.json"
        headers = {"Authorization": basic_auth(s.key_id, s.key_secret), "Content-Type": "application/x-www-form-urlencoded"}
        text = self.body(brief)
        sent: list[str] = []
        refused: dict[str, Refusal] = {}
        until = self.deadline()
        for index, number in enumerate(numbers):
            if self.clock() >= until:  # one request per number: the rest wait for the next send
                refused[number] = self.refusal("not tried", f"the send ran out of time ({SEND_LIMIT.total_seconds():g}s)", True)
                continue
            try:
                status, reply, wait = self.post(url, urlencode({"To": number, "From": s.sender, "Body": text}).encode("ascii"), headers, until=until)
            except DeliveryError as exc:
                refused[number] = self.refusal("transport", str(exc), True)
                continue
            if 200 <= status < 300:
                sent.append(number)
                continue
            try:
                data = json.loads(reply)
            except ValueError:
                data = {}
            code, message = str(data.get("code") or status) if isinstance(data, dict) else str(status), str(data.get("message") or "") if isinstance(data, dict) else ""
            if status in (401, 403):  # the account's keys: no number will do better
                if not sent:
                    self.fail(status, code, message)
                # some phones have the text: they are recorded as told, and the rest refused for good
                refused[number] = self.refusal(code, f"{message} (HTTP {status}: {KEYS_REFUSED})", False)
                for later in numbers[index + 1 :]:
                    refused[later] = self.refusal("not tried", f"HTTP {status} to an earlier number: {KEYS_REFUSED}", False)
                break
            refused[number] = self.refusal(code, message, status == 429 or status >= 500, wait)
        return self.conclude(sent, refused)
