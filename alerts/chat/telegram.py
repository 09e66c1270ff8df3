"""Telegram bot: the Bot API's ``sendMessage`` to one chat.

API: https://core.telegram.org/bots/api#sendmessage (``chat_id``, ``text`` of 1-4096
characters, ``link_preview_options``, ``reply_markup`` with an inline keyboard button),
errors and ``ResponseParameters.retry_after``: https://core.telegram.org/bots/api#making-requests
and https://core.telegram.org/bots/api#responseparameters; limits:
https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this (about one
message a second in a chat, 20 a minute in a group).

- ``secret_env``: the environment variable holding the bot token BotFather gave. It sits
  in the request path (``/bot<token>/sendMessage``), so every error we write has it
  replaced by ``***``, and the URL is never logged.
- ``chat_id``: the chat, group (a negative number) or ``@channelname``.
- ``url``: the API server, ``https://api.telegram.org`` unless you run a local Bot API
  server (or a test does).
- Plain text, no ``parse_mode``: nothing in a post can be read as markup. The one-click
  acknowledge link is in the text and, when it is https, also an inline button under the
  message (Telegram refuses some http addresses in buttons, and a refused button would
  lose the whole message).

Replies are ``{"ok": true, ...}`` or ``{"ok": false, "error_code": 400, "description":
"Bad Request: chat not found"}``. 429 ("Too Many Requests: retry after 35", with
``parameters.retry_after``) and 5xx retry, after at least the wait Telegram asks for
(capped); 400, 401 (a revoked token), 403 (the bot was blocked or removed) and 404 are
permanent.
"""

from __future__ import annotations

from typing import Any

from alerts._http import wait_seconds
from alerts.channels import Envelope
from alerts.chat.base import ELLIPSIS, ChatChannel, ChatRefusal, json_object

MAX_UNITS = 4096
"""Telegram counts a message's length in UTF-16 code units."""


def cut_utf16(text: str, units: int = MAX_UNITS, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it is at most ``units`` UTF-16 code units long, else the longest
    prefix that fits with ``ellipsis``, never splitting a surrogate pair."""
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= units:
        return text
    room = units - len(ellipsis.encode("utf-16-le")) // 2
    kept: list[str] = []
    for char in text:
        room -= 2 if ord(char) > 0xFFFF else 1
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + ellipsis


class TelegramChannel(ChatChannel):
    kind = "telegram"
    default_url = "https://api.telegram.org"
    needs_secret = "bot token"
    option_names = ("chat_id",)
    required_options = ("chat_id",)

    def target(self) -> str:
        return f"{self.url.rstrip('/')}/bot{self.secret}/sendMessage"

    def payload(self, envelope: Envelope) -> dict[str, Any]:
        body: dict[str, Any] = {
            "chat_id": self.options["chat_id"],
            "text": cut_utf16(f"{envelope.subject}\n\n{envelope.text}"),
            "link_preview_options": {"is_disabled": True},
        }
        link = envelope.brief.link if envelope.brief else ""
        if link.startswith("https://"):
            body["reply_markup"] = {"inline_keyboard": [[{"text": "确认 Acknowledge", "url": link}]]}
        return body

    def refusal(self, status: int, reply: bytes) -> ChatRefusal | None:
        data = json_object(reply)
        if data is None or "ok" not in data:
            return self.stranger(status, reply, "the Bot API")
        if data["ok"] is True:
            return None
        parameters = data.get("parameters")
        wait = wait_seconds(parameters.get("retry_after")) if isinstance(parameters, dict) else None
        return ChatRefusal(data.get("error_code"), str(data.get("description") or ""), wait)
