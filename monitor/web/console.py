"""The console as an ASGI application (FastAPI on Starlette): sign-in, sessions in signed
cookies, CSRF checks, language, security headers, and the error pages; the pages and the
JSON API are routers of their own (``pages``, ``api``), and what every request needs is in
``requests``.

Routes are plain ``def`` functions: FastAPI runs them in its thread pool, where the
synchronous SQLAlchemy sessions of the rest of the daemon work as they do everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match

from monitor.web import api, pages
from monitor.web.requests import Console, CsrfRefused, SignInRequired, render, templates, words

__all__ = ["Console", "create_app"]
SESSION_COOKIE = "monitor_session"
MAX_BODY = 256 * 1024
"""Largest request body read: a note is a few kB; an anonymous 50 MB POST must not be."""


def _form_page(request: Request) -> str:
    """The page a signed-out POST came from: its own path when that is also a page (the
    keyword tester), the ticket for a ticket action (``/tickets/7/ack`` → ``/tickets/7``),
    else the inbox."""
    path = request.url.path
    as_get = {**request.scope, "method": "GET"}
    if any(route.matches(as_get)[0] is Match.FULL for route in request.app.router.routes):
        return path
    return path.rsplit("/", 1)[0] if path.startswith("/tickets/") else "/"


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
    app.state.templates = templates()
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
            target = _form_page(request)
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
