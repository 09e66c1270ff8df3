"""Polite HTTP for every source, in one place.

Every source is handed a ``PoliteHttp``; none builds its own client. It applies the
manners a platform expects from a well-behaved poller: a User-Agent that names us, a
connect/read timeout *and* a deadline on the whole body (a server that drips one byte a
second must not hold a worker), a cap on the decompressed body size, conditional GET
(ETag / Last-Modified) with "unchanged" detection by content hash, a per-host
concurrency limit, honouring 429/503 ``Retry-After``, and exponential backoff with
jitter after failures, reset on success. Errors leave as ``sources.errors`` types.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import BodyTooLarge, Gone, ParseError, RateLimited, ResponseError, SourceError, TransportError

USER_AGENT = "brand-monitor/0.1 (self-hosted crisis-alert daemon; +https://pypi.org/project/brand-monitor/)"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    per_host: int = 4
    backoff_base: float = 30.0
    backoff_max: float = 3600.0
    user_agent: str = USER_AGENT


class BackingOff(TransportError):
    """Not sent at all: the host or URL failed recently and is still in its backoff window."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content: bytes
    headers: Mapping[str, str]
    unchanged: bool = False
    """True on 304, or when the body hashes the same as the last one confirmed for this URL."""
    key: str = ""
    digest: str = ""


@dataclass(slots=True)
class _Gate:
    failures: int = 0
    until: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class _Validators:
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


class PoliteHttp:
    """Wraps one shared ``httpx.Client`` (the plug point: tests hand in respx or loopback)."""

    def __init__(
        self,
        client: httpx.Client,
        policy: HttpPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or HttpPolicy()
        self._monotonic = monotonic
        self._wall = wall
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = {}
        self._validators: dict[str, _Validators] = {}
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests under way right now (all hosts)."""
        return self._in_flight

    # -- public -------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> Fetched:
        """GET ``url``; raise a ``SourceError`` for anything but a usable answer."""
        host = urlsplit(url).netloc.lower()
        key = str(httpx.URL(url, params=params)) if params else url
        self._check_gate(host)
        self._check_gate(key)
        request_headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if headers:
            request_headers.update(headers)
        validators = self._validators.get(key) if conditional else None
        if validators:
            if validators.etag:
                request_headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                request_headers["If-Modified-Since"] = validators.last_modified
        slot = self._host_slot(host)
        if not slot.acquire(blocking=False):
            # never park a worker thread behind hung requests to the same host
            raise BackingOff(f"{host}: {self.policy.per_host} requests already in flight; skipped this round")
        with self._lock:
            self._in_flight += 1
        try:
            fetched = self._fetch(url, params, request_headers)
        except RateLimited as exc:
            self._fail(host, exc)
            raise
        except SourceError as exc:
            self._fail(key, exc)
            raise
        finally:
            slot.release()
            with self._lock:
                self._in_flight -= 1
        self._succeed(host)
        self._succeed(key)
        if conditional:
            fetched = self._compare(key, fetched)
        return fetched

    def confirm(self, fetched: Fetched) -> None:
        """Remember a conditional response's validators once its body has been used.

        Only a body that parsed is remembered: a broken feed is fetched and fails
        again next time instead of passing as "unchanged"."""
        if not fetched.key or fetched.status == 304:
            return
        headers = {k.lower(): v for k, v in fetched.headers.items()}
        with self._lock:
            self._validators[fetched.key] = _Validators(headers.get("etag"), headers.get("last-modified"), fetched.digest)

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        fetched = self.get(url, params=params, headers={"Accept": "application/json", **(headers or {})})
        try:
            return json.loads(fetched.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # '[' * 100000 fits the size cap
            raise ParseError(f"{url}: response is not JSON ({exc.__class__.__name__}: {exc})") from None

    def backoff_remaining(self, url: str) -> float:
        """Seconds until ``url`` (or its host) may be tried again; 0 when it may now."""
        now = self._monotonic()
        host = urlsplit(url).netloc.lower()
        with self._lock:
            untils = [g.until for k, g in self._gates.items() if k in (url, host)]
        return max([0.0] + [u - now for u in untils])

    # -- internals ----------------------------------------------------------------------

    def _fetch(self, url: str, params: Mapping[str, Any] | None, headers: dict[str, str]) -> Fetched:
        policy = self.policy
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        deadline = self._monotonic() + policy.total_timeout
        try:
            with self.client.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
                status = response.status_code
                if status == 304:
                    return Fetched(str(response.url), status, b"", dict(response.headers), unchanged=True)
                # 418 is how Weibo (and others) say "you are a scraper, slow down"
                if status in (418, 429) or (status == 503 and "retry-after" in response.headers):
                    wait = parse_retry_after(response.headers.get("retry-after"), self._wall())
                    raise RateLimited(f"{url}: HTTP {status} (rate limited)", retry_after=wait)
                if status >= 500:
                    raise TransportError(f"{url}: HTTP {status} from server")
                if status in (404, 410):
                    raise Gone(f"{url}: HTTP {status}")
                if status >= 400:
                    raise ResponseError(f"{url}: HTTP {status}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > policy.max_bytes:
                    raise BodyTooLarge(f"{url}: body of {int(declared)} bytes is over the {policy.max_bytes}-byte cap")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > policy.max_bytes:
                        raise BodyTooLarge(f"{url}: body is over the {policy.max_bytes}-byte cap")
                    if self._monotonic() > deadline:
                        raise TransportError(f"{url}: body not complete after {policy.total_timeout:g}s")
                return Fetched(str(response.url), status, bytes(body), dict(response.headers))
        except httpx.TimeoutException as exc:
            raise TransportError(f"{url}: timed out ({exc.__class__.__name__})") from None
        except httpx.TooManyRedirects:
            raise ResponseError(f"{url}: too many redirects") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ResponseError(f"{url}: bad URL ({exc})") from None
        except httpx.DecodingError as exc:
            raise ResponseError(f"{url}: could not decode body ({exc})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{url}: {exc.__class__.__name__}: {exc or 'connection failed'}") from None

    def _compare(self, key: str, fetched: Fetched) -> Fetched:
        if fetched.status == 304:
            return fetched
        digest = hashlib.sha256(fetched.content).hexdigest()
        with self._lock:
            previous = self._validators.get(key)
        unchanged = previous is not None and previous.digest == digest
        return Fetched(fetched.url, fetched.status, fetched.content, fetched.headers, unchanged=unchanged, key=key, digest=digest)

    def _check_gate(self, key: str) -> None:
        with self._lock:
            gate = self._gates.get(key)
        if gate and gate.until > self._monotonic():
            left = gate.until - self._monotonic()
            raise BackingOff(f"{key}: backing off {left:.0f}s more after: {gate.reason}", retry_after=left)

    def _fail(self, key: str, exc: SourceError) -> None:
        with self._lock:
            gate = self._gates.setdefault(key, _Gate())
            gate.failures += 1
            if exc.retry_after is not None:
                wait = min(exc.retry_after, self.policy.backoff_max)
            else:
                wait = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (gate.failures - 1))
                wait *= self._rng.uniform(0.5, 1.0)  # "equal jitter": spread retries of many sources
            gate.until = self._monotonic() + wait
            gate.reason = str(exc)

    def _succeed(self, key: str) -> None:
        with self._lock:
            self._gates.pop(key, None)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(self.policy.per_host)
        return slot


def new_client(policy: HttpPolicy | None = None, **kwargs: Any) -> httpx.Client:
    """The shared client the daemon builds once (connection pooling, redirects followed)."""
    policy = policy or HttpPolicy()
    return httpx.Client(
        follow_redirects=True,
        max_redirects=5,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        headers={"User-Agent": policy.user_agent},
        **kwargs,
    )
