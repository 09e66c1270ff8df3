"""Weibo: the public mobile JSON API of m.weibo.cn, no account needed.

Two listings, exactly one per source: keyword search (``keyword``) or one user's
timeline (``uid``). Both come from ``/api/container/getIndex`` as ``cards``; a post is a
``card_type`` 9 card with an ``mblog``, and search pages also nest such cards inside
``card_group`` lists. Posts are keyed by ``mid``, which is also ``Post.ref``: Weibo has no
batch read, so ``refresh`` re-reads them one ``/statuses/show`` request each.

A repost is kept as the repost itself (its own id, author and counters); its text is
the reposter's comment followed by `` //转发: `` and the original's text, so a keyword
in the original is still matched and the spread of a post is seen; ``repost_of`` names
the original's ``mid``, so the repost counts toward the original's spread.

The author's reach comes with every post: ``user.followers_count`` (an int, or a string
like ``"43.4万"``) and the verified type (``verified_type``: 1 government, 3 media, 2/5/6/8
enterprise or website, 4/7 organization, 0 and 200+ a verified person).

``created_at`` comes as ``Wed Aug 24 22:03:13 +0800 2022`` or, on some pages, as the
relative forms the app shows (``刚刚``, ``5分钟前``, ``昨天 10:00``, ``11-21``...), which are
read in the configured zone (``SourceContext.timezone``, normally Asia/Shanghai).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar
from urllib.parse import quote

from sources.base import Source
from sources.errors import ParseError, ResponseError
from sources.fields import as_count, as_str, dig
from sources.options import Option
from sources.post import Engagement, Post, unique_posts
from sources.text import html_to_text
from sources.timeparse import MAX_TIME_TEXT

REPOST_SEPARATOR = " //转发: "

_DELETED = re.compile(r"删除|不存在|已被|deleted|not exist", re.IGNORECASE)
_UID = re.compile(r"^[0-9]{1,20}\Z")
_MID = re.compile(r"^[0-9]{1,30}\Z")
_BID = re.compile(r"^[A-Za-z0-9]{1,30}\Z")


class WeiboSource(Source):
    kind: ClassVar[str] = "weibo"
    refresh_batch: ClassVar[int] = 10
    options = {
        "keyword": Option("str", "search Weibo for this (set keyword or uid, not both)"),
        "uid": Option("str", "read this user's timeline: the numeric user id, as a string (set keyword or uid, not both)"),
        "base_url": Option("url", "API root (a mirror or a test server)", default="https://m.weibo.cn"),
    }

    @property
    def api(self) -> str:
        return str(self.settings.get("base_url") or "https://m.weibo.cn").rstrip("/")

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        keyword = settings.get("keyword")
        uid = settings.get("uid")
        if keyword and uid:
            return [("uid", "set exactly one of 'keyword' (search) or 'uid' (a user's timeline); both are set")]
        if not keyword and not uid:
            return [("keyword", "set exactly one of 'keyword' (search) or 'uid' (a user's timeline); neither is set")]
        if uid and not _UID.match(str(uid)):
            return [("uid", f"must be the numeric Weibo user id (digits, as a string), not {uid!r}")]
        return []

    def _listing(self) -> dict[str, str]:
        for key, problem in self.check(self.settings):
            raise ResponseError(f"{self.describe()}: {key} {problem}")
        keyword = self.settings.get("keyword")
        if keyword:
            # type=61 is 实时 (newest first); type=1 is 综合 (ranked), where a fresh complaint shows late
            return {"containerid": f"100103type=61&q={keyword}&t=0", "page_type": "searchall"}
        uid = str(self.settings["uid"])
        return {"type": "uid", "value": uid, "containerid": f"107603{uid}"}

    def fetch(self) -> list[Post]:
        params = self._listing()
        url = f"{self.api}/api/container/getIndex"
        payload = self.context.http.get_json(url, params=params, headers=_BROWSER_HEADERS)
        if dig(payload, "ok") == 0 and dig(payload, "data", "cards") == []:
            return []  # a search with no results yet ("这里还没有内容") is calm, not a failure
        _check_ok(payload, url)
        cards = dig(payload, "data", "cards")
        if not isinstance(cards, list):
            raise ParseError(f"{url}: answer has no list of cards")
        now = _utcnow()
        return unique_posts(mblog_to_post(mblog, now, self.context.timezone) for mblog in _mblogs(cards))

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        """One ``/statuses/show`` request per ref (Weibo has no batch read). A 404/410 or
        an answer saying the post was deleted ends its tracking; anything else (418
        throttling, a login page, ``ok`` 0 for another reason) ends the round instead."""
        url = f"{self.api}/statuses/show"
        now = _utcnow()

        def read_one(ref: str) -> Post | None:
            payload = self.context.http.get_json(url, params={"id": ref}, headers=_BROWSER_HEADERS)
            if not _is_ok(payload) and _DELETED.search(as_str(dig(payload, "msg"))):
                return None
            _check_ok(payload, url)
            return mblog_to_post(dig(payload, "data"), now, self.context.timezone)

        return self.refresh_each(refs, _MID, read_one)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# m.weibo.cn answers its own web app's XHRs; without these it tends to send a login page
_BROWSER_HEADERS = {"Referer": "https://m.weibo.cn/", "X-Requested-With": "XMLHttpRequest", "MWeibo-Pwa": "1"}


def _check_ok(payload: Any, url: str) -> None:
    if not isinstance(payload, dict):
        raise ParseError(f"{url}: answer is not a JSON object")
    if not _is_ok(payload):
        ok = payload.get("ok")
        msg = as_str(payload.get("msg")).strip() or "no message"
        raise ResponseError(f"{url}: Weibo refused the request (ok={ok!r}): {msg[:200]}")


def _is_ok(payload: Any) -> bool:
    ok = dig(payload, "ok")
    return ok == 1 and not isinstance(ok, bool)


def _mblogs(cards: list[Any]) -> Iterator[Any]:
    """The mblog of every post card, including those nested one level in a card_group."""
    for card in cards:
        group = dig(card, "card_group")
        if isinstance(group, list):
            for inner in group:
                if _is_post_card(inner):
                    yield inner["mblog"]
        elif _is_post_card(card):
            yield card["mblog"]


def _is_post_card(card: Any) -> bool:
    return isinstance(card, dict) and as_str(card.get("card_type")) == "9" and isinstance(card.get("mblog"), dict)


def _text(mblog: Any) -> str:
    text = html_to_text(as_str(dig(mblog, "text")))
    if dig(mblog, "isLongText") is True:
        text = _strip_full_text_link(text)
    return text


def _strip_full_text_link(text: str) -> str:
    """Drop the "...全文" ("full text") link a truncated text ends with (no regex: the
    text is untrusted and may be megabytes of whitespace)."""
    if not text.endswith("全文"):
        return text
    text = text[: -len("全文")].rstrip()
    for ellipsis in ("...", "…"):
        if text.endswith(ellipsis):
            return text[: -len(ellipsis)].rstrip()
    return text


def mblog_to_post(mblog: Any, now: datetime, tz: tzinfo) -> Post | None:
    """A Weibo ``mblog`` object as a Post; None when it lacks what a Post needs.
    ``now`` and ``tz`` resolve relative times such as ``5分钟前`` or ``昨天 10:00``."""
    if not isinstance(mblog, dict):
        return None
    mid = as_str(mblog.get("mid")).strip() or as_str(mblog.get("id")).strip()
    if not mid:
        return None
    bid = as_str(mblog.get("bid")).strip()
    text = _text(mblog)
    original = mblog.get("retweeted_status")
    repost_of = ""
    if isinstance(original, dict):
        text = f"{text}{REPOST_SEPARATOR}{_text(original)}"
        repost_of = as_str(original.get("mid")).strip() or as_str(original.get("id")).strip()
    return Post(
        platform="weibo",
        id=mid,
        url=f"https://m.weibo.cn/status/{bid if _BID.match(bid) else quote(mid, safe='', errors='replace')}",
        text=text,
        author=as_str(dig(mblog, "user", "screen_name")).strip(),
        created_at=parse_weibo_time(mblog.get("created_at"), now, tz),
        engagement=Engagement(
            reposts=as_count(mblog.get("reposts_count")),
            comments=as_count(mblog.get("comments_count")),
            likes=as_count(mblog.get("attitudes_count")),
        ),
        ref=mid if _MID.match(mid) else "",
        repost_of=repost_of,
        author_followers=as_count(dig(mblog, "user", "followers_count")),
        author_kind=author_kind(dig(mblog, "user")),
    )


_VERIFIED_KINDS = {1: "government", 3: "media", 2: "enterprise", 5: "enterprise", 6: "enterprise", 8: "enterprise", 4: "organization", 7: "organization"}


def author_kind(user: Any) -> str:
    """What Weibo's verification says the author is (``Post.author_kind``): 1 government
    (政府), 3 media (媒体), 2/5/6/8 enterprise or website, 4/7 school or organization, 0 and
    the 200s a verified person (个人认证, 达人); empty for an ordinary account."""
    if not isinstance(user, dict) or user.get("verified") is not True:
        return ""
    kind = user.get("verified_type")
    if isinstance(kind, str) and kind.strip().lstrip("-").isdigit():
        kind = int(kind)
    if isinstance(kind, bool) or not isinstance(kind, int) or kind < 0:
        return ""
    return _VERIFIED_KINDS.get(kind, "verified")


# -- created_at ------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_ABSOLUTE = re.compile(
    r"^[A-Za-z]{3},?\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+([+-])(\d{2}):?(\d{2})\s+(\d{4})\Z", re.ASCII
)
_AGO = re.compile(r"^(\d{1,9})\s*(秒|分钟|小时|天)前\Z", re.ASCII)
_AGO_UNITS = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(?:(\d{1,2}):(\d{2}))?\Z", re.ASCII)
_DAY_OFFSET = {"今天": 0, "昨天": 1, "前天": 2}
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?\Z", re.ASCII)
_FULL_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\Z", re.ASCII)


def parse_weibo_time(text: Any, now: datetime, tz: tzinfo) -> datetime | None:
    """A Weibo ``created_at`` as aware UTC; None when it is not one of the known forms.

    ``now`` is the moment of the poll (aware; naive is taken as UTC) and ``tz`` the zone
    the wall-clock forms are meant in:

    * ``Wed Aug 24 22:03:13 +0800 2022`` carries its own offset;
    * ``刚刚`` (just now), ``30秒前``, ``5分钟前``, ``3小时前``, ``2天前`` count back from ``now``;
    * ``今天 10:03``, ``昨天 10:00``, ``前天 10:00`` are that day in ``tz``;
    * ``11-21 09:00`` and ``11-21`` are this year in ``tz``, or last year when this year's
      date would be after ``now`` (``12-31 23:00`` seen on 1 January);
    * ``2021-11-21``, ``2021-11-21 09:00`` and ``2021-11-21 09:00:00`` are wall time in ``tz``.

    Never raises.
    """
    if not isinstance(text, str) or len(text) > MAX_TIME_TEXT:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return _parse(" ".join(text.split()), now, tz)
    except (ValueError, OverflowError, TypeError, KeyError):
        return None


def _parse(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    utc = UTC
    if text == "刚刚":
        return now.astimezone(utc)
    if m := _ABSOLUTE.match(text):
        month = _MONTHS[m[1].lower()]
        offset = timedelta(hours=int(m[7]), minutes=int(m[8]))
        zone = timezone(-offset if m[6] == "-" else offset)
        return datetime(int(m[9]), month, int(m[2]), int(m[3]), int(m[4]), int(m[5]), tzinfo=zone).astimezone(utc)
    if m := _AGO.match(text):
        return (now - timedelta(**{_AGO_UNITS[m[2]]: int(m[1])})).astimezone(utc)
    local_now = now.astimezone(tz)
    if m := _DAY_WORD.match(text):
        date = local_now.date() - timedelta(days=_DAY_OFFSET[m[1]])
        hour, minute = (int(m[2]), int(m[3])) if m[2] else (0, 0)
        return _wall(date.year, date.month, date.day, hour, minute, 0, tz)
    if m := _MONTH_DAY.match(text):
        month, day = int(m[1]), int(m[2])
        hour, minute = (int(m[3]), int(m[4])) if m[3] else (0, 0)
        for year in (local_now.year, local_now.year - 1):
            try:
                when = _wall(year, month, day, hour, minute, 0, tz)
            except ValueError:  # 02-29 outside a leap year
                continue
            if when <= now:
                return when
        return None
    if m := _FULL_DATE.match(text):
        hour, minute, second = (int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
        return _wall(int(m[1]), int(m[2]), int(m[3]), hour, minute, second, tz)
    return None


def _wall(year: int, month: int, day: int, hour: int, minute: int, second: int, tz: tzinfo) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(UTC)
