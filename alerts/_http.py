"""One HTTP call to a receiver (a chat robot, a push server, an SMS provider), shared by
every kind so their outcomes and their care with secrets cannot drift apart: at most
``MAX_REPLY_BYTES`` of a reply are read, every failure is a ``DeliveryError`` (retryable
or not), and no message quotes a credential, even one the HTTP library would have quoted
escaped (``b'Bearer …\\n'``) where a plain search for the secret cannot find it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from typing import Any, NoReturn

import httpx

from alerts.errors import DeliveryError, Rejected
from httpdeadline import deadline
from retryafter import parse_retry_after

MAX_REPLY_BYTES = 64 * 1024
"""We never read more of a reply than this: a robot or a provider answers with a few
hundred bytes."""
EXCERPT_CHARS = 200
ELLIPSIS = "…"
MAX_RETRY_AFTER = 30 * 60.0
"""The longest wait a receiver may ask of us (a flood-control ban of a day still retries
within half an hour: our own backoff cap)."""


def usable_secret(value: str) -> bool:
    """A secret we can send: printable ASCII, no line break (it goes into a header or an
    address, where anything else is refused, or worse, splits the request)."""
    return value.isascii() and value.isprintable()


class Scrubber:
    """Shortens text for an error message after replacing every credential with ``***``
    (before cutting, so a token that straddles the cut is not left half visible)."""

    def __init__(self, hidden: Iterable[str]) -> None:
        self.hidden = tuple(sorted({h for h in hidden if h}, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for part in self.hidden:
            text = text.replace(part, "***")
        return text

    def shorten(self, text: str) -> str:
        text = " ".join(self.scrub(text).split())
        return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + ELLIPSIS


def post(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], *, label: str, shorten: Callable[[str], str], timeout: float | None = None,
    within: float | None = None,
) -> tuple[int, bytes, httpx.Headers]:
    """POST ``body``; the status, at most ``MAX_REPLY_BYTES`` of the reply and its headers.
    The whole request ends within ``within`` seconds (the send's limit; every channel
    passes it) on a client made by ``httpdeadline.client``, as the daemon's is (proxies
    included): ``timeout`` bounds one read, and a reply dripped a byte at a time never trips it.
    A timeout or a broken connection may pass: retryable. An address or a header the
    library refuses to send will not change by itself: not retryable, and its text (which
    quotes the value) is never shown."""
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    try:
        with deadline(within) if within is not None else nullcontext(), client.stream("POST", url, content=body, headers=dict(headers), **extra) as response:
            return response.status_code, read_capped(response.iter_bytes()), response.headers
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{label}: no answer in time ({exc.__class__.__name__})", retryable=True) from None
    except httpx.InvalidURL:
        raise DeliveryError(f"{label}: the address is not valid (check the URL or the secret it carries)", retryable=False) from None
    except httpx.LocalProtocolError:
        raise DeliveryError(f"{label}: a header could not be sent (a secret with a line break or a control character?)", retryable=False) from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise DeliveryError(f"{label}: {exc.__class__.__name__}: {shorten(str(exc))}", retryable=True) from None


def wait_seconds(value: Any) -> float | None:
    """A wait in seconds that a reply's body names (Telegram's ``"retry_after": 5``);
    ``None`` for anything else. More digits than a float holds is infinity: a very long
    wait, which ``capped_wait`` cuts to our cap (not no wait at all); NaN is none. The
    ``Retry-After`` header is ``asked_wait``'s, read as sources read it."""
    try:
        seconds = float(str(value).strip()) if value is not None and not isinstance(value, bool) else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds > 0 else None  # NaN > 0 is False


def asked_wait(headers: httpx.Headers, clock: Callable[[], float]) -> float | None:
    """The wait a reply asks for in its ``Retry-After`` header, in seconds or as an HTTP
    date (``retryafter``, the reading sources use too; the date against ``clock``, the
    channel's wall clock in Unix seconds, read only when the header is there); ``None``
    when it names none. A date already past asks for no wait."""
    value = headers.get("Retry-After")
    return parse_retry_after(value, clock()) if value else None


def capped_wait(seconds: float | None) -> float | None:
    """A receiver's wait as we honour it: at most ``MAX_RETRY_AFTER``; ``None`` for none."""
    return min(seconds, MAX_RETRY_AFTER) if seconds is not None and seconds > 0 else None


def refuse(message: str, retryable: bool, retry_after: float | None = None) -> NoReturn:
    """The one verdict on a receiver's refusal, for chat and SMS alike: ``Rejected`` when
    trying again will not help; else a ``DeliveryError`` carrying the receiver's own wait,
    capped (the courier waits at least that long)."""
    if not retryable:
        raise Rejected(message)
    raise DeliveryError(message, retryable=True, retry_after=capped_wait(retry_after))


def read_capped(chunks: Iterable[bytes]) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) >= MAX_REPLY_BYTES:
            break
    return bytes(data[:MAX_REPLY_BYTES])
