"""What every console request needs, shared by the pages, the API and the ticket actions:
the ``Console`` (the daemon's parts the console uses), who is signed in, the CSRF check,
the language, and rendering a page. The app factory (``console``) builds on these; none of
them imports it back."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, utcnow
from monitor.config import Config, WebConfig
from monitor.delivery.links import LinkSigner
from monitor.detect.matching import TokenizerFactory
from monitor.web.i18n import pick_language, translator
from monitor.web.throttle import SignInThrottle
from monitor.web.users import session_epoch
from weburl import href

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TICKET_ID = Path(..., ge=1, le=2**31 - 1)
"""A ticket id in a path: a database integer, so 10**20 is a 422, not an overflow."""
_DEFAULT_WEB = WebConfig("127.0.0.1", 8080, "http://127.0.0.1:8080")


@dataclass
class Console:
    """What the console needs from the daemon: the live config (it changes on reload),
    the database, the secret, a clock, and the lock that keeps one process's SQLite
    writers in line."""

    config: Callable[[], Config]
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    secret: bytes
    clock: Clock = utcnow
    tokenizers: TokenizerFactory = field(default_factory=TokenizerFactory)
    write_lock: Any = field(default_factory=threading.Lock)
    changed: Callable[[], None] = lambda: None
    """Called after a change to a ticket (the daemon wakes its delivery job)."""
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    hashing: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))
    """Password checks at once: each costs ~50 ms of CPU by design; a flood of sign-ins
    must not take every core from polling."""
    hashing_wait: float = 10.0
    """Seconds a sign-in waits for a free ``hashing`` slot before it is told "busy, try again"."""
    replaying: threading.Lock = field(default_factory=threading.Lock)
    """One keyword-tester replay at a time."""
    tester_time_limit: timedelta = timedelta(seconds=60)
    """How long one keyword test may run (matching and replay together)."""
    monotonic: Callable[[], float] = time.monotonic
    """The clock the tester's time limit is measured on."""

    @property
    def web(self) -> WebConfig:
        return self.config().web or _DEFAULT_WEB

    def signer(self) -> LinkSigner:
        return LinkSigner(self.secret, self.web.base_url, self.web.link_ttl)

    def now(self) -> datetime:
        return self.clock()


class SignInRequired(Exception):
    pass


class CsrfRefused(Exception):
    pass


def console_of(request: Request) -> Console:
    return request.app.state.console


def current_user(request: Request) -> str | None:
    """The signed-in user's name. The cookie names the user, the user's session epoch and
    when they signed in: a removed user, a new password (``users add --reset``) or
    ``session_ttl`` since sign-in ends the session, whatever the cookie says."""
    name, epoch, at = request.session.get("user"), request.session.get("epoch"), request.session.get("at")
    if not isinstance(name, str) or not isinstance(epoch, int) or not isinstance(at, (int, float)):
        return None
    console = console_of(request)
    if console.now().timestamp() - at > console.web.session_ttl.total_seconds():
        request.session.clear()
        return None
    with console.read_sessions() as session:
        if session_epoch(session, name) != epoch:
            request.session.clear()
            return None
    return name


def require_user(request: Request) -> str:
    """Dependency of every console page and API route except sign-in and the signed links."""
    name = current_user(request)
    if name is None:
        raise SignInRequired()
    return name


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


def check_csrf(request: Request, given: str | None) -> None:
    """Every form carries the session's token (synchroniser token pattern); API calls send
    it in ``X-CSRF-Token``. A cross-site form cannot read it, so cannot forge it."""
    expected = request.session.get(CSRF_FIELD)
    given = given or request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused()


def language(request: Request) -> str:
    return pick_language(console_of(request).web.language, request.headers.get("accept-language"), request.session.get("lang"))


def words(request: Request) -> Callable[[str], str]:
    """The page's words in the user's language."""
    return translator(language(request))


def templates() -> Environment:
    return Environment(loader=PackageLoader("monitor.web", "templates"), autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    console = console_of(request)
    lang = language(request)
    tz = console.config().monitor.timezone

    def local(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if not value:
            return "–"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(tz).strftime(fmt)

    flash = request.session.pop("flash", None)
    context.setdefault("nav", "")
    html = request.app.state.templates.get_template(template).render(
        request=request, t=translator(lang), lang=lang, local=local, user=request.session.get("user"),
        csrf=csrf_token(request), flash=flash, tz=tz, href=href, **context,
    )
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"kind": kind, "text": message}


