"""The console as an ASGI application (FastAPI on Starlette): sign-in, sessions in signed
cookies, CSRF checks, language, security headers, and the error pages; the pages and the
JSON API are routers of their own (``pages``, ``api``).

Routes are plain ``def`` functions: FastAPI runs them in its thread pool, where the
synchronous SQLAlchemy sessions of the rest of the daemon work as they do everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from monitor.clock import Clock, utcnow
from monitor.config import Config, WebConfig
from monitor.delivery.links import LinkSigner
from monitor.detect.matching import TokenizerFactory
from monitor.web.i18n import pick_language, translator
from monitor.web.throttle import SignInThrottle
from monitor.web.users import session_epoch
from weburl import href

SESSION_COOKIE = "monitor_session"
MAX_BODY = 256 * 1024
"""Largest request body read: a note is a few kB; an anonymous 50 MB POST must not be."""
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


def _templates() -> Environment:
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


def _derive(secret: bytes, purpose: bytes) -> str:
    return hmac.new(secret, purpose, hashlib.sha256).hexdigest()


SECURITY_HEADERS = {
    # post text is hostile: even if escaping failed somewhere, no script would run
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # the one-click link's token is in the address: never send it on to a post's site
    "referrer-policy": "no-referrer",
}


def create_app(console: Console) -> FastAPI:
    from monitor.web import api, pages  # the routers need the helpers above

    app = FastAPI(
        title="Brand monitor API / 舆情监测 API",
        version="1",
        description="Tickets, mentions and source health of the monitor. Sign in at /login (a session cookie); "
        "changes need the X-CSRF-Token header from GET /api/me.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.console = console
    app.state.templates = _templates()
    web = console.web
    app.add_middleware(
        SessionMiddleware,
        secret_key=_derive(console.secret, b"monitor console session"),
        session_cookie=SESSION_COOKIE,
        max_age=int(web.session_ttl / timedelta(seconds=1)),
        same_site="lax",  # a link from a mail client is a top-level navigation: the cookie goes along
        https_only=web.base_url.startswith("https://"),
    )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """Refuse big bodies before anything reads them (FastAPI parses a body before it
        checks sign-in). Chunked bodies are refused, so Content-Length (which uvicorn holds
        the client to) bounds every read."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": "request body too large / 请求过大"}, status_code=413)
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            return JSONResponse({"detail": "Content-Length required / 需要 Content-Length"}, status_code=411)
        return await call_next(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/l/", "/tickets", "/api/")):
            response.headers.setdefault("cache-control", "no-store")
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(SignInRequired)
    def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": "sign in required / 请先登录"}, status_code=401)
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        else:  # back to the page the form was on: a GET of /tickets/7/ack would be a 405
            target = request.url.path.rsplit("/", 1)[0] if request.url.path.startswith("/tickets/") else "/"
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(CsrfRefused)
    def _csrf(request: Request, exc: CsrfRefused) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": "missing or wrong CSRF token / 请求已过期"}, status_code=403)
        t = words(request)
        return render(request, "message.html", status_code=403, heading=t("refused"), message=t("forbidden"))

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
        t = words(request)
        heading = t("not_found") if exc.status_code in (404, 405) else t("refused")
        return render(request, "message.html", status_code=exc.status_code, heading=heading, message="" if exc.status_code in (404, 405) else str(exc.detail))

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]}, status_code=422)
        t = words(request)
        return render(request, "message.html", status_code=422, heading=t("refused"), message="; ".join(str(e.get("msg", "")) for e in exc.errors()))

    app.include_router(pages.router)
    app.include_router(api.router)
    return app
