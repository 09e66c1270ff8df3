"""Feishu / Lark (飞书) custom bot: ``msg_type: post`` (rich text) with the subject as
title and the text as one literal text element, so nothing in a post is read as an
``<at>`` tag.

With a secret (签名校验) the body carries ``timestamp`` (Unix seconds, as a string) and
``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")).

Replies are ``{"code": 0, "msg": "success", ...}`` (older ones ``StatusCode`` /
``StatusMessage``). Rate limit: 100 requests a minute and 5 a second per bot; exceeding
it answers code 11232 ("frequency limited"); the open platform's general limit answers
99991400 (sometimes with HTTP 400), so both are retryable. 9499 is Feishu's generic "Bad
Request" (malformed payload), permanent like 19021 (sign match fail) and 19024 (keyword
missing). The request body may be at most 20 KB; the text is cut at 18000 bytes to leave
room for the JSON around it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel, ChatRefusal, truncate_utf8


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu's signature: the HMAC *key* is timestamp + secret, the message is empty."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuChannel(ChatChannel):
    kind = "feishu"
    max_bytes = 18_000
    retry_codes = frozenset({11232, 99991400})

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        text = truncate_utf8(envelope.text, self.max_bytes)
        body: dict[str, Any] = {
            "msg_type": "post",
            "content": {"post": {"zh_cn": {"title": envelope.subject, "content": [[{"tag": "text", "text": text}]]}}},
        }
        if self.secret:
            timestamp = str(int(self.clock()))
            body.update(timestamp=timestamp, sign=feishu_sign(self.secret, timestamp))
        return body

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        return self.json_refusal(status, reply, ("code", "StatusCode"), ("msg", "StatusMessage"))
