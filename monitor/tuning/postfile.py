"""A JSON Lines file of posts, for ``monitor replay --posts``: history from anywhere (an
export, another tool, a colleague's capture) scored with a candidate config.

One post per line (blank lines and lines starting with ``#`` are skipped)::

    {"platform": "weibo", "id": "4806111732961615", "url": "https://m.weibo.cn/status/M1",
     "text": "艾克美保温杯烫伤了孩子", "author": "顾客A", "created_at": "2026-01-05T10:00:00+08:00",
     "readings": [{"at": "2026-01-05T10:05:00+08:00", "reposts": 3, "comments": 1, "likes": 2},
                  {"at": "2026-01-05T10:20:00+08:00", "reposts": 90, "comments": 12, "likes": 40}],
     "repost_of": "", "author_followers": 1200, "author_kind": "media", "source": "weibo-search"}

``platform``, ``id`` and ``text`` are required; ``url`` defaults to the id. Times are ISO
8601 (a time without a zone is read in ``[monitor].timezone``). The post is seen at
``seen_at`` if given, else at its first reading, else at ``created_at``; each reading is
one more sighting with those counters (``reposts``, ``comments``, ``likes``, ``views``).
Without ``readings``, counters given on the post itself are its one reading.

A hot-list topic (platform ``weibo-hot``, ``zhihu-hot`` … as the ``hotlist`` source
stores them) reads ``rank`` (1 at the top) and ``heat`` instead, and ``"off_list": true``
for a reading where it had left the list::

    {"platform": "weibo-hot", "id": "艾克美保温杯盖子弹开", "text": "艾克美保温杯盖子弹开",
     "readings": [{"at": "2026-01-05T10:00:00+08:00", "rank": 30, "heat": 312345},
                  {"at": "2026-01-05T10:05:00+08:00", "rank": 5, "heat": 1234567},
                  {"at": "2026-01-05T10:40:00+08:00", "off_list": true}]}
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from sources import Engagement, Post
from sources.timeparse import parse_iso

COUNTERS = ("reposts", "comments", "likes", "views", "heat")


def _time(raw: dict[str, Any], key: str, tz: tzinfo) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    parsed = parse_iso(value, tz)
    if parsed is None:
        raise ValueError(f"{key}: {value!r} is not an ISO 8601 time")
    return parsed


def _engagement(raw: dict[str, Any]) -> Engagement:
    values: dict[str, Any] = {name: raw.get(name) for name in COUNTERS}
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{name}: {value!r} is not a whole number")
    rank, off_list = raw.get("rank"), raw.get("off_list", False)
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(f"rank: {rank!r} is not a rank (1 is the top)")
    if not isinstance(off_list, bool):
        raise ValueError(f"off_list: {off_list!r} is not true or false")
    return Engagement(**values, rank=rank, off_list=off_list)


def _post(raw: dict[str, Any], tz: tzinfo) -> tuple[Post, str, list[tuple[datetime, Engagement]]]:
    for key in ("platform", "id", "text"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ValueError(f"{key} is required (a string)")
    followers = raw.get("author_followers")
    if followers is not None and (isinstance(followers, bool) or not isinstance(followers, int)):
        raise ValueError(f"author_followers: {followers!r} is not a whole number")
    created = _time(raw, "created_at", tz)
    readings = raw.get("readings", [])
    if not isinstance(readings, list) or not all(isinstance(r, dict) for r in readings):
        raise ValueError("readings must be a list of objects")
    seen: list[tuple[datetime, Engagement]] = []
    for reading in readings:
        at = _time(reading, "at", tz)
        if at is None:
            raise ValueError("each reading needs its time (at)")
        seen.append((at, _engagement(reading)))
    first = _time(raw, "seen_at", tz) or (min(at for at, _ in seen) if seen else created)
    if first is None:
        raise ValueError("give created_at, seen_at or readings: when was it seen?")
    if not seen or first < min(at for at, _ in seen):
        seen.insert(0, (first, _engagement(raw) if not seen else Engagement()))
    post = Post(
        platform=raw["platform"], id=raw["id"], url=str(raw.get("url") or raw["id"]), text=raw["text"], author=str(raw.get("author") or ""),
        title=str(raw.get("title") or ""), created_at=created, repost_of=str(raw.get("repost_of") or ""),
        author_followers=followers, author_kind=str(raw.get("author_kind") or ""),
    )
    return post, str(raw.get("source") or "replay"), sorted(seen, key=lambda s: s[0])


def load_posts(path: Path, tz: tzinfo) -> dict[datetime, list[tuple[str, Post]]]:
    """Each moment of the file's history and the posts seen then (with their counters at
    that moment, and the source that saw them). A bad line is a ``ValueError`` naming it."""
    moments: dict[datetime, list[tuple[str, Post]]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            post, source, seen = _post(raw, tz)
        except ValueError as exc:  # json.JSONDecodeError is one
            raise ValueError(f"{path}:{number}: not a post ({exc})") from None
        for at, engagement in seen:
            moments[at].append((source, _with(post, engagement)))
    return dict(moments)


def _with(post: Post, engagement: Engagement) -> Post:
    return Post(post.platform, post.id, post.url, post.text, author=post.author, title=post.title, created_at=post.created_at, engagement=engagement,
                ref=post.ref, repost_of=post.repost_of, author_followers=post.author_followers, author_kind=post.author_kind)
