"""Hot lists (热榜): 微博热搜 and the other platforms' public trending lists, one list per source.

Each entry on a list becomes a ``Post`` of that list (``platform`` ``weibo-hot``,
``zhihu-hot`` …): its id is the topic's words (a popular video's BV id on
``bilibili-popular``), its text the topic and its summary where
the list gives one, and its ``Engagement`` carries the reading of this poll: ``rank``
(1 at the top) and ``heat`` (热度, as the platform counts it). A topic seen again at
another rank or heat is a new reading, which is what scoring looks at; a topic that was
on the list last poll and is gone now gets one reading without a rank (``off_list``), also
across a restart: the application hands back what storage says was listed (``resume``).

The endpoints and fields are those public scrapers read (``shared/fixtures/real/hotlists/
ENDPOINTS.md``). What the lists do in the wild, tolerated here: labels (新/热/爆/沸) beside
the words, ads and pinned government items (skipped), heat written as ``"622 万热度"``,
a cookie some lists want (``headers_env``, never the file) and a login page instead of
the list (one clear ``ResponseError``). Every answer is untrusted: at most ``MAX_ENTRIES``
entries are read from the first ``MAX_SCAN`` items, strings are cut to a bound.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import quote

from sources.base import Source, SourceContext
from sources.errors import ParseError, ResponseError
from sources.fields import as_str, dig, is_web_url
from sources.http import Fetched
from sources.options import Option
from sources.post import MAX_COUNT, Engagement, Post, unique_posts
from sources.text import html_to_text

MAX_ENTRIES = 100
"""Entries kept per poll: the longest list (Weibo's) has about 50."""
MAX_SCAN = 500
"""Items looked at per poll, ads and malformed ones included."""
MAX_WORDS = 200
MAX_SUMMARY = 1000
MAX_HEAT_TEXT = 40

_HEAT = re.compile(r"^([0-9]{1,15}(?:\.[0-9]{1,6})?)(万|亿|[wWkKmM])?\+?$", re.ASCII)
_HEAT_UNITS = {None: 1, "万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}
_HEAT_WORDS = ("热度", "热力值", "热搜指数", "热", "hot", "Hot", "HOT", ",", "，", " ", "\u00a0", "\u3000")


def parse_heat(value: Any) -> int | None:
    """A list's heat as a whole number: an int, a digit string, or a display form like
    ``"622 万热度"``, ``"1.2亿"``, ``"1,234,567"``, ``"100万+"``; None for anything else
    (negative, fractional, absurd, too long). Never raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value <= MAX_COUNT else None
    if not isinstance(value, str) or len(value) > MAX_HEAT_TEXT:
        return None
    text = value
    for word in _HEAT_WORDS:
        text = text.replace(word, "")
    match = _HEAT.match(text)
    if not match:
        return None
    try:
        heat = Decimal(match[1]) * _HEAT_UNITS[match[2]]
    except (InvalidOperation, KeyError):
        return None
    if heat != heat.to_integral_value() and match[2] is None:
        return None  # "3.5" of nothing is not a count
    number = int(heat)
    return number if 0 <= number <= MAX_COUNT else None


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a hot list as read; ``rank`` is 1 at the top."""

    words: str
    url: str
    rank: int
    heat: int | None = None
    summary: str = ""
    label: str = ""
    key: str = ""
    """The entry's own id when it has one (a video's BV id): the same video is one post
    even if its title is edited. Empty: the words are the id (a topic is its words)."""


Reader = Callable[[Any], list[Entry]]


@dataclass(frozen=True, slots=True)
class HotList:
    key: str
    title: str
    """What the list is called where it is shown (微博热搜), in reasons and mails."""
    base_url: str
    path: str
    read: Reader
    floor: timedelta
    """The shortest ``every`` ``check`` allows: platforms block scrapers that ask too often."""
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    html: bool = False
    gives: str = ""


def _text(value: Any, limit: int) -> str:
    return " ".join(html_to_text(as_str(value)[: limit * 4]).split())[:limit]


def _items(value: Any) -> list[Any]:
    return value[:MAX_SCAN] if isinstance(value, list) else []


def _truthy(value: Any) -> bool:
    return value not in (None, 0, "", "0", False, [], {})


def _search_url(template: str, words: str) -> str:
    return template.format(quote(words, safe=""))


def _capped(entries: list[Entry]) -> list[Entry]:
    return entries[:MAX_ENTRIES]


def read_weibo(payload: Any) -> list[Entry]:
    """``weibo.com/ajax/side/hotSearch``: ``data.realtime[]``. Ads (``is_ad``) are skipped;
    pinned government items sit in ``data.hotgov(s)`` and are not read. ``realpos`` is
    the rank shown; without it, the position among the entries kept."""
    ok = dig(payload, "ok")
    if ok != 1 or isinstance(ok, bool):
        msg = _text(dig(payload, "msg"), 200) or "no message"
        raise ResponseError(f"Weibo refused the request (ok={ok!r}): {msg}")
    realtime = dig(payload, "data", "realtime")
    if not isinstance(realtime, list):
        raise ParseError("answer has no data.realtime list")
    entries: list[Entry] = []
    for item in _items(realtime):
        if not isinstance(item, dict) or _truthy(item.get("is_ad")) or _truthy(item.get("topic_ad")):
            continue
        words = _text(item.get("word") or item.get("note"), MAX_WORDS)
        if not words:
            continue
        note = _text(item.get("note"), MAX_SUMMARY)
        rank = item.get("realpos")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_SCAN:
            rank = len(entries) + 1
        heat = parse_heat(item.get("num"))
        if heat is None:
            heat = parse_heat(item.get("raw_hot"))
        label = _text(item.get("label_name") or item.get("icon_desc"), 10)
        entries.append(Entry(words, _search_url("https://s.weibo.com/weibo?q=%23{}%23", words), rank, heat, note if note != words else "", label))
    return _capped(entries)


def read_zhihu(payload: Any) -> list[Entry]:
    """``zhihu.com/api/v3/feed/topstory/hot-lists/total``: ``data[]`` with ``target``
    (title, excerpt, url) and ``detail_text`` ("622 万热度")."""
    data = dig(payload, "data")
    if not isinstance(data, list):
        raise ParseError("answer has no data list")
    entries: list[Entry] = []
    for item in _items(data):
        target = dig(item, "target")
        words = _text(dig(target, "title") or dig(target, "title_area", "text"), MAX_WORDS)
        if not words:
            continue
        qid = as_str(dig(target, "id"))
        url = f"https://www.zhihu.com/question/{qid}" if qid.isdigit() and len(qid) < 30 else _search_url("https://www.zhihu.com/search?type=content&q={}", words)
        summary = _text(dig(target, "excerpt") or dig(target, "excerpt_area", "text"), MAX_SUMMARY)
        heat = parse_heat(dig(item, "detail_text") or dig(target, "metrics_area", "text"))
        entries.append(Entry(words, url, len(entries) + 1, heat, summary, _text(dig(target, "label_area", "trend"), 10)))
    return _capped(entries)


def read_toutiao(payload: Any) -> list[Entry]:
    """``toutiao.com/hot-event/hot-board``: ``data[]`` with ``Title``, ``Url`` and
    ``HotValue`` (a string); the pinned item is in ``fixed_top_data``, not read."""
    data = dig(payload, "data")
    if not isinstance(data, list):
        raise ParseError("answer has no data list")
    entries: list[Entry] = []
    for item in _items(data):
        words = _text(dig(item, "Title"), MAX_WORDS)
        if not words:
            continue
        link = as_str(dig(item, "Url"))
        url = link if len(link) < 2000 and is_web_url(link) else _search_url("https://so.toutiao.com/search?keyword={}", words)
        entries.append(Entry(words, url, len(entries) + 1, parse_heat(dig(item, "HotValue")), "", _text(dig(item, "Label"), 10)))
    return _capped(entries)


def _answered_list(payload: Any, platform: str, code_key: str, message_key: str, *path: str) -> list[Any]:
    """The list at ``path`` of an answer whose ``code_key`` says it was answered (0 or
    absent); a refusal (a login wall, -352 and the like) is one line naming the platform's
    code and message, a missing list a parse error."""
    code = dig(payload, code_key)
    if code not in (0, None) or isinstance(code, bool):
        raise ResponseError(f"{platform} refused the request ({code_key}={code!r}): {_text(dig(payload, message_key), 200) or 'no message'}")
    items = dig(payload, *path)
    if not isinstance(items, list):
        raise ParseError(f"answer has no {'.'.join(path)}")
    return items


def read_bilibili(payload: Any) -> list[Entry]:
    """``s.search.bilibili.com/main/hotword``: ``list[]`` with ``keyword``/``show_name``,
    ``heat_score`` and ``pos``; ``code`` 0 when answered."""
    items = _answered_list(payload, "Bilibili", "code", "message", "list")
    entries: list[Entry] = []
    for item in _items(items):
        words = _text(dig(item, "show_name") or dig(item, "keyword"), MAX_WORDS)
        if not words:
            continue
        keyword = _text(dig(item, "keyword"), MAX_WORDS) or words
        rank = dig(item, "pos")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_SCAN:
            rank = len(entries) + 1
        heat = parse_heat(dig(item, "heat_score"))
        entries.append(Entry(words, _search_url("https://search.bilibili.com/all?keyword={}", keyword), rank, heat if heat is not None else parse_heat(dig(item, "score"))))
    return _capped(entries)


_BVID = re.compile(r"BV[0-9A-Za-z]{10}", re.ASCII)
"""A BV id, whole (``fullmatch``: ``$`` would let a trailing newline into the id and the link)."""


def read_bilibili_popular(payload: Any) -> list[Entry]:
    """``api.bilibili.com/x/web-interface/popular`` (综合热门, popular videos, not the hot
    search words): ``data.list[]`` with ``bvid``, ``title``, ``desc``, ``owner.name`` and
    ``stat.view``; ``code`` 0 when answered. Rank is the position; heat is the views
    (播放), as the public archives read it. A video is its BV id."""
    items = _answered_list(payload, "Bilibili", "code", "message", "data", "list")
    entries: list[Entry] = []
    for item in _items(items):
        words = _text(dig(item, "title"), MAX_WORDS)
        bvid = as_str(dig(item, "bvid"))
        if not words or not _BVID.fullmatch(bvid):
            continue
        desc = _text(dig(item, "desc"), MAX_SUMMARY)
        owner = _text(dig(item, "owner", "name"), 100)
        summary = " · ".join(part for part in (f"UP主 {owner}" if owner else "", desc if desc not in ("-", words) else "") if part)
        entries.append(Entry(words, f"https://www.bilibili.com/video/{bvid}", len(entries) + 1, parse_heat(dig(item, "stat", "view")), summary, key=bvid))
    return _capped(entries)


def read_douyin(payload: Any) -> list[Entry]:
    """``douyin.com/aweme/v1/web/hot/search/list``: ``data.word_list[]`` with ``word``,
    ``hot_value`` and ``position``; ``status_code`` 0 when answered."""
    words_list = _answered_list(payload, "Douyin", "status_code", "status_msg", "data", "word_list")
    entries: list[Entry] = []
    for item in _items(words_list):
        words = _text(dig(item, "word"), MAX_WORDS)
        if not words:
            continue
        rank = dig(item, "position")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_SCAN:
            rank = len(entries) + 1
        entries.append(Entry(words, _search_url("https://www.douyin.com/search/{}", words), rank, parse_heat(dig(item, "hot_value"))))
    return _capped(entries)


_BAIDU_START = "<!--s-data:"


def read_baidu(payload: Any) -> list[Entry]:
    """``top.baidu.com/board?tab=realtime`` (HTML): the JSON in ``<!--s-data:…-->``,
    ``data.cards[0].content[]`` with ``word``, ``desc``, ``hotScore``; ``isTop`` (the
    pinned item) is skipped."""
    cards = dig(payload, "data", "cards")
    content = dig(cards, 0, "content") if isinstance(cards, list) else None
    if not isinstance(content, list):
        raise ParseError("page data has no data.cards[0].content list")
    entries: list[Entry] = []
    for item in _items(content):
        if not isinstance(item, dict) or _truthy(item.get("isTop")):
            continue
        words = _text(item.get("word") or item.get("query"), MAX_WORDS)
        if not words:
            continue
        entries.append(Entry(words, _search_url("https://www.baidu.com/s?wd={}", words), len(entries) + 1, parse_heat(item.get("hotScore")), _text(item.get("desc"), MAX_SUMMARY)))
    return _capped(entries)


def baidu_page_data(page: str) -> Any:
    """The JSON of a Baidu board page's ``<!--s-data:…-->`` comment (found with ``find``,
    no regex over an untrusted page)."""
    start = page.find(_BAIDU_START)
    if start < 0:
        raise ParseError("page has no <!--s-data:…--> block (a verification page?)")
    start += len(_BAIDU_START)
    end = page.find("-->", start)
    if end < 0:
        raise ParseError("page's s-data block is not closed")
    try:
        return json.loads(page[start:end])
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"page's s-data block is not JSON ({exc.__class__.__name__})") from None


_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

LISTS: dict[str, HotList] = {
    "weibo": HotList(
        "weibo", "微博热搜", "https://weibo.com", "/ajax/side/hotSearch", read_weibo, timedelta(minutes=2),
        headers={"Referer": "https://weibo.com/"}, gives="rank (realpos), heat (num), label (新/热/爆/沸), the note",
    ),
    "zhihu": HotList(
        "zhihu", "知乎热榜", "https://www.zhihu.com", "/api/v3/feed/topstory/hot-lists/total", read_zhihu, timedelta(minutes=5),
        params={"limit": "50", "desktop": "true"}, gives="rank (position), heat (\"622 万热度\"), the question's excerpt",
    ),
    "toutiao": HotList(
        "toutiao", "头条热榜", "https://www.toutiao.com", "/hot-event/hot-board/", read_toutiao, timedelta(minutes=5),
        params={"origin": "toutiao_pc"}, gives="rank (position), heat (HotValue), the article link",
    ),
    "bilibili": HotList(
        "bilibili", "B站热搜", "https://s.search.bilibili.com", "/main/hotword", read_bilibili, timedelta(minutes=5),
        params={"limit": "30"}, gives="rank (pos), heat (heat_score)",
    ),
    "bilibili-popular": HotList(
        "bilibili-popular", "B站热门", "https://api.bilibili.com", "/x/web-interface/popular", read_bilibili_popular, timedelta(minutes=10),
        params={"ps": "20", "pn": "1"}, headers={"Referer": "https://www.bilibili.com/"},
        gives="rank (position), heat (views, stat.view), the video's uploader and description",
    ),
    "douyin": HotList(
        "douyin", "抖音热榜", "https://www.douyin.com", "/aweme/v1/web/hot/search/list/", read_douyin, timedelta(minutes=10),
        params={"device_platform": "webapp", "aid": "6383", "channel": "channel_pc_web", "detail_list": "1"},
        headers={"Referer": "https://www.douyin.com/"}, gives="rank (position), heat (hot_value); wants a cookie",
    ),
    "baidu": HotList(
        "baidu", "百度热搜", "https://top.baidu.com", "/board", read_baidu, timedelta(minutes=5),
        params={"tab": "realtime"}, html=True, gives="rank (position), heat (hotScore), a summary",
    ),
}


def list_title(platform: str) -> str:
    """The shown name of the list a hot-list post's ``platform`` names (``weibo-hot`` →
    微博热搜); empty when it names none."""
    found = LISTS.get(platform.removesuffix("-hot")) if platform.endswith("-hot") else None
    return found.title if found else ""


class HotListSource(Source):
    kind: ClassVar[str] = "hotlist"
    refresh_batch: ClassVar[int] = 0
    whole_list: ClassVar[bool] = True
    options = {
        "list": Option("str", f"which hot list: {' | '.join(LISTS)}", required=True),
        "base_url": Option("url", "the list's root instead of the platform's (a mirror, a proxy, or a test server)"),
    }

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        super().__init__(name, settings, context)
        self._pending: Fetched | None = None
        self._listed: dict[str, Post] = {}
        """The topics of the list last stored: one that is gone next poll gets an off-list
        reading, once. Kept in memory between polls; after a restart the application
        hands back what storage says was listed (``resume``)."""
        self._pending_listed: dict[str, Post] | None = None

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        if settings.get("list") not in LISTS:
            return [("list", f"{settings.get('list')!r} is not a hot list ({', '.join(LISTS)})")]
        return []

    @classmethod
    def minimum_every(cls, settings: Mapping[str, Any]) -> timedelta:
        found = LISTS.get(str(settings.get("list")))
        return found.floor if found else timedelta(0)

    @property
    def hotlist(self) -> HotList:
        found = LISTS.get(str(self.settings.get("list")))
        if found is None:
            raise ResponseError(f"{self.describe()}: list {self.settings.get('list')!r} is not a hot list ({', '.join(LISTS)})")
        return found

    def fetch(self) -> list[Post]:
        spec = self.hotlist
        url = f"{str(self.settings.get('base_url') or spec.base_url).rstrip('/')}{spec.path}"
        headers = {"User-Agent": _BROWSER, "Accept": "text/html" if spec.html else "application/json", **(spec.headers or {})}
        fetched = self.context.http.get(url, params=spec.params, headers=headers, conditional=True)
        if fetched.unchanged:
            return []  # 304, or the very list stored last poll: no new reading
        body = fetched.content.decode("utf-8", "replace")
        head = body[:200].lstrip().lower()
        try:
            if spec.html:
                payload = baidu_page_data(body)
            elif head.startswith("<"):
                raise ResponseError(
                    "answered with an HTML page, not the list (a login or verification page? some lists want a cookie: headers_env = { Cookie = \"ENV_VAR\" })"
                )
            else:
                payload = _json(body)
            entries = spec.read(payload)
        except ResponseError as exc:
            raise type(exc)(f"{self.describe()}: {url}: {exc}") from None
        now = datetime.now(UTC)
        self._pending = fetched
        posts = unique_posts(self._post(spec, entry, now) for entry in entries)
        listed = {post.id: post for post in posts}
        self._pending_listed = listed
        gone = [replace(post, created_at=now, engagement=Engagement(off_list=True)) for words, post in self._listed.items() if words not in listed]
        return posts + gone

    def resume(self, listed: Sequence[Post]) -> None:
        self._listed = {post.id: post for post in listed if post.platform == f"{self.hotlist.key}-hot"}

    def commit(self) -> None:
        """The list is stored: the same answer next poll (a 304, or the same bytes) is no
        new reading."""
        pending, self._pending = self._pending, None
        if self._pending_listed is not None:
            self._listed, self._pending_listed = self._pending_listed, None
        if pending is not None:
            self.context.http.confirm(pending)

    def _post(self, spec: HotList, entry: Entry, now: datetime) -> Post:
        text = f"{entry.words}\n{entry.summary}" if entry.summary else entry.words
        return Post(
            platform=f"{spec.key}-hot",
            id=entry.key or entry.words,
            url=entry.url,
            text=text,
            title=entry.words,
            author=spec.title,
            created_at=now,  # stored once, when the topic is first seen on the list
            engagement=Engagement(rank=entry.rank, heat=entry.heat),
        )


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"response is not JSON ({exc.__class__.__name__})") from None
