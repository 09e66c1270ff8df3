"""Bluesky's Jetstream: every post, like and repost of the whole network as JSON over a
WebSocket, no account needed (the v1 ``/subscribe`` wire).

Only posts the application may want (``SourceContext.wanted``: their text, alt texts,
link card and, when we follow the quoted post, its text) are handed over; those posts
are then *followed* for ``track_for``: each like, repost, quote and reply of a followed
post raises its counters, so a post's velocity is counted from the events themselves the
moment they happen. A like or repost made through someone's repost (``via``) counts for
the post it names as its subject, like any other.

Jetstream delivers at least once, and we ask it to resume from our cursor (the
``time_us`` of the last event read) rewound by ``REWIND_US`` after every drop and
restart, so the same event can arrive twice: each counted like, repost or reply is
remembered by its record key for ``DEDUPE_US`` and counted once. The cursor, the
counters of followed posts and those keys are saved at each ``commit`` (after the posts
they go with are stored), so a restart neither loses nor double-counts an event. Unlikes
and deleted reposts are not subtracted: velocity is engagement given.

Frames are capped at ``MAX_FRAME`` bytes before anything reads them (compressed ones
after decompression, read with a bound), and a frame that is not JSON, not an object or
of a shape we do not know is counted as an event and otherwise ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import zstandard

from sources.http import USER_AGENT
from sources.options import Option
from sources.post import MAX_TEXT, Engagement, Post
from sources.stream import StreamSource
from sources.timeparse import parse_iso
from weburl import parse_web_url

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

log = logging.getLogger("sources.jetstream")

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
POST, LIKE, REPOST = "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost"
COLLECTIONS = (POST, LIKE, REPOST)
MAX_FRAME = 1024 * 1024
"""Bytes of one event, as Jetstream's ``maxMessageSizeBytes`` is asked and as the client
accepts (a post record is a few kB; a larger frame closes the connection)."""
REWIND_US = 5_000_000
"""How far before the cursor a reconnect asks Jetstream to start (events delivered twice
are counted once)."""
AHEAD_US = 300_000_000
"""How far ahead of our clock an event's ``time_us`` may be (clocks differ a little);
beyond it the event is ignored."""
DEDUPE_US = 60_000_000
"""How long a counted like, repost or reply is remembered: beyond the rewind, for events
that arrive a little out of order."""
MAX_FOLLOWED = 20_000
"""Posts followed at once; past it the oldest is let go."""
MAX_KEYS = 50_000
"""Record keys remembered for dedupe (those of the last ``DEDUPE_US``: 800 a second of
engagement on followed posts); past it the oldest are forgotten. Kept as fixed-size
digests, so with ``MAX_FOLLOWED_BYTES`` the saved state stays within a few MB whatever
lengths a server gives its DIDs and record keys (the store refuses 16 MB, and a state it
refuses is a cursor never saved again)."""
MAX_FOLLOWED_BYTES = 4 * 1024 * 1024
"""Bytes of followed posts' URIs (and their counters) in the saved state; past it the
oldest are let go, as past ``MAX_FOLLOWED``."""
_FOLLOWED_OVERHEAD = 48
"""A followed post's saved bytes besides its URI (four numbers and the JSON around them)."""
READ_TICK = 1.0
"""Seconds a read waits before checking whether the source is being closed."""
DICTIONARY = "data/jetstream_zstd_dictionary"
"""Jetstream's zstd dictionary for ``compress=true`` (dictionary ID 1612007021): the file
``internal/subscribe/dictionaries/legacy_subscribe.zdict`` of bluesky-social/jetstream at
commit 9a30defd224e9058814a7d6ce8d9e4fc48d5493c (the v1 dictionary, copied there verbatim
from jetstream v1's ``pkg/models/zstd_dictionary``), MIT or Apache-2.0; sha256
b8d77b46933aceecbdd5275a01241efc985c970c78162b8150cf67a26522f70c."""

_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]{1,240}\Z")
_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}\Z")
_POST_URI = re.compile(r"at://(did:[a-z]+:[A-Za-z0-9._:%-]{1,240})/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]{1,512})\Z")


@cache
def _decompressor() -> zstandard.ZstdDecompressor:
    data = files("sources").joinpath(DICTIONARY).read_bytes()
    return zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(data))


def ws_url_problem(url: Any) -> str | None:
    """Why ``url`` is not a WebSocket address we can use (ws:// or wss:// and a real host,
    by the same rules as every web address of the daemon), or None."""
    if not isinstance(url, str) or not url.lower().startswith(("ws://", "wss://")):
        return f"{url!r} is not a ws:// or wss:// URL"
    if parse_web_url("http" + url[2:]) is None:
        return f"{url!r} is not a usable WebSocket URL"
    return None


class _Followed:
    """A post we count engagement for: its counters and, while in memory, the post itself."""

    __slots__ = ("comments", "first_us", "likes", "post", "reposts")

    def __init__(self, first_us: int, likes: int = 0, reposts: int = 0, comments: int = 0, post: Post | None = None) -> None:
        self.first_us, self.likes, self.reposts, self.comments, self.post = first_us, likes, reposts, comments, post


class JetstreamSource(StreamSource):
    kind: ClassVar[str] = "jetstream"
    options = {
        "url": Option("str", "the Jetstream subscribe endpoint (ws:// or wss://)", default=DEFAULT_URL),
        "compress": Option("bool", "ask for zstd-compressed frames (Jetstream's dictionary ships with this package): less bandwidth, a little more CPU", default=False),
    }

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problem = ws_url_problem(settings.get("url", DEFAULT_URL))
        return [("url", problem)] if problem else []

    def __init__(self, name: str, settings: Mapping[str, Any], context: Any) -> None:
        super().__init__(name, settings, context)
        self._cursor: int | None = None
        """``time_us`` of the newest event read: where a reconnect resumes (rewound)."""
        self._followed: OrderedDict[str, _Followed] = OrderedDict()
        self._counted: OrderedDict[str, int] = OrderedDict()
        """Digests of the record keys (``did/collection/rkey``) of counted likes, reposts and
        replies → their ``time_us``."""
        self._followed_bytes = 0
        """What ``_followed`` takes in the saved state, kept as posts come and go."""
        self._ws: ClientConnection | None = None

    # -- the connection --------------------------------------------------------------------

    def subscribe_url(self) -> str:
        """The address with our query: the collections we read, the frame cap, compression,
        and the cursor rewound by ``REWIND_US`` when we have one."""
        url = str(self.settings.get("url") or DEFAULT_URL)
        parts = urlsplit(url)
        query = [("wantedCollections", c) for c in COLLECTIONS] + [("maxMessageSizeBytes", str(MAX_FRAME))]
        if self.settings.get("compress"):
            query.append(("compress", "true"))
        with self.lock:
            cursor = self._cursor
        if cursor is not None:
            query.append(("cursor", str(max(0, cursor - REWIND_US))))
        joined = "&".join(q for q in (parts.query, urlencode(query)) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", joined, ""))

    def connect_and_read(self, stopping: threading.Event) -> None:
        for key, problem in self.check(self.settings):
            raise ValueError(f"{key} {problem}")
        from websockets.sync.client import connect  # 15-40 ms: only a process that runs a stream pays it

        compressed = bool(self.settings.get("compress"))
        with connect(
            self.subscribe_url(), max_size=MAX_FRAME, open_timeout=self.context.http.policy.connect_timeout, close_timeout=2, compression=None,
            user_agent_header=USER_AGENT, max_queue=64,
        ) as ws:
            self._ws = ws
            try:
                self.connected()
                while not stopping.is_set():
                    try:
                        frame = ws.recv(timeout=READ_TICK, decode=False)
                    except TimeoutError:
                        continue
                    self.take(frame, compressed)
            finally:
                self._ws = None

    def disconnect(self) -> None:
        ws = self._ws
        if ws is not None:
            ws.close()

    # -- one frame ----------------------------------------------------------------------------

    def take(self, frame: bytes | str, compressed: bool = False) -> None:
        """Read one frame: an event, or something to ignore (counted all the same).

        The hot path of the whole daemon (thousands of frames a second): plain ``dict``
        look-ups with exact type checks (JSON gives plain dicts), and a like of a post we
        do not follow, most of the firehose, is dismissed after one look-up."""
        event = _decode(frame, compressed)
        time_us = event.get("time_us") if type(event) is dict else None
        if type(time_us) is not int or not 0 < time_us <= self.context.clock().timestamp() * 1_000_000 + AHEAD_US:
            # a time from the far future would make the post's time unreadable and move the
            # cursor past every event still to come: ignored, as a frame without a time
            self.event_seen(None)
            return
        self.event_seen(time_us / 1_000_000)
        commit = event.get("commit")
        if type(commit) is not dict or event.get("kind") != "commit" or commit.get("operation") != "create":
            self._advance(time_us)  # deletes and edits change no count (velocity is engagement given)
            return
        collection, record = commit.get("collection"), commit.get("record")
        if type(record) is not dict or collection not in COLLECTIONS:
            self._advance(time_us)
            return
        if collection == POST:
            named = _author(event, commit)
            if named is not None:
                self._post(*named, record, time_us)
            else:
                self._advance(time_us)
            return
        subject = record.get("subject")
        uri = subject.get("uri") if type(subject) is dict else None
        # only this thread changes what is followed: looking without the lock is safe, and
        # most likes are of posts we do not follow (an event that changes nothing may
        # move the cursor outside the lock: a checkpoint that includes it misses nothing)
        followed = self._followed.get(uri) if type(uri) is str else None
        named = None if followed is None else _author(event, commit)
        if followed is None or named is None:
            self._advance(time_us)
            return
        with self.lock:
            if self._count(f"{named[0]}/{collection}/{named[1]}", time_us):
                if collection == LIKE:
                    followed.likes += 1
                else:
                    followed.reposts += 1
                self._changed(str(uri), followed)
            self._advance(time_us)

    def _post(self, did: str, rkey: str, record: dict[str, Any], time_us: int) -> None:
        uri = f"at://{did}/{POST}/{rkey}"
        parent = _at(record, "reply", "parent", "uri")
        quoted = _quoted(record)
        quoted_post = self._followed.get(quoted) if quoted else None  # read without the lock: see ``take``
        quoted_text = quoted_post.post.text if quoted_post is not None and quoted_post.post is not None else ""
        post = None if uri in self._followed else self._as_post(did, rkey, uri, record, time_us, quoted, quoted_text)
        with self.lock:
            key = f"{did}/{POST}/{rkey}"
            for target, field in ((parent, "comments"), (quoted, "reposts")):
                followed = self._followed.get(target) if isinstance(target, str) and target != uri else None
                if followed is not None and self._count(f"{key}#{field}", time_us):
                    setattr(followed, field, getattr(followed, field) + 1)
                    self._changed(str(target), followed)
            if post is not None and uri not in self._followed:
                followed = _Followed(time_us, post=post)
                if self.changed(post):
                    self._follow(uri, followed, time_us)
            self._advance(time_us)

    def _as_post(self, did: str, rkey: str, uri: str, record: dict[str, Any], time_us: int, quoted: str, quoted_text: str) -> Post | None:
        """The post, when the application may want it; None otherwise (most of them)."""
        text = _text_of(record)
        matched = "\n\n".join(t for t in (text, quoted_text) if t)[:MAX_TEXT]
        if not matched or not self.context.wanted(matched):
            return None
        seen = datetime.fromtimestamp(time_us / 1_000_000, UTC)
        created = parse_iso(record.get("createdAt"))
        return Post(
            platform="bluesky", id=uri, url=f"https://bsky.app/profile/{did}/post/{rkey}", text=matched, author=did,
            created_at=seen if created is None or created > seen else created,  # a client clock running fast never dates a post in the future
            engagement=Engagement(reposts=0, comments=0, likes=0), repost_of=quoted,
        )

    # -- state (with ``lock`` held) --------------------------------------------------------------

    def _advance(self, time_us: int) -> None:
        if self._cursor is None or time_us > self._cursor:
            self._cursor = time_us

    def _count(self, key: str, time_us: int) -> bool:
        """Remember a counted record; False when it was counted already (a replay)."""
        key = _digest(key)
        if key in self._counted:
            return False
        self._counted[key] = time_us
        self._forget_counted(time_us)
        return True

    def _forget_counted(self, time_us: int) -> None:
        """Keys older than ``DEDUPE_US`` before the cursor cannot come back: forget them."""
        horizon = max(self._cursor or 0, time_us) - DEDUPE_US
        counted = self._counted
        while counted and (len(counted) > MAX_KEYS or next(iter(counted.values())) < horizon):
            counted.popitem(last=False)

    def _follow(self, uri: str, followed: _Followed, time_us: int) -> None:
        if uri not in self._followed:
            self._followed_bytes += len(uri) + _FOLLOWED_OVERHEAD
        self._followed[uri] = followed
        self._let_go(time_us)

    def _let_go(self, time_us: int) -> None:
        """Stop following posts first seen longer than ``track_for`` ago (or the oldest,
        past ``MAX_FOLLOWED``)."""
        horizon = time_us - int(self.context.track_for.total_seconds() * 1_000_000)
        followed = self._followed
        while followed and (len(followed) > MAX_FOLLOWED or self._followed_bytes > MAX_FOLLOWED_BYTES or next(iter(followed.values())).first_us < horizon):
            uri, _ = followed.popitem(last=False)
            self._followed_bytes -= len(uri) + _FOLLOWED_OVERHEAD

    def _changed(self, uri: str, followed: _Followed) -> None:
        engagement = Engagement(reposts=followed.reposts, comments=followed.comments, likes=followed.likes)
        base = self.buffered(uri) or followed.post
        if base is None:  # followed since before a restart: the stored post has its text
            match = _POST_URI.match(uri)
            if match is None:
                return
            did, rkey = match.groups()
            base = Post(platform="bluesky", id=uri, url=f"https://bsky.app/profile/{did}/post/{rkey}", text="", author=did)
        self.changed(Post(
            platform=base.platform, id=base.id, url=base.url, text=base.text, author=base.author, created_at=base.created_at,
            engagement=engagement, repost_of=base.repost_of,
        ))

    def checkpoint(self) -> Any:
        if self._cursor is not None:
            self._forget_counted(self._cursor)
            self._let_go(self._cursor)
        return {
            "cursor": self._cursor,
            "followed": [[uri, f.first_us, f.likes, f.reposts, f.comments] for uri, f in self._followed.items()],
            "counted": [[key, at] for key, at in self._counted.items()],
        }

    def restore(self, state: Any) -> None:
        self._cursor, self._followed, self._counted, self._followed_bytes = None, OrderedDict(), OrderedDict(), 0
        if not isinstance(state, dict):
            return
        cursor = state.get("cursor")
        if isinstance(cursor, int) and not isinstance(cursor, bool) and 0 < cursor < 2**62:
            self._cursor = cursor
        for item in _list(state.get("followed"))[-MAX_FOLLOWED:]:
            if isinstance(item, list) and len(item) == 5 and isinstance(item[0], str) and _POST_URI.match(item[0]) and all(_count_ok(v) for v in item[1:]):
                self._follow(item[0], _Followed(item[1], item[2], item[3], item[4]), item[1])
        for item in _list(state.get("counted"))[-MAX_KEYS:]:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and len(item[0]) == _DIGEST_CHARS and _count_ok(item[1]):
                self._counted[item[0]] = item[1]


_DIGEST_CHARS = 24


def _digest(key: str) -> str:
    """A record key as 24 hex characters: what dedupe remembers, the same size for any key."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=_DIGEST_CHARS // 2).hexdigest()


def _decode(frame: bytes | str, compressed: bool) -> Any:
    """The frame as JSON, or None: capped, decompressed with a bound, never raising."""
    if isinstance(frame, str):
        data: bytes | str = frame
    elif compressed or frame[:4] == b"\x28\xb5\x2f\xfd":  # a zstd frame's magic number
        try:
            data = _decompress(frame)
        except zstandard.ZstdError:
            return None
    else:
        data = frame
    if len(data) > MAX_FRAME:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None


def _decompress(frame: bytes) -> bytes:
    size = zstandard.frame_content_size(frame)
    if size > MAX_FRAME:
        raise zstandard.ZstdError(f"a frame of {size} bytes")
    if size >= 0:
        return _decompressor().decompress(frame)
    return _decompressor().stream_reader(frame).read(MAX_FRAME + 1)  # the size is not declared: read no more than the cap


def _at(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]…`` or None: ``fields.dig`` for parsed JSON only (exact dict
    checks, several times cheaper on the firehose's hot path)."""
    for key in path:
        if type(obj) is not dict:
            return None
        obj = obj.get(key)
    return obj


def _author(event: dict[str, Any], commit: dict[str, Any]) -> tuple[str, str] | None:
    """The event's (did, record key) when both are well-formed."""
    did, rkey = event.get("did"), commit.get("rkey")
    if type(did) is str and type(rkey) is str and _DID.match(did) and _RKEY.match(rkey):
        return did, rkey
    return None


def _text_of(record: dict[str, Any]) -> str:
    """The post's text, its images' and video's alt texts, and its link card."""
    parts = [record.get("text")]
    embed = record.get("embed")
    for media in (embed, _at(embed, "media")):
        images = _at(media, "images")
        if isinstance(images, list):
            parts.extend(_at(image, "alt") for image in images[:10])
        parts.append(_at(media, "alt"))  # app.bsky.embed.video
        parts.extend((_at(media, "external", "title"), _at(media, "external", "description")))
    return "\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _quoted(record: dict[str, Any]) -> str:
    """The post a quote post quotes (``embed.record`` or ``embed.record.record``), else ""."""
    for uri in (_at(record, "embed", "record", "uri"), _at(record, "embed", "record", "record", "uri")):
        if isinstance(uri, str) and _POST_URI.match(uri):
            return uri
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62
