"""A fast path for the common case: a well-formed UTF-8 RSS 2.0 feed whose items hold only
plain elements (title, link, guid, pubDate, description, content:encoded, author,
dc:creator, category, comments). It reads the feed with the standard library's expat
through defusedxml (no DTDs, no entities) in about a tenth of feedparser's time and gives
the entries feedparser would give for the fields ``RssSource`` reads.

It is deliberately timid: whenever it is unsure -- another format, another encoding, a
DTD, an element or attribute it does not know, a relative link, a repeated field, markup
feedparser's sanitiser might treat differently, or fewer items parsed than ``<item``
tags in the bytes -- it answers ``None`` and the caller uses feedparser, which keeps its
robustness for malformed feeds. tests/test_rss_fast.py checks that both paths give the
same posts on every real fixture and on generated feeds.
"""

from __future__ import annotations

import re
from html.entities import name2codepoint
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from feedparser.datetimes import _parse_date

from sources.fields import is_web_url

_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_KNOWN = {"title", "link", "guid", "pubDate", "description", "author", _DC_CREATOR, _CONTENT, "category", "comments"}
_IGNORED = {"category", "comments"}  # allowed, not read
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")
_ITEM_TAG = re.compile(rb"<item[\s>/]")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._\-]+)", re.I)
_UTF8 = {"utf-8", "utf8"}
# markup feedparser's sanitiser removes or rewrites in ways plain html_to_text might not
# follow: comments, declarations, processing instructions, control-character references
_RISKY = re.compile(r"<!|<\?|&#0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|1[2-5][0-9]);|&#x0*(?:[0-8bcef]|[89][0-9a-f]);", re.I)
# C1 controls: feedparser reads them as the windows-1252 characters they were meant to be
# ("smart quotes", &#146; → ’); html_to_text would keep them as they are
_C1 = re.compile("[\x80-\x9f]")
try:  # the elements feedparser's sanitiser keeps: any other one it drops, which can change the text
    from feedparser.sanitizer import _HTMLSanitizer

    _KEPT = frozenset(_HTMLSanitizer.acceptable_elements)
except (ImportError, AttributeError):  # pragma: no cover - another feedparser: trust only the basics
    _KEPT = frozenset({"a", "b", "br", "div", "em", "i", "img", "li", "ol", "p", "span", "strong", "u", "ul"})
_TAG_NAME = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9-]*)")
_TAG = re.compile(r"<[a-zA-Z/][^<>]*>")
_QUOTING = re.compile(r"[<>\"']")
_NAMED_REFERENCE = re.compile(r"&([a-zA-Z][a-zA-Z0-9]*)(;?)")  # characters feedparser might escape or cut a link at


def parse(content: bytes, content_type: str | None, base_url: str) -> list[dict[str, Any]] | None:
    """feedparser-like entries (plain dicts) of a simple RSS 2.0 feed, or None when unsure."""
    if not _plain_utf8(content, content_type):
        return None
    head = content[:1024]
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content or b"xml:base" in content:
        return None
    if b"<rss" not in head:
        return None
    try:
        root = SafeET.fromstring(content, forbid_dtd=True)
    except Exception:  # malformed, or something defusedxml refuses: feedparser decides
        return None
    if root.tag != "rss" or root.get("version") != "2.0" or set(root.attrib) - {"version"}:
        return None
    channels = [child for child in root if child.tag == "channel"]
    if len(channels) != 1:
        return None
    items = [child for child in channels[0] if child.tag == "item"]
    if not items or len(items) != len(_ITEM_TAG.findall(content)):
        return None  # an <item> somewhere we do not look: feedparser knows the variants
    entries = []
    for item in items:
        entry = _entry(item, base_url)
        if entry is None:
            return None
        entries.append(entry)
    return entries


def _plain_utf8(content: bytes, content_type: str | None) -> bool:
    if content.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\xef\xbb\xbf")):
        return False
    declared = _DECLARED.match(content)
    if declared is not None and declared.group(1).decode("ascii").lower() not in _UTF8:
        return False
    if content_type:
        charset = _CHARSET.search(content_type)
        if charset is not None and charset.group(1).lower() not in _UTF8:
            return False
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind not in ("application/rss+xml", "application/xml", "text/xml", "application/atom+xml", "application/rdf+xml"):
            return False  # text/html, text/plain …: feedparser's NonXMLContentType handling
    return True


def _entry(item: Element, base_url: str) -> dict[str, Any] | None:
    if item.attrib:
        return None
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    link_seen = False
    for child in item:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _KNOWN or len(child):
            return None  # an unknown (namespaced) element, or one with children
        if tag in _IGNORED:
            continue
        if tag in seen:
            return None  # a repeated field: feedparser's "which one wins" rules
        seen.add(tag)
        text = (child.text or "").strip()
        if _C1.search(text):
            return None
        if tag == "guid":
            if set(child.attrib) - {"isPermaLink"}:
                return None
            permalink = child.get("isPermaLink", "true") == "true"
            if not text:
                return None
            if permalink:
                if not _stable_url(text, base_url):
                    return None
                entry["guidislink"] = not link_seen
                if not link_seen:
                    entry["link"] = text
            else:
                entry["guidislink"] = False
            entry["id"] = text
            continue
        if child.attrib:
            return None
        if tag == "link":
            if not text or not _stable_url(text, base_url):
                return None
            entry["link"] = text
            link_seen = True
        elif tag == "title":
            if _risky(text):
                return None
            if text:
                entry["title"] = text
        elif tag == "description":
            if _risky(text) or not _named_references_known(text) or _CONTENT in seen:
                return None  # after content:encoded, feedparser may take it as content
            entry["summary"] = text
        elif tag == _CONTENT:
            if _risky(text) or not _named_references_known(text):
                return None
            entry["content"] = [{"value": text}]
        elif tag == "pubDate":
            if not text:
                return None
            entry["published"] = text
            entry["published_parsed"] = _parse_date(text)
        elif tag in ("author", _DC_CREATOR):
            if "<" in text:
                return None  # markup in a name: feedparser's sanitiser decides
            if tag == "author" and _DC_CREATOR in seen or tag == _DC_CREATOR and "author" in seen:
                return None
            if text:
                entry["author"] = text
    if "content" in entry and "summary" in entry and any(_markup(t) for t in (entry["summary"], entry["content"][0]["value"])):
        return None  # RssSource keeps the longer body, measured after feedparser's sanitiser
    return entry


def _named_references_known(text: str) -> bool:
    """Does every ``&`` before a letter start a known entity with its ``;``? feedparser's
    sanitiser escapes any other one (``Q&A``, ``&Acme`` become ``&amp;A``), which makes the
    body markup and so has its spaces collapsed (an ideographic space U+3000 too): we leave
    such bodies to feedparser rather than follow every case of it (``&amp x`` it reads as
    ``&amp; x``)."""
    return all(m.group(2) and m.group(1) in name2codepoint for m in _NAMED_REFERENCE.finditer(text))


def _markup(text: str) -> bool:
    return "<" in text or ">" in text or "&" in text


def _risky(text: str) -> bool:
    """Markup feedparser's sanitiser would drop or rewrite where html_to_text keeps it:
    elements it does not keep (script, iframe …), comments, declarations, control
    character references, and stray < or >."""
    if "<" not in text and ">" not in text and "&#" not in text:
        return False
    if _RISKY.search(text) or any(name.lower() not in _KEPT for name in _TAG_NAME.findall(text)):
        return True
    rest = _TAG.sub("", text)
    return "<" in rest or ">" in rest


def _stable_url(url: str, base: str) -> bool:
    """An absolute web address that feedparser's relative-URI resolution leaves as it is."""
    return is_web_url(url) and not _QUOTING.search(url) and urljoin(base, url) == url
