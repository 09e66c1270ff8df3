"""A hostile HTTP server on 127.0.0.1 for tests: each path answers with raw bytes written by
the test (compression bombs, trickled headers, absurd headers, bodies that never end)."""

from __future__ import annotations

import json
import socket
import threading
import zlib
from collections.abc import Callable

Handler = Callable[[socket.socket], None]


class HostileServer:
    """Answers a request for a path with ``routes[path](conn)``; ``default`` otherwise."""

    def __init__(self, routes: dict[str, Handler] | None = None, default: Handler | None = None) -> None:
        self.routes = dict(routes or {})
        self.default = default
        self.released = threading.Event()
        """Set when the test ends: handlers that wait (trickle, hang) stop."""
        self.requests: list[str] = []
        """The first line of each request, as received (a proxy is sent absolute addresses)."""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/feed"

    def _serve(self) -> None:
        while not self.released.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = conn.recv(65536).decode("latin-1")
                self.requests.append(request.split("\r\n", 1)[0])
                path = request.split(" ", 2)[1].split("?", 1)[0] if request.count(" ") >= 2 else ""
                handler = self.routes.get(path, self.default)
                if handler is not None:
                    handler(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.released.set()
        self.sock.close()

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def respond(body: bytes, status: str = "200 OK", **headers: str) -> Handler:
        def handler(conn: socket.socket) -> None:
            head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
            conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}Connection: close\r\n\r\n".encode() + body)

        return handler

    def trickle(self, every: float = 0.05) -> Handler:
        """Headers one byte at a time, never finished."""

        def handler(conn: socket.socket) -> None:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1_000_000:
                conn.sendall(bytes([byte]))
                if self.released.wait(every):
                    return

        return handler

    def hang(self) -> Handler:
        """Accepts, reads the request, never answers."""
        return lambda conn: self.released.wait(120) and None

    def endless(self) -> Handler:
        """A 200 with no length whose body never ends."""

        def handler(conn: socket.socket) -> None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n<rss>")
            chunk = b"<!-- filler -->" * 4096
            while not self.released.is_set():
                conn.sendall(chunk)

        return handler


def gzip_layers(raw_size: int, layers: int) -> bytes:
    """``raw_size`` zero bytes gzipped ``layers`` times, made a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"\0" * (1 << 20)
    data = b"".join(packer.compress(chunk) for _ in range(raw_size >> 20)) + packer.flush()
    for _ in range(layers - 1):
        data = zlib.compress(data, 9, wbits=zlib.MAX_WBITS | 16)
    return data


def mastodon_statuses(*statuses: dict) -> bytes:
    return json.dumps(list(statuses)).encode()
