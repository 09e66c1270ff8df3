"""WeCom (企业微信) group robot: ``msgtype: markdown``; no signing (the ``key`` in the URL
is the credential).

Limits (developer.work.weixin.qq.com, 群机器人配置说明): markdown content at most 4096
bytes of UTF-8; at most 20 messages a minute per robot (errcode 45009, "api freq out of
limit", when exceeded).
"""

from __future__ import annotations

from typing import Any

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel, ChatRefusal


class WeComChannel(ChatChannel):
    kind = "wecom"
    max_bytes = 4096
    retry_codes = frozenset({45009, -1})  # api freq out of limit; -1 system busy

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": self.body_text(envelope, "### ")}}

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        return self.json_refusal(status, reply, ("errcode",), ("errmsg",))
