"""``PoliteHttp``: the manners every source gets from one place. A User-Agent that names
us, a per-host concurrency limit, conditional GET (ETag / Last-Modified) with "unchanged"
detection by content hash, Retry-After honoured and exponential backoff with jitter after
failures (reset on success), a source's secrets kept out of every address we keep, show
or log, and every failure leaving as a ``sources.errors`` type."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from httpdeadline import deadline as request_deadline
from retryafter import parse_retry_after
from sources.errors import BodyTooLarge, Gone, ParseError, RateLimited, ResponseError, SourceError, TransportError
from sources.http._config import HttpPolicy
from sources.http._decode import _decoders
from sources.http._transport import MAX_REDIRECTS


def backoff_delay(failures: int, base: float, ceiling: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling from ``base`` up to
    ``ceiling``, with "equal jitter" (a random half to all of it) so many sources failing
    together do not all come back at the same moment. One formula for polls and streams."""
    return min(ceiling, base * 2 ** max(0, failures - 1)) * rng.uniform(0.5, 1.0)


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
        self._gates: OrderedDict[str, _Gate] = OrderedDict()  # least recently failed first
        self._validators: OrderedDict[str, _Validators] = OrderedDict()  # least recently used first
        self._host_slots: dict[str, int] = {}  # requests in flight per host; a host with none has no entry
        self._secret_headers: dict[str, str] = {}
        self._secret_params: dict[str, str] = {}
        self._secrets_tag = ""

    def with_secrets(self, headers: Mapping[str, str], params: Mapping[str, str]) -> PoliteHttp:
        """The same client (same gates, validators and per-host slots) sending ``headers``
        and query ``params`` with every request of one source: API tokens, cookies, an
        RSSHub access key. They come from the environment and are never part of a URL we
        keep, show or log (``Fetched.url``, gate keys, error messages)."""
        if not headers and not params:
            return self
        for name, value in [*headers.items(), *params.items()]:
            if not value.isascii() or not value.isprintable():
                raise ValueError(f"the secret for {name!r} holds a line break, a control or a non-ASCII character")
        view = copy.copy(self)  # shallow: the state dicts and the lock are shared
        view._secret_headers = {**self._secret_headers, **headers}
        view._secret_params = {**self._secret_params, **params}
        described = repr(sorted(view._secret_headers.items())) + repr(sorted(view._secret_params.items()))
        view._secrets_tag = "#secrets:" + hashlib.sha256(described.encode()).hexdigest()[:12]
        return view

    @property
    def in_flight(self) -> int:
        """Requests under way right now (all hosts, this client's views with secrets too:
        they share the per-host counts)."""
        with self._lock:
            return sum(self._host_slots.values())

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
        try:
            target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)  # added to the URL's own query
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ResponseError(f"{url}: bad URL ({exc})") from None
        key = str(target) + self._secrets_tag  # sources with other secrets see other answers
        self._check_gate(host)
        self._check_gate(key)
        request_headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if headers:
            request_headers.update(headers)
        request_headers.update(self._secret_headers)
        validators = self._remembered(key) if conditional else None
        if validators:
            if validators.etag:
                request_headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                request_headers["If-Modified-Since"] = validators.last_modified
        if not self._take_slot(host):
            # never park a worker thread behind hung requests to the same host
            raise BackingOff(f"{host}: {self.policy.per_host} requests already in flight; skipped this round")
        try:
            fetched = self._fetch(url, target, request_headers)
        except RateLimited as exc:
            self._fail(host, exc)
            raise
        except SourceError as exc:
            self._fail(key, exc)
            raise
        finally:
            self._release_slot(host)
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
            self._validators.move_to_end(fetched.key)
            while len(self._validators) > self.policy.remember:
                self._validators.popitem(last=False)

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

    def _fetch(self, url: str, target: httpx.URL, headers: dict[str, str]) -> Fetched:
        """One GET, redirects included, within one deadline. With a source's secrets,
        redirects are followed here and only within the origin asked: httpx would carry
        most headers (an API key) to any host a Location names, and drop a cookie."""
        policy = self.policy
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        deadline = self._monotonic() + policy.total_timeout  # checked between chunks; the sockets' waits use the real clock
        secret = bool(self._secret_headers or self._secret_params)
        origin = (target.scheme, target.host, target.port)
        try:
            with request_deadline(policy.total_timeout):
                for _hop in range(MAX_REDIRECTS + 1):
                    request = target.copy_merge_params(self._secret_params) if self._secret_params else target
                    with self.client.stream("GET", request, headers=headers, timeout=timeout, follow_redirects=not secret) as response:
                        if not (secret and response.is_redirect):
                            return self._read(url, response, deadline)
                        following = response.url.join(response.headers.get("location", ""))
                    if (following.scheme, following.host, following.port) != origin:
                        raise ResponseError(
                            f"{url}: redirected to {following.scheme}://{following.host}: this source's secrets go only to"
                            f" {target.scheme}://{target.host}, so the redirect was not followed (set the source's address to where it leads)"
                        )
                    target = following
                raise ResponseError(f"{url}: too many redirects")
        except httpx.TimeoutException as exc:
            raise TransportError(f"{url}: timed out ({exc.__class__.__name__})") from None
        except httpx.LocalProtocolError as exc:  # its message can quote a header value: a secret
            raise ResponseError(f"{url}: the request could not be sent ({exc.__class__.__name__})") from None
        except httpx.TooManyRedirects:
            raise ResponseError(f"{url}: too many redirects") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ResponseError(f"{url}: bad URL ({exc})") from None
        except httpx.DecodingError as exc:
            raise ResponseError(f"{url}: could not decode body ({exc})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{url}: {exc.__class__.__name__}: {exc or 'connection failed'}") from None

    def _read(self, url: str, response: httpx.Response, deadline: float) -> Fetched:
        """The answer's status and body, decoded under the cap; raises ``SourceError``."""
        policy = self.policy
        status = response.status_code
        final_url = self._public(response.url)
        if status == 304:
            return Fetched(final_url, status, b"", dict(response.headers), unchanged=True)
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
        if 300 <= status < 400:
            raise ResponseError(f"{url}: HTTP {status} redirect with nowhere usable to go")
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > policy.max_bytes:
            raise BodyTooLarge(f"{url}: body of {int(declared)} bytes is over the {policy.max_bytes}-byte cap")
        layers = _decoders(response.headers.get("content-encoding", ""), policy.max_bytes, url)
        body, received = bytearray(), 0
        for chunk in response.iter_raw():  # decoded here, layer by layer, under the cap
            received += len(chunk)
            if received > policy.max_bytes:
                raise BodyTooLarge(f"{url}: body is over the {policy.max_bytes}-byte cap")
            for layer in layers:
                chunk = layer.feed(chunk)
            body += chunk
            if len(body) > policy.max_bytes:
                raise BodyTooLarge(f"{url}: body is over the {policy.max_bytes}-byte cap")
            if self._monotonic() > deadline:
                raise TransportError(f"{url}: body not complete after {policy.total_timeout:g}s")
        for layer in layers:
            layer.finish()
        return Fetched(final_url, status, bytes(body), dict(response.headers))

    def _public(self, url: httpx.URL) -> str:
        """The address as we may keep and show it: without the secret query parameters."""
        for name in self._secret_params:
            url = url.copy_remove_param(name)
        return str(url)

    def _compare(self, key: str, fetched: Fetched) -> Fetched:
        if fetched.status == 304:
            return fetched
        digest = hashlib.sha256(fetched.content).hexdigest()
        previous = self._remembered(key)
        unchanged = previous is not None and previous.digest == digest
        return Fetched(fetched.url, fetched.status, fetched.content, fetched.headers, unchanged=unchanged, key=key, digest=digest)

    def _check_gate(self, key: str) -> None:
        with self._lock:
            gate = self._gates.get(key)
        if gate and gate.until > self._monotonic():
            left = gate.until - self._monotonic()
            raise BackingOff(f"{key}: backing off {left:.0f}s more after: {gate.reason}", retry_after=left)

    def _remembered(self, key: str) -> _Validators | None:
        with self._lock:
            validators = self._validators.get(key)
            if validators is not None:
                self._validators.move_to_end(key)
        return validators

    def _fail(self, key: str, exc: SourceError) -> None:
        with self._lock:
            gate = self._gates.setdefault(key, _Gate())
            self._gates.move_to_end(key)
            gate.failures += 1
            if exc.retry_after is not None:
                wait = min(exc.retry_after, self.policy.max_retry_after)
            else:
                wait = backoff_delay(gate.failures, self.policy.backoff_base, self.policy.backoff_max, self._rng)
            gate.until = self._monotonic() + wait
            gate.reason = str(exc)
            if len(self._gates) > self.policy.remember:
                self._forget_gates()

    def _forget_gates(self) -> None:
        """Down to nine tenths of ``remember`` (so the scan is not redone at every failure):
        gates whose wait is over go first, least recently failed first (what they lose is
        only how far the next backoff would have grown), then the least recently failed.
        Most gates of a long run are URLs never asked for again: a tracked post that was
        deleted (404) leaves one keyed by its own address. Called with the lock held."""
        excess = len(self._gates) - self.policy.remember * 9 // 10
        now = self._monotonic()
        for key in [k for k, g in self._gates.items() if g.until <= now][:excess]:
            del self._gates[key]
        while len(self._gates) > self.policy.remember * 9 // 10:
            self._gates.popitem(last=False)

    def _succeed(self, key: str) -> None:
        with self._lock:
            self._gates.pop(key, None)

    def _take_slot(self, host: str) -> bool:
        """One of the host's ``per_host`` slots, or False when all are taken. Counted per
        host while requests are in flight only, so the table holds no host at rest."""
        with self._lock:
            taken = self._host_slots.get(host, 0)
            if taken >= self.policy.per_host:
                return False
            self._host_slots[host] = taken + 1
        return True

    def _release_slot(self, host: str) -> None:
        with self._lock:
            left = self._host_slots.pop(host) - 1
            if left:
                self._host_slots[host] = left
