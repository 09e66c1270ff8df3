"""The console's HTML pages: sign-in, the inbox, a ticket, the one-click link from mail,
mentions, sources and the keyword tester. Every change is a POST with the CSRF token and
ends in a redirect (no double submission on reload)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from ..health import source_health
from ..models import UsedLinkRow
from ..outbox import insert_once
from ..query import QuerySyntaxError
from ..replay import replay
from ..tickets import TicketError, acknowledge, get_ticket
from ..tryout import candidate_brand, matching_posts, with_brand
from .actions import ACTIONS
from .console import check_csrf, console_of, csrf_token, flash, language, render, require_user
from .i18n import LANGUAGES, translator
from .links import LinkError
from .svg import curve_svg
from .users import authenticate
from .views import inbox, recent_mentions, ticket_page

router = APIRouter(include_in_schema=False)
MAX_TESTER_DAYS = 31
MAX_SHOWN = 200


def _safe_next(target: str | None) -> str:
    """Only a path on this site: ``//evil.example`` and ``https://…`` are not."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, name: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    check_csrf(request, csrf)
    console = console_of(request)
    t = translator(language(request))
    name, address, now = " ".join(name.split()), request.client.host if request.client else "", console.now()
    wait = console.throttle.wait(name, address, now)
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        return render(request, "login.html", status_code=429, next=_safe_next(next), error=t("too_many").format(minutes=minutes))
    with console.write_lock, console.sessions() as session:
        user = authenticate(session, name, password, now)
        session.commit()
        signed_in = user.name if user is not None else None
    if signed_in is None:
        console.throttle.failed(name, address, now)
        return render(request, "login.html", status_code=401, next=_safe_next(next), error=t("bad_login"))
    console.throttle.succeeded(name, address)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation
    request.session["user"] = signed_in
    if lang:
        request.session["lang"] = lang
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def choose_language(request: Request, code: str, next: str = "/") -> Response:
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: str = Depends(require_user)) -> Response:
    return tickets_list(request, "unresolved", user)


@router.get("/tickets", response_class=HTMLResponse)
def tickets_list(request: Request, status: str = Query("unresolved", pattern="^(unresolved|all|open|acknowledged|resolved)$"), user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    with console.read_sessions() as session:
        rows = inbox(session, console.now(), status)
    return render(request, "inbox.html", tickets=rows, status=status)


def _chart_for(post: dict[str, Any], tz: tzinfo, label: str) -> Markup:
    return curve_svg([(datetime.fromisoformat(p["at"]), p["total"]) for p in post["curve"]], tz, label)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: int, user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    tz = console.config().monitor.timezone
    with console.read_sessions() as session:
        try:
            detail = ticket_page(session, get_ticket(session, ticket_id), console.now())
        except TicketError as exc:
            return render(request, "message.html", status_code=404, heading=translator(language(request))("not_found"), message=str(exc))
    t = translator(language(request))
    charts = {p["id"]: _chart_for(p, tz, f"{t('engagement')} {p['author']}") for p in detail["posts"]}
    return render(request, "ticket.html", ticket=detail, charts=charts)


@router.post("/tickets/{ticket_id}/{action}")
def ticket_action(
    request: Request,
    ticket_id: int,
    action: str,
    csrf: str = Form(""),
    note: str = Form(""),
    owner: str = Form(""),
    number: str = Form(""),
    text: str = Form(""),
    user: str = Depends(require_user),
) -> Response:
    check_csrf(request, csrf)
    console = console_of(request)
    do = ACTIONS.get(action)
    if do is None:
        return render(request, "message.html", status_code=404, heading=translator(language(request))("not_found"), message=action)
    fields = {"note": note, "owner": owner, "number": number, "text": text}
    with console.write_lock, console.sessions() as session:
        try:
            do(console.config(), session, ticket_id, console.now(), user, fields)
        except TicketError as exc:
            session.rollback()
            flash(request, str(exc), "error")
            return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
        session.commit()
    console.changed()
    flash(request, f"#{ticket_id} {translator(language(request))(action if action in ('ack', 'assign', 'note', 'resolve', 'reopen') else 'done')} ✓")
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# -- the one-click link from alert mail -----------------------------------------------------
#
# GET shows the ticket and one button; only the POST acknowledges. Mail scanners and link
# previews fetch every link in a message: a GET that changed something would acknowledge
# tickets nobody has read.


def _link_refused(request: Request, reason: str) -> Response:
    t = translator(language(request))
    status = 410 if reason in ("expired", "used") else 403
    return render(request, "link.html", status_code=status, state=reason, message=t(f"link_{reason}"), ticket=None, token="", chart=None)


@router.get("/l/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: str) -> Response:
    console = console_of(request)
    try:
        claim = console.signer().verify(token, console.now())
    except LinkError as exc:
        return _link_refused(request, exc.reason)
    with console.read_sessions() as session:
        if session.get(UsedLinkRow, claim.nonce) is not None:
            return _link_refused(request, "used")
        try:
            detail = ticket_page(session, get_ticket(session, claim.ticket_id), console.now())
        except TicketError:
            return _link_refused(request, "tampered")
    t = translator(language(request))
    top = detail["posts"][0] if detail["posts"] else None
    chart = _chart_for(top, console.config().monitor.timezone, t("engagement")) if top and top["curve"] else None
    return render(request, "link.html", state="confirm", message=t("link_confirm"), ticket=detail, token=token, chart=chart)


@router.post("/l/{token}", response_class=HTMLResponse)
def link_use(request: Request, token: str) -> Response:
    console = console_of(request)
    now = console.now()
    try:
        claim = console.signer().verify(token, now)
    except LinkError as exc:
        return _link_refused(request, exc.reason)
    with console.write_lock, console.sessions() as session:
        try:
            get_ticket(session, claim.ticket_id)
        except TicketError:
            return _link_refused(request, "tampered")
        if not insert_once(session, UsedLinkRow(nonce=claim.nonce, ticket_id=claim.ticket_id, used_at=now)):
            return _link_refused(request, "used")
        try:
            acknowledge(session, claim.ticket_id, now, f"{claim.sent_to or 'mail'} (email link / 邮件链接)")
        except TicketError as exc:  # resolved meanwhile: nothing to acknowledge, and the link is spent
            session.commit()
            return render(request, "link.html", status_code=409, state="refused", message=str(exc), ticket=None, token="", chart=None)
        session.commit()
    console.changed()
    t = translator(language(request))
    return render(request, "link.html", state="done", message=t("link_done"), ticket={"id": claim.ticket_id}, token="", chart=None)


# -- mentions, sources, keyword tester ------------------------------------------------------


@router.get("/mentions", response_class=HTMLResponse)
def mentions(request: Request, brand: str = "", hours: int = Query(24, ge=1, le=24 * 31), user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    config = console.config()
    with console.read_sessions() as session:
        rows = recent_mentions(session, console.now() - timedelta(hours=hours), brand or None, limit=MAX_SHOWN)
    return render(request, "mentions.html", mentions=rows, brands=[b.name for b in config.brands], brand=brand, hours=hours)


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    with console.read_sessions() as session:
        rows = source_health(session, console.config(), console.now())
    return render(request, "sources.html", sources=rows)


@router.get("/tester", response_class=HTMLResponse)
def tester(
    request: Request,
    brand: str = "",
    words: str = "",
    query: str = "",
    exclude: str = "",
    days: int = Query(7, ge=1, le=MAX_TESTER_DAYS),
    user: str = Depends(require_user),
) -> Response:
    """Read-only, so a GET: a result can be bookmarked and sent to a colleague."""
    console = console_of(request)
    config = console.config()
    brands = [b.name for b in config.brands]
    form = {"brand": brand or (brands[0] if brands else ""), "words": words, "query": query, "exclude": exclude, "days": days}
    result = None
    error = None
    if words.strip() or query.strip():
        now = console.now()
        since = now - timedelta(days=days)
        try:
            candidate = candidate_brand(form["brand"] or "test", query if query.strip() else words, tuple(exclude.split()), as_query=bool(query.strip()))
        except QuerySyntaxError as exc:
            error = f"query: {exc.message} (column {exc.column}) / 查询语法错误"
        except ValueError as exc:
            error = str(exc)
        else:
            with console.read_sessions() as session:
                found, scanned = matching_posts(session, config, candidate, since, console.tokenizers)
                shown = [
                    {"post": f.post, "categories": list(f.mention.categories), "negated": list(f.mention.negated)} for f in found[:MAX_SHOWN]
                ]
                differences = replay(session, with_brand(config, candidate), since, now, console.tokenizers) if candidate.name in brands else []
            result = {"found": shown, "count": len(found), "scanned": scanned, "differences": [d for d in differences if d.brand == candidate.name]}
    return render(request, "tester.html", form=form, brands=brands, result=result, error=error)
