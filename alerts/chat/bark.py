"""Bark (iOS push notifications through Apple's APNs; the server is open source and
self-hostable): one JSON POST to the server's ``/push``.

API: bark-server's V2 API, https://github.com/Finb/bark-server/blob/master/docs/API_V2.md
(fields ``device_key``, ``title``, ``body``, ``level``, ``group``, ``url``), and the app's
parameter list, https://github.com/Finb/Bark/blob/master/README.md (``level=critical``:
重要警告, rings through mute and Do Not Disturb; ``timeSensitive``: shown during Focus;
``active``: the default, lights the screen; ``passive``: list only).

- ``url``: the server, ``https://api.day.app`` unless you run your own bark-server.
- ``secret_env``: the environment variable holding the device key the app shows. It goes
  in the JSON body, never in the URL (the app's ``/:key/:body`` form would put it in every
  proxy's access log).
- ``level`` follows the message's severity: urgent -> ``critical``, important ->
  ``timeSensitive``, normal -> ``active``; a message about no ticket (the digest) is
  ``passive``. ``group`` (default ``monitor``) gathers our pushes in the app's history.
- ``url`` in the push is the ticket's one-click acknowledge link (or its page): tapping the
  notification acknowledges it.

Replies are ``{"code": 200, "message": "success", ...}``; a refusal (an unknown device key,
say) is HTTP 400 with the reason in ``message``: permanent. 429 and 5xx retry. APNs takes
at most 4 KB of payload, so the body is cut at 3000 bytes and the title at 300.
"""

from __future__ import annotations

from typing import Any, ClassVar

from alerts.channels import Envelope
from alerts.chat.base import ChatChannel, ChatRefusal, json_object, truncate_utf8
from alerts.model import Severity

LEVELS = {Severity.urgent: "critical", Severity.important: "timeSensitive", Severity.normal: "active"}
NO_TICKET_LEVEL = "passive"


class BarkChannel(ChatChannel):
    kind = "bark"
    max_bytes = 3000
    default_url = "https://api.day.app"
    needs_secret = "device key"
    option_names = ("group",)
    title_bytes: ClassVar[int] = 300

    def target(self) -> str:
        return self.url.rstrip("/") + "/push"

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        brief = envelope.brief
        body: dict[str, Any] = {
            "device_key": self.secret,
            "title": truncate_utf8(envelope.subject, self.title_bytes),
            "body": truncate_utf8(envelope.text, self.max_bytes),
            "level": LEVELS[brief.severity] if brief else NO_TICKET_LEVEL,
            "group": self.options.get("group", "monitor"),
        }
        if brief and brief.link:
            body["url"] = brief.link
        return body

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        data = json_object(reply)
        if data is None or "code" not in data:
            return self.stranger(status, reply, "a Bark server")
        if data.get("code") == 200 and 200 <= status < 300:
            return None
        return ChatRefusal(data.get("code"), str(data.get("message") or ""))
