"""Chat webhook channels: DingTalk, WeCom, Feishu/Lark, Slack and a signed generic JSON
webhook, and the phone push receivers Bark, ntfy and Telegram, one small module each; the
shared POST, error mapping and truncation live in ``base.py``.

Why not Apprise? It covers these platforms and a hundred more, and for a long tail of
services it would be the right tool. For the few we need it costs more than it saves:

- it sends through ``requests``, not our ``httpx.Client``, so our timeouts, proxy
  settings and test transports (respx, loopback) do not apply to it;
- ``notify()`` answers only True/False: whether a failure is worth retrying (a rate
  limit or a 502) or permanent (a revoked token, a keyword the robot refuses), and the
  platform's own error text, are lost, and our outbox needs exactly those to decide
  between "retry in a minute" and "tell the operator";
- it brings its whole plugin set and their dependencies for five endpoints.

Each channel here is about thirty lines against a documented HTTP API. If a user ever
needs a service we lack, an Apprise-backed channel (False -> retryable DeliveryError) can
be added beside these without changing them.
"""

from __future__ import annotations

import httpx

from alerts.chat.bark import BarkChannel
from alerts.chat.base import ChatChannel, ChatRefusal, Refusal, truncate_utf8
from alerts.chat.dingtalk import DingTalkChannel, dingtalk_sign
from alerts.chat.feishu import FeishuChannel, feishu_sign
from alerts.chat.ntfy import NtfyChannel
from alerts.chat.slack import SlackChannel, slack_escape
from alerts.chat.telegram import TelegramChannel
from alerts.chat.webhook import WebhookChannel, verify_signature, webhook_signature
from alerts.chat.wecom import WeComChannel

CHAT_KINDS: dict[str, type[ChatChannel]] = {
    "dingtalk": DingTalkChannel,
    "wecom": WeComChannel,
    "feishu": FeishuChannel,
    "lark": FeishuChannel,  # Lark is Feishu's international edition: same API and signing
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "bark": BarkChannel,
    "ntfy": NtfyChannel,
    "telegram": TelegramChannel,
}


def make_chat_channel(
    kind: str, name: str, url: str, client: httpx.Client, secret: str | None = None, timeout: float | None = None, **options: str
) -> ChatChannel:
    """The channel for a configured ``kind``; ValueError (fit to show a user) for an
    unknown kind, a URL that is not http(s) or a missing setting. ``url`` may be empty for
    a kind with a public endpoint (Bark, Telegram); ``options`` are kind-specific
    (``chat_id``, ``group``)."""
    cls = CHAT_KINDS.get(kind.strip().lower())
    if cls is None:
        raise ValueError(f"unknown chat channel kind {kind!r} (known: {', '.join(CHAT_KINDS)})")
    return cls(name, url, client, secret=secret, timeout=timeout, options=options)


__all__ = [
    "CHAT_KINDS",
    "BarkChannel",
    "ChatChannel",
    "ChatRefusal",
    "DingTalkChannel",
    "FeishuChannel",
    "NtfyChannel",
    "Refusal",
    "SlackChannel",
    "TelegramChannel",
    "WeComChannel",
    "WebhookChannel",
    "dingtalk_sign",
    "feishu_sign",
    "make_chat_channel",
    "slack_escape",
    "truncate_utf8",
    "verify_signature",
    "webhook_signature",
]
