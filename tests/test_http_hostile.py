"""PoliteHttp against hostile servers on 127.0.0.1 (real sockets, the daemon's own client):
compression bombs, trickled headers, absurd Retry-After values."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources import BodyTooLarge, HttpPolicy, PoliteHttp, RateLimited, ResponseError, TransportError, new_client
from sources.http import RETRY_AFTER_CEILING, parse_retry_after
from sources.http._decode import _Inflater
from tests.hostile import Handler, HostileServer, gzip_layers


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], HostileServer]]:
    servers: list[HostileServer] = []

    def start(handler: Handler) -> HostileServer:
        servers.append(HostileServer(default=handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


respond = HostileServer.respond


# -- compression ---------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_cap_inside_zlib() -> None:
    bomb = gzip_layers(64 << 20, 1)  # 64 MiB of zeros in about 64 kB
    layer = _Inflater("gzip", 1 << 20, "http://x")
    with pytest.raises(BodyTooLarge):
        for start in range(0, len(bomb), 16384):
            out = layer.feed(bomb[start : start + 16384])
            assert len(out) <= (1 << 20) + 1  # zlib itself was never asked for more
    assert layer.produced == (1 << 20) + 1


@pytest.mark.parametrize("encoding", ["gzip, gzip", "x-gzip,gzip", "gzip"])
def test_stacked_compression_is_capped_layer_by_layer_while_decoding(serve, encoding) -> None:
    layers = len(encoding.split(","))
    server = serve(respond(gzip_layers(256 << 20, layers), Content_Encoding=encoding))
    policy = HttpPolicy(max_bytes=1 << 20)
    with new_client(policy) as client, pytest.raises(BodyTooLarge, match="cap"):
        PoliteHttp(client, policy).get(server.url)


def test_a_stacked_bomb_costs_the_process_no_memory_to_speak_of(serve) -> None:
    """In a fresh process (its peak resident memory is its own): 256 MiB behind two gzip
    layers is refused without ever being inflated (it used to be inflated whole)."""
    server = serve(respond(gzip_layers(256 << 20, 2), Content_Encoding="gzip, gzip"))
    probe = textwrap.dedent(
        f"""
        import resource
        from sources import BodyTooLarge, HttpPolicy, PoliteHttp, new_client
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        policy = HttpPolicy()
        try:
            PoliteHttp(new_client(policy), policy).get({server.url!r})
        except BodyTooLarge:
            pass
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    grown_kib = int(done.stdout.strip())
    assert grown_kib < 64 * 1024  # the default cap is 5 MB; the bomb was 256 MiB


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip, gzip", "compress"])
def test_codings_we_did_not_ask_for_are_refused_with_a_reason(serve, encoding) -> None:
    server = serve(respond(b"whatever", Content_Encoding=encoding))
    with new_client() as client, pytest.raises(ResponseError) as info:
        PoliteHttp(client).get(server.url)
    assert "Content-Encoding" in str(info.value) or "codings" in str(info.value)


def test_raw_deflate_and_zlib_deflate_both_read(serve) -> None:
    body = "艾克美".encode() * 100
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for data in (zlib.compress(body), raw.compress(body) + raw.flush()):
        server = serve(respond(data, Content_Encoding="deflate"))
        with new_client() as client:
            assert PoliteHttp(client).get(server.url).content == body


def test_a_gzip_body_of_several_members_is_read_whole(serve) -> None:
    """RFC 1952 allows members one after another (``cat a.gz b.gz``); zlib stops after the
    first, and the rest of the feed was silently dropped."""
    first, second = "艾克美 保温杯 ".encode() * 50, "烫伤 injury ".encode() * 50
    server = serve(respond(gzip.compress(first) + gzip.compress(second), Content_Encoding="gzip"))
    with new_client() as client:
        assert PoliteHttp(client).get(server.url).content == first + second


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_truncated_compressed_body_is_an_error_not_half_a_feed(serve, encoding) -> None:
    body = bytes(range(256)) * 400  # does not compress to nothing: the cut falls inside the stream
    whole = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    server = serve(respond(whole[: len(whole) // 2], Content_Encoding=encoding))
    with new_client() as client, pytest.raises(ResponseError, match="truncated"):
        PoliteHttp(client).get(server.url)


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4), st.integers(min_value=1, max_value=64))
@settings(max_examples=60, deadline=None)
def test_gzip_members_in_any_chunking_decode_like_the_standard_library(members, chunk) -> None:
    """The oracle is Python's gzip module, which reads every member."""
    data = b"".join(gzip.compress(m) for m in members)
    layer = _Inflater("gzip", 1 << 20, "http://127.0.0.1/")
    out = b"".join(layer.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    layer.finish()
    assert out == gzip.decompress(data)


# -- one deadline for the whole request ---------------------------------------------------


def test_headers_trickled_a_byte_at_a_time_hit_the_request_deadline(serve) -> None:
    release = threading.Event()

    def trickle(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            conn.sendall(bytes([byte]))
            if release.wait(0.05):
                return

    server = serve(trickle)
    policy = HttpPolicy(total_timeout=1.0, read_timeout=30.0, connect_timeout=5.0)
    started = time.monotonic()
    try:
        with new_client(policy) as client, pytest.raises(TransportError, match="timed out"):
            PoliteHttp(client, policy).get(server.url)
    finally:
        release.set()
    assert time.monotonic() - started < policy.read_timeout / 3  # cut at the deadline, not by a read timeout


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["999999999999", "99999999999999999999999999999", "31536000000", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_absurd_retry_after_values_are_bounded(value) -> None:
    wait = parse_retry_after(value, 1_700_000_000.0)
    assert wait is not None and 0 <= wait <= RETRY_AFTER_CEILING


@pytest.mark.parametrize("value", ["١٢٣", "-5", "1e9", "soon", "x" * 10_000])
def test_retry_after_values_that_are_not_numbers_or_dates_are_ignored(value) -> None:
    assert parse_retry_after(value, 1_700_000_000.0) is None


def test_a_429_with_an_absurd_retry_after_is_one_clean_error(serve) -> None:
    def limited(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 999999999999\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = serve(limited)
    policy = HttpPolicy()
    http = PoliteHttp(new_client(policy), policy)
    with pytest.raises(RateLimited) as info:
        http.get(server.url)
    assert info.value.retry_after == RETRY_AFTER_CEILING
    assert http.backoff_remaining(server.url) <= policy.backoff_max
