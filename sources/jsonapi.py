"""Any JSON API, mapped to posts in the config: a platform added without code.

A ``json`` source GETs one endpoint and reads a list of posts from the response by
*paths* the user writes in the config::

    [[sources]]
    name = "weibo-brand"
    kind = "json"
    url = "https://mirror.example/api/container/getIndex?containerid=107603123"
    platform = "weibo"
    items = "data.cards"                     # where the list of posts is
    id = "mblog.mid"                         # the rest is read inside one item
    text = "mblog.text"                      # "title+body": several fields, one per line
    url_template = "https://m.weibo.cn/status/{id}"
    author = "mblog.user.screen_name"
    time = "mblog.created_at"
    time_format = "%a %b %d %H:%M:%S %z %Y"
    reposts = "mblog.reposts_count"
    comments = "mblog.comments_count"
    likes = "mblog.attitudes_count"

Paths are keys joined by dots; a segment of digits indexes a list ("stats.0.count",
"-1" is the last element). "" or "." is the value itself: for a response that *is*
the list, leave ``items`` out or write "." (the config refuses an empty string). A
key that itself contains a dot cannot be named. Items without an id or text are
skipped (on Weibo, cards that carry no ``mblog``); text is HTML-stripped.

Times (``time_format = "auto"``, the default): ISO 8601, RFC 2822, or epoch seconds /
milliseconds told apart by magnitude (numbers or digit strings). Any other value of
``time_format`` is a ``strptime`` format. A time without a zone is read in the
monitor's time zone.

There is no re-reading of single posts (``refresh_batch = 0``): an arbitrary API has
no known "one post" endpoint. Every poll reads the whole listing again, so posts still
listed come back with fresh counters; growth after a post leaves the listing is not seen.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

from sources.base import Source, SourceContext
from sources.errors import ParseError, ResponseError
from sources.fields import as_count, as_str, dig, is_web_url
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.text import html_to_text
from sources.timeparse import MAX_TIME_TEXT, parse_epoch, parse_iso

PATH_KEYS = ("items", "id", "url_field", "author", "time", "reposts", "comments", "likes", "views")
"""Options holding one path; ``text`` holds one or more joined by ``+``."""
COUNTERS = ("reposts", "comments", "likes", "views")

_INDEX = re.compile(r"^-?[0-9]+$")
_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_MS_FROM = 100_000_000_000  # as seconds: year 5138; as milliseconds: 1973
_MS_UNTIL = 32_503_680_000_000  # year 3000 in milliseconds


def check_path(path: object) -> str | None:
    """What is wrong with a path as written in the config, or None when it is usable."""
    if not isinstance(path, str):
        return f"{path!r} is not a string"
    if path in ("", "."):
        return None
    for segment in path.split("."):
        if segment == "":
            return "empty segment (write keys joined by single dots, like \"data.items\"; \".\" alone is the whole value)"
        if segment != segment.strip():
            return f"space around {segment!r}"
    return None


def check_text_paths(value: object) -> str | None:
    """``check_path`` for ``text``: one or more paths joined by ``+``."""
    if not isinstance(value, str):
        return f"{value!r} is not a string"
    for part in value.split("+"):  # "title + body" is fine too
        if not part.strip():
            return "empty path between '+' signs"
        problem = check_path(part.strip())
        if problem:
            return problem
    return None


def check_time_format(value: Any) -> str | None:
    if value is None or value == "auto":
        return None
    if not isinstance(value, str) or "%" not in value:
        return f"{value!r} is neither \"auto\" nor a strptime format (like \"%Y-%m-%d %H:%M:%S\")"
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(value), value)
    except (ValueError, TypeError, OverflowError) as exc:
        return f"{value!r} is not a usable strptime format ({exc})"
    return None


def check_url_template(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "{id}" not in value:
        return f"{value!r} has no {{id}} to put the post id in"
    if not is_web_url(value.replace("{id}", "0")):
        return f"{value!r} is not an http(s) URL"
    return None


def settings_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """[(option, problem)] beyond what the option types check: path syntax, the time
    format and the URL template. For config validation; ``fetch`` refuses to run with any."""
    return [(key, message) for key, message, _ in _problems(settings)]


def _problems(settings: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """[(option, problem, what a failed poll says)]."""
    found: list[tuple[str, str, str]] = []
    for key in (*PATH_KEYS, "text"):
        value = settings.get(key)
        if value is None and key not in ("id", "text"):
            continue
        problem = check_text_paths(value) if key == "text" else check_path(value)
        if problem:
            found.append((key, f"bad path {value!r}: {problem}", f"json source: bad path {value!r} in {key} ({problem})"))
    for key, check in (("time_format", check_time_format), ("url_template", check_url_template)):
        problem = check(settings.get(key))
        if problem:
            found.append((key, problem, f"json source: {key}: {problem}"))
    return found


def read_path(obj: Any, path: str) -> Any:
    """The value at ``path`` in ``obj`` (see the module docstring), None if it is not there."""
    if path in ("", "."):
        return obj
    for segment in path.split("."):
        if isinstance(obj, list) and _INDEX.match(segment):
            obj = dig(obj, int(segment))
        else:
            obj = dig(obj, segment)
        if obj is None:
            return None
    return obj


def parse_time(value: Any, time_format: str, local: tzinfo) -> datetime | None:
    """A mapped time field as aware UTC; None when it is missing or unreadable."""
    if isinstance(value, str) and len(value) > MAX_TIME_TEXT:
        return None  # not a time: never handed to strptime or a date parser
    try:
        if time_format in ("", "auto"):
            return _auto_time(value, local)
        text = as_str(value).strip()
        if not text:
            return None
        return _utc(datetime.strptime(text, time_format), local)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _auto_time(value: Any, local: tzinfo) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if _NUMBER.match(value):
            value = float(value)
        else:
            return parse_iso(value, local) or _utc(email.utils.parsedate_to_datetime(value), local)
    if isinstance(value, (int, float)):
        # compared before dividing: a huge int cannot become a float; and a number below
        # 1e8 (1973) is not an epoch but something like a date written 20231121
        if not 100_000_000 <= value < _MS_UNTIL:
            return None
        return parse_epoch(value / 1000 if value >= _MS_FROM else value)
    return None


def _utc(parsed: datetime | None, local: tzinfo) -> datetime | None:
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local)
    return parsed.astimezone(UTC)


class JsonSource(Source):
    kind: ClassVar[str] = "json"
    refresh_batch: ClassVar[int] = 0
    options = {
        "url": Option("url", "the JSON endpoint, read with GET", required=True),
        "platform": Option("str", "platform name stored on each post (e.g. \"douyin-mirror\")", required=True),
        "items": Option("str", "path of the list of posts in the response (\"data.cards\"; \".\" when the response is the list)", default=""),
        "id": Option("str", "path of the post id within an item (\"mblog.mid\")", required=True),
        "text": Option("str", "path of the post text; \"title+body\" joins several fields, one per line", required=True),
        "url_field": Option("str", "path of the post's link; without it (or when empty) url_template is used"),
        "url_template": Option("str", "link built from the id, like \"https://example.com/p/{id}\""),
        "author": Option("str", "path of the author's name"),
        "time": Option("str", "path of the creation time"),
        "time_format": Option("str", "\"auto\" (ISO 8601, RFC 2822, epoch seconds or milliseconds) or a strptime format", default="auto"),
        "reposts": Option("str", "path of the repost/share counter"),
        "comments": Option("str", "path of the comment/reply counter"),
        "likes": Option("str", "path of the like counter"),
        "views": Option("str", "path of the view counter"),
    }

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        return settings_problems(settings)

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        super().__init__(name, settings, context)
        # `monitor check` reports these by key; a source built without it still refuses to run
        self._problems = [message for _, _, message in _problems(self.settings)]

    def fetch(self) -> list[Post]:
        if self._problems:
            raise ResponseError("; ".join(self._problems))
        url = self.settings["url"]
        payload = self.context.http.get_json(url)
        items_path = self.settings.get("items") or ""
        items = read_path(payload, items_path)
        if not isinstance(items, list):
            found = "nothing" if items is None else f"a JSON {_json_type(items)}"
            raise ParseError(f"{url}: items path {items_path or '.'!r} does not lead to a list (found {found})")
        return unique_posts(self.item_to_post(item) for item in items)

    def item_to_post(self, item: Any) -> Post | None:
        """One element of the listing as a Post; None when it lacks an id or text."""
        s = self.settings
        ident = as_str(read_path(item, s["id"])).strip()
        if not ident:
            return None
        parts = (html_to_text(as_str(read_path(item, path.strip()))) for path in s["text"].split("+"))
        text = "\n".join(part for part in parts if part)
        if not text:
            return None
        return Post(
            platform=s["platform"].strip(),
            id=ident,
            url=self._link(item, ident),
            text=text,
            author=as_str(read_path(item, s["author"])).strip() if s.get("author") else "",
            created_at=self._time(item),
            engagement=self._engagement(item),
        )

    def _engagement(self, item: Any) -> Engagement:
        counters: dict[str, Any] = {name: as_count(read_path(item, self.settings[name])) if self.settings.get(name) else None for name in COUNTERS}
        return Engagement(**counters)

    def _time(self, item: Any) -> datetime | None:
        path = self.settings.get("time")
        if not path:
            return None
        return parse_time(read_path(item, path), self.settings.get("time_format") or "auto", self.context.timezone)

    def _link(self, item: Any, ident: str) -> str:
        s = self.settings
        if s.get("url_field"):
            raw = as_str(read_path(item, s["url_field"])).strip()
            try:
                link = urljoin(s["url"], raw) if raw else ""  # "/status/1" is relative to the endpoint
            except ValueError:  # "http://[x"
                link = ""
            if is_web_url(link):  # never a javascript: or data: link in an alert
                return link
        if s.get("url_template"):
            return s["url_template"].replace("{id}", quote(ident, safe=""))
        return ident if is_web_url(ident) else s["url"]


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__
