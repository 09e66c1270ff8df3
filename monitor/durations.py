"""Durations as config writes them: "90s", "2m", "12h", "7d" (also "1h30m", "500ms", "2w")."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w))+$")
MAX_DURATION = timedelta(days=3650)  # "now - window" must stay a valid date
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, allow_zero: bool = False) -> timedelta:
    """A positive duration (or zero where ``allow_zero``: "wait 0s" means "at once"),
    or ValueError with a message fit to show a user."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (write a string like \"90s\", \"2m\", \"12h\", \"7d\")")
    text = value.strip().replace(" ", "")
    if not text or not _WHOLE.match(text):
        raise ValueError(f"\"{value}\" is not a duration (like \"90s\", \"2m\", \"12h\", \"7d\")")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    try:
        delta = timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"\"{value}\" is too long") from None
    if delta < timedelta(0) or (delta == timedelta(0) and not allow_zero):
        raise ValueError(f"\"{value}\" must be longer than zero")
    if delta > MAX_DURATION:
        raise ValueError(f"\"{value}\" is longer than ten years")
    return delta


def format_duration(delta: timedelta) -> str:
    """The way a person writes it: "30m", "24h", "7d" (days only from two days up)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def human_duration(delta: timedelta | None) -> str:
    """"45s", "12m", "1h 05m", "2d 03h": what a person reads at a glance; "–" for none."""
    if delta is None:
        return "–"
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"
