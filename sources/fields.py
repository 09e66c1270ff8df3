"""Reading untrusted platform JSON: small, total functions shared by every source.

Each returns ``None`` (or an empty value) instead of raising on a missing key or a
wrong type, so a platform changing one field never loses the whole poll.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from weburl import is_web_url  # the one check of a link, shared with alerts and monitor

__all__ = ["as_count", "as_str", "dig", "is_web_url"]

_CN_COUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(万|亿|[kKmM])?\+?\s*$")
_CN_UNITS = {None: 1, "万": 10_000, "亿": 100_000_000, "k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}


def dig(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]…``, or None as soon as a step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int) and isinstance(obj, list) and -len(obj) <= step < len(obj):
            obj = obj[step]
        elif isinstance(step, str) and isinstance(obj, Mapping):
            obj = obj.get(step)
        else:
            return None
    return obj


def as_str(value: Any) -> str:
    """A string field as text; numbers become their digits, anything else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def as_count(value: Any) -> int | None:
    """An engagement counter: an int, a digit string, or a display form like "43.4万",
    "1.2k" or "100万+" (Weibo); None when it is anything else.
    (``Engagement`` itself refuses negative or absurd values.)"""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) < 20:
        match = _CN_COUNT.match(value)
        if match:
            return int(Decimal(match.group(1)) * _CN_UNITS[match.group(2)])  # exact: 0.57万 is 5700
    return None
