"""Is this a web address we may fetch, post to or put in a link? One answer for the whole
daemon: ``sources`` (source URLs, post links), ``alerts`` (chat webhooks, links in mail)
and ``monitor`` (``monitor check``, the web console) all ask here, so ``check`` accepts
exactly the addresses the daemon can use. A caller adds only its own rules on top (the
console's ``base_url`` takes no path).

A web URL is an absolute ``http``/``https`` URL with a real host:

- the scheme ``http`` or ``https`` (in any case), then ``//``;
- optionally ``user[:password]@`` (one ``@``: ``https://a@b@c`` is read differently by
  different parsers);
- a host: a DNS name (labels of letters, digits, ``-`` and ``_``, at most 63 characters
  each and 253 in all; a name in other scripts must encode with IDNA 2008, as httpx
  encodes it), a dotted-quad IPv4 address, or an IPv6 address in brackets. A name whose
  last label is a number (``1.2.3``, ``2130706433``, ``0x7f.1``) is refused: a browser
  reads it as an IPv4 address in another notation;
- optionally a port from 1 to 65535;
- then any path, query and fragment;
- nowhere a whitespace, control or format character (U+202E turns a link around on
  screen) or a backslash (browsers read it as ``/``, urllib does not:
  ``https://evil.example\\@bank.example``); at most 65,536 characters (httpx's limit).

Whatever this accepts, ``httpx.URL`` and ``urllib.parse.urlsplit`` accept too and read
the same scheme, host and port (tests/test_weburl.py checks it with hypothesis). It is
total: any value, of any type, gives an answer and never an exception.

It depends on the standard library and ``idna`` (httpx's own host encoder) only, so both
``sources`` and ``alerts`` can import it without importing each other or ``monitor``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import SplitResult, urlsplit

import idna

__all__ = ["MAX_LENGTH", "href", "is_web_url", "parse_web_url"]

MAX_LENGTH = 65_536
"""The longest URL accepted, in characters (httpx refuses longer ones)."""

_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")  # how a browser's IPv4 parser reads a last label
_PORT = re.compile(r"[0-9]{1,5}")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def is_web_url(value: object) -> bool:
    """Whether ``value`` is a web URL (see the module docstring)."""
    return parse_web_url(value) is not None


def href(value: str | None) -> str:
    """``value`` as a link target when it is a web URL, else ``"#"``: a platform or a feed
    can hand us ``javascript:…``, and HTML escaping does not stop that."""
    return value if value is not None and is_web_url(value) else "#"


def parse_web_url(value: object) -> SplitResult | None:
    """``urlsplit(value)`` when ``value`` is a web URL, else None; never raises."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH or not _SCHEME.match(value):
        return None
    if "\\" in value or any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - urllib raises on a port it cannot read
    except ValueError:  # "http://[x", a netloc that NFKC-normalises to "/" …
        return None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if "@" in userinfo or "[" in userinfo or "]" in userinfo:
        return None
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    if port is not None and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        return None
    return parts if _real_host(host) else None


def _real_host(host: str) -> bool:
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:  # a zone id names an interface of this machine, not a host
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    if not host.isascii():
        try:
            host = idna.encode(host.lower()).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return False
    name = host.lower()
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > 253:
        return False
    labels = bare.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    if _NUMBER.fullmatch(labels[-1]):  # an IPv4 address, or a malformed one
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
    return True
