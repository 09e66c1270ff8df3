"""The body's Content-Encoding undone under the byte cap *while* it is inflated, layer by
layer: 13 kB of ``gzip, gzip`` would otherwise inflate to 8 GiB before any check. Apart
from the politeness layer because it is the one place a hostile body can cost memory."""

from __future__ import annotations

import zlib

from sources.errors import BodyTooLarge, ResponseError

MAX_CODINGS = 2
"""Content-Encoding layers accepted on one response (``gzip, gzip`` is legal and rare)."""


class _Inflater:
    """One gzip or deflate layer that never produces more than ``cap`` bytes in all: each
    call asks zlib for at most the room left plus one byte, so a bomb stops at the cap
    instead of after it has filled memory."""

    def __init__(self, coding: str, cap: int, url: str) -> None:
        self.coding, self.cap, self.url = coding, cap, url
        self.produced = 0
        self.started = False
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        out = self._inflate(data)
        # gzip allows several members one after another (RFC 1952, 2.2); zlib stops at the
        # end of the first and leaves the rest in ``unused_data``. Each turn consumes input,
        # so the loop is bounded by the body's size.
        while self._zlib.eof and self._gzip and self._zlib.unused_data[:2] == b"\x1f\x8b":
            rest = self._zlib.unused_data
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out += self._inflate(rest)
        return out

    def finish(self) -> None:
        """The body has ended: a stream zlib has not seen the end of was cut short (a
        dropped connection, a proxy's limit), and half a feed must not pass for a whole one."""
        if self.started and not self._zlib.eof:
            raise ResponseError(f"{self.url}: body ends before its {self.coding} stream does (truncated)")

    @property
    def _gzip(self) -> bool:
        return self.coding in ("gzip", "x-gzip")

    def _inflate(self, data: bytes) -> bytes:
        room = self.cap - self.produced
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error:
            if self.coding != "deflate" or self.started:
                raise ResponseError(f"{self.url}: body is not valid {self.coding}") from None
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, as many servers do
            try:
                out = self._zlib.decompress(data, room + 1)
            except zlib.error:
                raise ResponseError(f"{self.url}: body is not valid deflate") from None
        self.started = True
        self.produced += len(out)
        if self.produced > self.cap:
            raise BodyTooLarge(f"{self.url}: body is over the {self.cap}-byte cap once decompressed ({self.coding})")
        return out


def _decoders(content_encoding: str, cap: int, url: str) -> list[_Inflater]:
    """The layers to undo, last applied first."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if len(codings) > MAX_CODINGS:
        raise ResponseError(f"{url}: {len(codings)} content codings ({content_encoding[:80]!r}); at most {MAX_CODINGS} are read")
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseError(f"{url}: unsupported Content-Encoding {coding[:40]!r} (we ask for gzip or deflate)")
    return [_Inflater(coding, cap, url) for coding in reversed(codings)]
