"""Generic JSON webhook, for a receiver of your own (a ticket system, a bridge, n8n).

Body: ``{"subject", "text", "key", "message_id", "created_at"}`` (``created_at`` in ISO
8601); ``key`` is the outbox key, so a receiver can drop a retried duplicate. Any 2xx is
success.

With a secret, two headers::

    X-Monitor-Timestamp: 1764000000
    X-Monitor-Signature: sha256=<hex HMAC-SHA256(secret, b"1764000000." + raw_body)>

A receiver verifies before parsing: take the raw request body (bytes, not re-serialized
JSON), the timestamp header and the signature header, and call
``verify_signature(secret, timestamp, body, signature, now=time.time())``; or by hand:
recompute the HMAC over ``f"{timestamp}.".encode() + body``, compare with
``hmac.compare_digest``, and refuse timestamps more than five minutes off, so a captured
request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Monitor-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, timestamp: str | int, body: bytes | str, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """True when ``signature`` is ours for this body and timestamp, and the timestamp is
    within ``tolerance`` seconds of ``now`` (Unix seconds). Constant-time comparison."""
    stamp = str(timestamp).strip()
    try:
        sent = int(stamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = webhook_signature(secret, stamp, raw)
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


class WebhookChannel(ChatChannel):
    kind = "webhook"

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        return {
            "subject": envelope.subject,
            "text": envelope.text,
            "key": envelope.key,
            "message_id": envelope.message_id,
            "created_at": envelope.created_at.isoformat(),
        }

    def headers(self, body: bytes) -> dict[str, str]:
        if not self.secret:
            return {}
        timestamp = str(int(self.clock()))
        return {"X-Monitor-Timestamp": timestamp, "X-Monitor-Signature": webhook_signature(self.secret, timestamp, body)}
