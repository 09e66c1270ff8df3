"""A Mastodon instance on 127.0.0.1 for the stream tests: its streaming API (Server-Sent
Events that the test writes, drops and watches) and the REST calls the stream kind makes
(``/api/v2/instance``, a timeline paged by ``min_id``, a status by id).

Each stream connection gets its own queue: ``send`` writes to the newest one, ``drop``
ends it. What each stream request carried (``Last-Event-ID``, ``Authorization``) is kept
in ``stream_requests``; every REST request in ``rest_requests``."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import serve, shut

_DROP = object()


@dataclass
class MastodonServer:
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every status by id: the timeline lists them, newest id first; ``/statuses/<id>`` reads one."""
    stream_status: int = 200
    """What a stream request is answered (401 for "no token", 500 for a server in trouble)."""
    stream_body: Callable[[Any], None] | None = None
    """When set, writes a stream itself (given the handler's ``wfile``): hostile bodies."""
    timeline_status: int = 200
    streaming_at: str | None = ""
    """What ``/api/v2/instance`` names as the streaming server: "" this server, None no
    such endpoint (404, an older server)."""
    stream_requests: list[dict[str, str]] = field(default_factory=list)
    rest_requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    rest_tokens: list[str] = field(default_factory=list)
    """The Authorization header of each REST request, in order."""
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    _queues: list[queue.Queue[Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._queues)

    def post(self, status: dict[str, Any]) -> None:
        """A status appears on the instance: listed by the timeline from now on."""
        self.statuses[status["id"]] = status

    def send(self, event: str, data: str, *, ident: str | None = None) -> None:
        """One event on the open stream."""
        frame = f"event: {event}\n" + "".join(f"data: {line}\n" for line in data.split("\n"))
        if ident is not None:
            frame += f"id: {ident}\n"
        self.send_raw((frame + "\n").encode())

    def send_raw(self, chunk: bytes) -> None:
        with self._lock:
            self._queues[-1].put(chunk)

    def drop(self) -> None:
        """The server ends the open stream."""
        with self._lock:
            self._queues[-1].put(_DROP)

    def start(self) -> None:
        mastodon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):  # the source closed its stream
                    pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.path.startswith("/api/v1/streaming/"):
                    mastodon.stream_requests.append({k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
                    self._stream()
                    return
                mastodon.rest_requests.append((parts.path, query))
                mastodon.rest_tokens.append(self.headers.get("Authorization", ""))
                if parts.path == "/api/v2/instance" and mastodon.streaming_at is not None:
                    streaming = mastodon.streaming_at or mastodon.base.replace("http://", "ws://")
                    self._json(200, {"configuration": {"urls": {"streaming": streaming}}})
                elif parts.path.startswith("/api/v1/timelines/"):
                    self._timeline(query)
                elif parts.path.startswith("/api/v1/statuses/") and parts.path.rsplit("/", 1)[-1] in mastodon.statuses:
                    self._json(200, mastodon.statuses[parts.path.rsplit("/", 1)[-1]])
                else:
                    self._json(404, {"error": "Record not found"})

            def _timeline(self, query: dict[str, str]) -> None:
                if mastodon.timeline_status != 200:
                    self._json(mastodon.timeline_status, {"error": "down"})
                    return
                order = sorted(mastodon.statuses, key=lambda i: (len(i), i))
                limit = int(query.get("limit", "20"))
                if "min_id" in query:  # the statuses just after min_id, listed newest first
                    after = [i for i in order if (len(i), i) > (len(query["min_id"]), query["min_id"])][:limit]
                else:
                    after = order[-limit:]
                self._json(200, [mastodon.statuses[i] for i in reversed(after)])

            def _json(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                if mastodon.stream_status != 200:
                    self._json(mastodon.stream_status, {"error": "refused"})
                    return
                mine: queue.Queue[Any] = queue.Queue()
                with mastodon._lock:
                    mastodon._queues.append(mine)  # before the answer: the client may send at once
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if mastodon.stream_body is not None:
                    try:
                        mastodon.stream_body(self.wfile)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                try:
                    self.wfile.write(b":)\n")
                    self.wfile.flush()
                    while not mastodon.release.is_set():
                        try:
                            item = mine.get(timeout=0.05)
                        except queue.Empty:
                            continue
                        if item is _DROP:
                            return
                        self.wfile.write(item)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve(Handler)

    def stop(self) -> None:
        shut(self.server, self.release)
