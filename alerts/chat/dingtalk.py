"""DingTalk (钉钉) custom robot: ``msgtype: markdown`` with title and text.

With a secret (安全设置 "加签") the URL gets ``&timestamp=<ms>&sign=<sig>``, where sig is
base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded; DingTalk
rejects a timestamp more than an hour off, so the host clock matters.

Limits: 20 messages a minute per robot, then throttled for 10 minutes (errcode 130101,
"send too fast, exceed 20 times per minute"; open.dingtalk.com custom-robot-access).
The markdown size limit is not stated on the robot pages we could find; 20000 bytes is
the figure commonly cited, so that is what we cut at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus, urlsplit

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel, ChatRefusal


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """The "加签" signature, before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(ChatChannel):
    kind = "dingtalk"
    max_bytes = 20_000
    retry_codes = frozenset({130101, -1})  # send too fast; -1 system busy

    def target(self) -> str:
        if not self.secret:
            return self.url
        timestamp = str(int(self.clock() * 1000))
        joiner = "&" if urlsplit(self.url).query else "?"
        return f"{self.url}{joiner}timestamp={timestamp}&sign={quote_plus(dingtalk_sign(self.secret, timestamp))}"

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": envelope.subject, "text": self.body_text(envelope, "### ")}}

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        return self.json_refusal(status, reply, ("errcode",), ("errmsg",))
