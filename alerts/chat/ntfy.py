"""ntfy (push to Android, iOS and the browser; ntfy.sh or a self-hosted server): the
message is the plain-text body of a POST to the topic's URL, described by headers.

API: https://docs.ntfy.sh/publish/ (``Title``, ``Priority`` 1-5 with 5 = max/urgent,
``Tags``, ``Click``; ``Authorization: Bearer <token>`` for a protected topic, per
https://docs.ntfy.sh/publish/#access-tokens).

- ``url_env``: the environment variable holding the topic URL (``https://ntfy.sh/<topic>``):
  on a public server the topic name is the password, so it stays out of the file.
- ``secret_env`` (optional): the access token (``tk_…``) of a protected topic.
- ``Priority`` follows the severity: urgent 5 (max: a long vibration, through Do Not
  Disturb where the phone allows), important 4, normal 3; a message about no ticket 2.
- ``Click`` is the ticket's one-click acknowledge link (or its page): tapping the
  notification acknowledges it.
- The title is sent as RFC 2047 encoded words (``=?utf-8?b?…?=``) when it is not ASCII:
  HTTP headers are Latin-1 on the wire, and ntfy (2.4.0 and later) decodes them.

ntfy answers 200 with the message as JSON; refusals carry ``{"code": 40301, "http": 403,
"error": "forbidden"}``. 429 (ntfy.sh allows a burst of 60 requests, then one every 5
seconds) and 5xx retry; 400, 401, 403 and 404 are permanent. A body over 4096 bytes
would arrive as an attachment, so the text is cut to fit.
"""

from __future__ import annotations

import base64

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel, ChatRefusal, json_object, truncate_utf8
from alerts.model import Severity

PRIORITIES = {Severity.urgent: "5", Severity.important: "4", Severity.normal: "3"}
NO_TICKET_PRIORITY = "2"
TAGS = {Severity.urgent: "rotating_light", Severity.important: "warning", Severity.normal: "bell"}


def encode_header(text: str, chunk_bytes: int = 45) -> str:
    """``text`` as-is when it is printable ASCII, else RFC 2047 "B" encoded words of at
    most ``chunk_bytes`` bytes each, split between characters, joined by spaces (which a
    decoder drops between encoded words)."""
    text = " ".join(text.split())
    if text.isascii() and text.isprintable():
        return text
    words, chunk = [], b""
    for char in text:
        data = char.encode("utf-8", "replace")  # a lone surrogate from a post becomes "?"
        if chunk and len(chunk) + len(data) > chunk_bytes:
            words.append(chunk)
            chunk = b""
        chunk += data
    if chunk:
        words.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


class NtfyChannel(ChatChannel):
    kind = "ntfy"
    max_bytes = 4096
    content_type = "text/plain; charset=utf-8"

    def body(self, envelope: Envelope) -> bytes:
        return truncate_utf8(envelope.text, self.max_bytes).encode("utf-8", "replace")

    def message_headers(self, envelope: Envelope) -> dict[str, str]:
        brief = envelope.brief
        headers = {"Title": encode_header(envelope.subject), "Priority": PRIORITIES[brief.severity] if brief else NO_TICKET_PRIORITY}
        if brief:
            headers["Tags"] = TAGS[brief.severity]
            if brief.link:
                headers["Click"] = brief.link
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        return headers

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        if 200 <= status < 300:
            return None
        data = json_object(reply)
        if data is not None and "error" in data:
            return ChatRefusal(data.get("code"), str(data.get("error") or ""))
        return None
