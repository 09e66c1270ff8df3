"""Slack incoming webhook: ``{"text": ...}`` in mrkdwn, the subject in bold.

Slack asks for ``&``, ``<`` and ``>`` to be escaped as HTML entities (otherwise ``<...>``
is read as a link or mention such as ``<!channel>``). It truncates text beyond 40,000
characters; we cut at 40,000 bytes, which is never more characters. Success is HTTP 200
with the body ``ok``; failures are 4xx with a short reason (``invalid_payload``,
``no_service``, ``channel_not_found``), so the status decides and the reason is quoted.
"""

from __future__ import annotations

import re
from typing import Any

from alerts.channels import Envelope
from alerts.chat.base import ELLIPSIS, ChatChannel, ChatRefusal, truncate_utf8

_CUT_ENTITY = re.compile(r"&[a-z]{0,4}" + ELLIPSIS + r"\Z")


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(ChatChannel):
    kind = "slack"
    max_bytes = 40_000

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        text = truncate_utf8(f"*{slack_escape(envelope.subject)}*\n{slack_escape(envelope.text)}", self.max_bytes)
        return {"text": _CUT_ENTITY.sub(ELLIPSIS, text)}  # never end on half an "&amp;"

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        if 200 <= status < 300 and reply.strip() != b"ok":
            return ChatRefusal(None, f"unexpected reply: {self.excerpt(reply)}")
        return None
