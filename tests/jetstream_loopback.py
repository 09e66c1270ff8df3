"""A Jetstream on 127.0.0.1 for tests (and the stream bench): websockets' own server
speaking the v1 ``/subscribe`` wire as far as the daemon uses it.

It holds a list of events (``time_us`` → frame) that tests add to while it runs. A
connection is sent every event at or after its ``cursor`` query parameter (all of them
without one), in order, then each event added later; ``compress=true`` gets each frame
zstd-compressed with Jetstream's dictionary. ``drop_after`` closes the next connection
after that many frames (a dropped connection); ``first`` frames (hostile ones) are sent
ahead of the events on the next connection. Every request's query is recorded.

Frames are built by the test from the real ones in ../shared/fixtures/real/streams/
(read in the test body, never in the server's threads).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import zstandard
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "streams" / "bluesky_jetstream_events" / "jetstream_real_events_extracted.jsonl"


def real_frames() -> list[dict[str, Any]]:
    """The real Jetstream frames (skip the calling test when the shared archive is absent)."""
    import pytest

    if not REAL.exists():
        pytest.skip(f"real Jetstream frames not available ({REAL})")
    return [json.loads(line) for line in REAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def pick(frames: list[dict[str, Any]], collection: str, via: bool | None = None) -> dict[str, Any]:
    """A deep copy of the first real frame of that collection (with or without ``via``)."""
    for frame in frames:
        commit = frame.get("commit") or {}
        if commit.get("collection") == collection and (via is None or ("via" in commit.get("record", {})) == via):
            return copy.deepcopy(frame)
    raise LookupError(collection)


@cache
def _compressor() -> zstandard.ZstdCompressor:
    data = files("sources").joinpath("data/jetstream_zstd_dictionary").read_bytes()
    return zstandard.ZstdCompressor(dict_data=zstandard.ZstdCompressionDict(data))


def compress(frame: str | bytes) -> bytes:
    return _compressor().compress(frame.encode() if isinstance(frame, str) else frame)


class FakeJetstream:
    def __init__(self) -> None:
        self.events: list[tuple[int, str | bytes]] = []
        self.first: list[str | bytes] = []
        self.queries: list[dict[str, list[str]]] = []
        self.drop_after: int | None = None
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"

    def add(self, *events: dict[str, Any] | tuple[int, str | bytes]) -> None:
        """Events as dicts (sent as compact JSON) or as ``(time_us, raw frame)``."""
        with self._changed:
            for event in events:
                if isinstance(event, dict):
                    self.events.append((int(event["time_us"]), json.dumps(event, separators=(",", ":"), ensure_ascii=False)))
                else:
                    self.events.append(event)
            self._changed.notify_all()

    def start(self, port: int = 0) -> FakeJetstream:
        self._closing.clear()
        self._server = serve(self._handle, "127.0.0.1", port or self.port, compression=None, max_size=None, ping_interval=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and stop listening (connections are refused after)."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            for connection in list(self._server.connections) if hasattr(self._server, "connections") else []:
                connection.close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        query = parse_qs(urlsplit(conn.request.path).query)
        self.queries.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        compressed = query.get("compress") == ["true"]
        drop_after, self.drop_after = self.drop_after, None
        sent = 0
        first, self.first = self.first, []  # hostile frames go to one connection only
        try:
            for frame in first:
                conn.send(frame)
            position = 0
            while not self._closing.is_set():
                with self._changed:
                    if position >= len(self.events):
                        self._changed.wait(0.05)
                    batch = self.events[position:]
                position += len(batch)
                for time_us, frame in batch:
                    if cursor is not None and time_us < cursor:
                        continue
                    if drop_after is not None and sent >= drop_after:
                        conn.close()
                        return
                    conn.send(compress(frame) if compressed and isinstance(frame, str) else frame)
                    sent += 1
            conn.close()
        except ConnectionClosed:
            return


@contextmanager
def fake_jetstream() -> Iterator[FakeJetstream]:
    server = FakeJetstream().start()
    try:
        yield server
    finally:
        server.stop()
