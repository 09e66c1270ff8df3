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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from ..clock import Clock, utcnow
from ..config import Config, WebConfig
from ..matching import TokenizerFactory
from ..models import UserRow
from .i18n import pick_language, translator
from .links import LinkSigner
from .throttle import SignInThrottle

SESSION_COOKIE = "monitor_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
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
    return request.app.state.console  # type: ignore[no-any-return]


def current_user(request: Request) -> str | None:
    """The signed-in user's name; a user removed with ``monitor users remove`` is signed
    out at their next click, whatever their cookie says."""
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    with console_of(request).read_sessions() as session:
        if session.scalar(select(UserRow.id).where(UserRow.name == name)) is None:
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


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("monitor.web", "templates"), autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    return env


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


def href(url: str | None) -> str:
    """A post's address as a link target only when it is http(s): a platform (or a feed)
    can hand us ``javascript:…``, and autoescaping does not stop that."""
    return url if url and url.lower().startswith(("https://", "http://")) else "#"


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
    from . import api, pages  # the routers need the helpers above

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
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(CsrfRefused)
    def _csrf(request: Request, exc: CsrfRefused) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": "missing or wrong CSRF token / 请求已过期"}, status_code=403)
        return render(request, "message.html", status_code=403, heading=translator(language(request))("refused"), message=translator(language(request))("forbidden"))

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request) or exc.status_code not in (404, 405):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
        t = translator(language(request))
        return render(request, "message.html", status_code=exc.status_code, heading=t("not_found"), message="")

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]}, status_code=422)
        t = translator(language(request))
        return render(request, "message.html", status_code=422, heading=t("refused"), message="; ".join(str(e.get("msg", "")) for e in exc.errors()))

    app.include_router(pages.router)
    app.include_router(api.router)
    return app
