"""Mastodon's streaming API: one instance's public, local or hashtag stream, as it happens.

The stream is Server-Sent Events (``sources/sse.py``); ``update`` and ``status.update``
become posts through the polled kind's own parsing, ``delete`` ends a post's tracking
(``refresh`` leaves it out, so the poller stops re-reading it). Since Mastodon 4.2 the
streaming server wants an access token (any app token with ``read:statuses``), read from
the environment variable named by ``token_env`` and sent to that instance only.

Where the stream lives is asked from the instance (``/api/v2/instance``,
``configuration.urls.streaming``: mastodon.social streams from another host) unless
``streaming_url`` says. A stream cannot be replayed (Mastodon ignores ``Last-Event-ID``,
which is sent anyway for servers that honour it), so whatever was posted while it was down
is read from the timeline that lists the same statuses: each poll while disconnected, and
once after every (re)connection, paging forward from the newest status seen (``min_id``),
at most ``CATCH_UP_PAGES`` pages a poll. That position is kept across restarts. A stream
whose timeline cannot be read either is failing, and after ``blind_after`` blind.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from sources.base import SourceContext
from sources.errors import ResponseError, SourceError
from sources.fields import as_str, dig, is_web_url
from sources.http import PoliteHttp
from sources.mastodon import STATUS_ID, read_status, read_timeline
from sources.mastodon_events import STREAMS, Stream, StreamChange, newer, read_event, stream_for
from sources.options import Option
from sources.post import Post
from sources.sse import SseConnection, SseLimits, usable_event_id
from sources.stream import StreamDown, StreamSource

log = logging.getLogger("sources.mastodon_stream")
CATCH_UP_PAGES = 5
"""Timeline pages (40 statuses each) read per poll while catching up; a longer gap is
read over the next polls, from where this one stopped."""
PAGE = 40
REMEMBER_DELETES = 10_000
"""Deleted status ids kept to end tracking (a public stream carries every deletion the
instance hears of: far more than we track)."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


class MastodonStreamSource(StreamSource):
    kind: ClassVar[str] = "mastodon_stream"
    refresh_batch: ClassVar[int] = 20
    limits: ClassVar[SseLimits] = SseLimits()
    options = {
        "instance": Option("url", "the Mastodon server whose stream is read", default="https://mastodon.social"),
        "stream": Option("str", "public (everything the instance hears of), public:local (its own users) or hashtag (with tag)", default="public"),
        "tag": Option("str", "the hashtag of stream = \"hashtag\", without #"),
        "token_env": Option("str", "environment variable holding an access token (Mastodon 4.2 and later refuse their stream without one)"),
        "streaming_url": Option("url", "the streaming server, when not the one the instance names in /api/v2/instance"),
    }

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if settings["stream"] not in STREAMS:
            problems.append(("stream", f"{settings['stream']!r} is not one of {', '.join(STREAMS)}"))
        elif settings["stream"] == "hashtag" and not (settings.get("tag") or "").lstrip("#"):
            problems.append(("tag", "is required with stream = \"hashtag\""))
        elif settings["stream"] != "hashtag" and settings.get("tag"):
            problems.append(("tag", "is only for stream = \"hashtag\""))
        env = settings.get("token_env")
        if env is not None:
            if not _ENV_NAME.fullmatch(env):
                problems.append(("token_env", "must name an environment variable (like \"MASTODON_TOKEN\"), not hold the token itself"))
            elif not os.environ.get(env, "").strip():
                problems.append(("token_env", f"environment variable {env} is not set"))
            elif not (os.environ[env].isascii() and os.environ[env].isprintable()):
                problems.append(("token_env", f"environment variable {env} holds a line break, a control or a non-ASCII character"))
        return problems

    @classmethod
    def minimum_every(cls, settings: Mapping[str, Any]) -> timedelta:
        return timedelta(seconds=15)  # while the stream is down, every poll reads the timeline

    def __init__(self, name: str, settings: Mapping[str, Any], context: SourceContext) -> None:
        super().__init__(name, settings, context)
        self.instance: str = self.settings["instance"]
        self.paths: Stream = stream_for(self.settings["stream"], self.settings.get("tag") or "")
        token = os.environ.get(self.settings["token_env"], "").strip() if self.settings.get("token_env") else ""
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.rest: PoliteHttp = context.http.with_secrets(self._auth, {})
        self._streaming: str | None = self.settings.get("streaming_url")
        self._newest = ""  # the newest timeline id seen, from the stream or the timeline
        self._gap_from: str | None = ""  # read the timeline from here at the next poll (None: no gap); "" from the top
        self._last_event_id = ""
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._connection: SseConnection | None = None
        self._retry: float | None = None

    # -- the reader thread ----------------------------------------------------------------------

    def connect_and_read(self, stopping: threading.Event) -> None:
        url = self._streaming_base() + self.paths.streaming
        headers = {"User-Agent": self.context.http.policy.user_agent, **self._auth}
        connection = SseConnection(self.context.http.client, url, headers=headers, last_event_id=self._last_event_id, limits=self.limits)
        self._connection = connection
        if stopping.is_set():  # closed while we were finding the streaming server
            return
        reported = 0
        try:
            for event in connection.events(self._opened):
                if stopping.is_set():
                    return
                self._take(event.event, read_event(event), connection.parser.last_event_id)
                if connection.parser.dropped > reported:  # said once a connection; the count is in the debug log
                    say = log.debug if reported else log.warning
                    say("source %s: stream event(s) over the %d-byte cap dropped (%d on this connection)", self.name, self.limits.max_event, connection.parser.dropped)
                    reported = connection.parser.dropped
        finally:
            self._connection = None
            if connection.parser.retry is not None:
                self._retry = connection.parser.retry

    def _take(self, kind: str, change: StreamChange | None, last_event_id: str) -> None:
        """One event's change into the buffer (posts a brand may name), the deletes and
        the newest timeline id. A new status's time (a boost's own) is how far behind
        real time the stream is; an edit's is not (it is the edited post's)."""
        created = change.posts[-1].created_at if kind == "update" and change is not None and change.posts else None
        self.event_seen(created.timestamp() if created is not None else None)
        with self.lock:
            self._last_event_id = last_event_id
            if change is None:
                return
            if change.deleted:
                self._deleted[change.deleted] = None
                if len(self._deleted) > REMEMBER_DELETES:
                    self._deleted.popitem(last=False)
            if change.timeline_id and newer(change.timeline_id, self._newest):
                self._newest = change.timeline_id
            for post in change.posts:
                if self.context.wanted(post.text):
                    self.changed(post)

    def first_reconnect_wait(self) -> float:
        return self.reconnect_base if self._retry is None else self._retry  # the server's ``retry:``, within sse.RETRY_BOUNDS

    def _opened(self) -> None:
        """The stream answered: from now on it carries what is posted; what was posted
        since the newest status seen is read from the timeline at the next poll."""
        with self.lock:
            if self._gap_from is None:
                self._gap_from = self._newest
        self.connected()

    def disconnect(self) -> None:
        connection = self._connection
        if connection is not None:
            connection.interrupt()

    def _streaming_base(self) -> str:
        """The streaming server's root: ``streaming_url``, else what the instance says,
        else the instance itself (it proxies ``/api/v1/streaming``)."""
        if self._streaming is None:
            try:
                said = as_str(dig(self.rest.get_json(f"{self.instance}/api/v2/instance"), "configuration", "urls", "streaming"))
            except ResponseError as exc:  # an older server or another software: try the instance itself
                log.info("source %s: %s does not say where it streams from (%s); streaming from it", self.name, self.instance, exc)
                said = ""
            said = re.sub(r"^ws(s?)://", r"http\1://", said.strip(), flags=re.IGNORECASE).rstrip("/")
            if said and self.instance.lower().startswith("https://") and not said.lower().startswith("https://"):
                # the token goes with every connection: never in the clear because an answer said so
                log.warning("source %s: %s names %s as its streaming server, without TLS; streaming from the instance itself", self.name, self.instance, said[:200])
                said = ""
            self._streaming = said if said and is_web_url(said) else self.instance
        return self._streaming

    # -- the poll loop's side ---------------------------------------------------------------------

    def drain(self) -> list[Post]:
        """The stream's posts, after what the timeline listed in the gap before the stream
        (re)opened; a gap that cannot be read now is read at the next poll."""
        with self.lock:
            gap = self._gap_from
        if gap is not None:
            try:
                self._catch_up(gap)
            except SourceError as exc:  # the stream is up: what it missed is read next time
                log.warning("source %s: reading what was posted while the stream was down failed, will try again: %s", self.name, exc)
        return super().drain()

    def fetch_while_down(self, problem: str) -> list[Post]:
        with self.lock:
            since = self._newest if self._gap_from is None else self._gap_from
        try:
            self._catch_up(since)
        except SourceError as exc:
            raise StreamDown(f"{problem}; the timeline could not be read either: {exc}") from None
        return super().drain()

    def _catch_up(self, since: str) -> None:
        """Buffer the timeline's statuses newer than ``since`` (its newest page when ""), at
        most ``CATCH_UP_PAGES`` pages; where it stopped is where the next poll goes on.

        They go through the buffer, like the stream's, because the position moves on here:
        handed over beside it, a store that failed would lose them (the next poll reads on
        from the new position). Buffered, they stay until the ``commit`` that saves it. A
        post the stream already buffered keeps the stream's version, the later one."""
        url, posts, cursor, done = self.instance + self.paths.timeline, [], since, False
        for _page in range(CATCH_UP_PAGES):
            params = {"limit": PAGE, **dict(self.paths.params), **({"min_id": cursor} if cursor else {})}
            found, ids = read_timeline(self.rest, url, params)
            posts += [post for post in found if self.context.wanted(post.text)]
            newest = max(ids, key=lambda i: (len(i), i), default="")
            done = not cursor or len(ids) < PAGE or not newer(newest, cursor)
            if newest and newer(newest, cursor):
                cursor = newest
            if done:
                break
        with self.lock:
            if newer(cursor, self._newest):
                self._newest = cursor
            if self._gap_from == since:
                self._gap_from = None if done else cursor
            for post in posts:
                if self.buffered(post.id) is None:
                    self.changed(post)

    def refresh(self, refs: Sequence[str]) -> list[Post]:
        with self.lock:
            live = [ref for ref in refs if ref not in self._deleted]  # deleted on the stream: tracking ends
        return self.refresh_each(live, STATUS_ID, lambda ref: read_status(self.rest, self.instance, ref))

    def restore(self, state: Any) -> None:
        if not isinstance(state, dict):
            return
        newest, last_id = as_str(state.get("newest")), as_str(state.get("last_event_id"))
        if STATUS_ID.fullmatch(newest):
            self._newest = self._gap_from = newest  # what was posted while we were away
        if last_id and usable_event_id(last_id.encode("utf-8", "replace")):
            self._last_event_id = last_id

    def checkpoint(self) -> Any:
        return {"newest": self._newest, "last_event_id": self._last_event_id}

