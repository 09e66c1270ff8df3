"""The console's HTML pages: sign-in, the inbox, a ticket, the one-click link from mail,
mentions, sources and the keyword tester. Every change is a POST with the CSRF token and
ends in a redirect (no double submission on reload). Running a keyword test changes
nothing but costs a replay, so it is a POST with the CSRF token too, answered with the
result."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery.links import LinkClaim, LinkError
from monitor.delivery.outbox import insert_once
from monitor.detect.query import QuerySyntaxError
from monitor.ingest.health import source_health
from monitor.storage.models import EventRow, PostRow, TicketRow, UsedLinkRow
from monitor.storage.states import TicketStatus
from monitor.tickets.actions import TicketError, acknowledge, get_ticket
from monitor.tuning.replay import replay
from monitor.tuning.tryout import Deadline, TimeLimit, candidate_brand, matching_posts, with_brand
from monitor.web.actions import ACTION_PATTERN, apply_change
from monitor.web.i18n import LANGUAGES
from monitor.web.requests import TICKET_ID, check_csrf, console_of, csrf_token, flash, render, require_user, words
from monitor.web.svg import curve_svg, hotlist_svg
from monitor.web.users import check_password, clean_name, record_sign_in
from monitor.web.views import inbox, recent_mentions, ticket_page

router = APIRouter(include_in_schema=False)
MAX_TESTER_DAYS = 31
MAX_TESTER_POSTS = 50_000
"""Posts the keyword tester looks at (the newest); more is `monitor replay`'s job."""
MAX_SHOWN = 200
NOTE = Form("", max_length=20_000)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: ``//evil.example`` and ``https://…`` are not."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _chart_for(post: dict[str, Any], tz: tzinfo, label: str) -> Markup:
    return curve_svg([(datetime.fromisoformat(p["at"]), p["total"]) for p in post["curve"]], tz, label)


def _hot_list_chart(post: dict[str, Any], tz: tzinfo, label: str) -> Markup:
    return hotlist_svg([(datetime.fromisoformat(r["at"]), r["rank"], r["heat"]) for r in post["ranks"]], tz, label)


# -- sign-in --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = Query("/", max_length=2000)) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    name: str = Form("", max_length=200),
    password: str = Form("", max_length=1000),
    csrf: str = Form("", max_length=100),
    next: str = Form("/", max_length=2000),
) -> Response:
    check_csrf(request, csrf)
    console = console_of(request)
    t = words(request)
    name, address, now = clean_name(name), request.client.host if request.client else "", console.now()
    wait = console.throttle.attempt(name, address, now)  # counted now: concurrent guesses cannot all pass
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        return render(request, "login.html", status_code=429, next=_safe_next(next), error=t("too_many").format(minutes=minutes))
    if not console.hashing.acquire(timeout=console.hashing_wait):
        console.throttle.unchecked(name, address, now)  # busy: no password was tried, so it is not a guess
        return render(request, "login.html", status_code=503, next=_safe_next(next), error=t("busy"))
    try:  # the slow part, without the daemon's write lock
        with console.read_sessions() as session:
            signed_in = check_password(session, name, password)
    finally:
        console.hashing.release()
    if signed_in is None:
        return render(request, "login.html", status_code=401, next=_safe_next(next), error=t("bad_login"))
    console.throttle.succeeded(name, address)
    with console.write_lock, console.sessions() as session:
        record_sign_in(session, signed_in, password, now)
        session.commit()
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation
    request.session.update({"user": signed_in.name, "epoch": signed_in.epoch, "at": int(now.timestamp())})
    if lang:
        request.session["lang"] = lang
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=100)) -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def choose_language(request: Request, code: str, next: str = Query("/", max_length=2000)) -> Response:
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(_safe_next(next), status_code=303)


# -- tickets --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: str = Depends(require_user)) -> Response:
    return tickets_list(request, "unresolved", user)


@router.get("/tickets", response_class=HTMLResponse)
def tickets_list(request: Request, status: str = Query("unresolved", pattern="^(unresolved|all|open|acknowledged|resolved)$"), user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    with console.read_sessions() as session:
        rows, total = inbox(session, console.now(), status)
    return render(request, "inbox.html", tickets=rows, total=total, status=status, nav="inbox" if status == "unresolved" else "all")


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: int = TICKET_ID, user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    t = words(request)
    with console.read_sessions() as session:
        try:
            detail = ticket_page(session, get_ticket(session, ticket_id), console.now())
        except TicketError as exc:
            return render(request, "message.html", status_code=404, heading=t("not_found"), message=str(exc))
    tz = console.config().monitor.timezone
    charts = {p["id"]: _chart_for(p, tz, f"{t('engagement')} {p['author']}") for p in detail["posts"]}
    rank_charts = {p["id"]: _hot_list_chart(p, tz, f"{t('rank_heat')} {p['author']}") for p in detail["posts"] if p["ranks"]}
    return render(request, "ticket.html", ticket=detail, charts=charts, rank_charts=rank_charts)


@router.post("/tickets/{ticket_id}/{action}")
def ticket_action(
    request: Request,
    ticket_id: int = TICKET_ID,
    action: str = Path(..., pattern=ACTION_PATTERN),
    csrf: str = Form("", max_length=100),
    note: str = NOTE,
    owner: str = Form("", max_length=200),
    number: str = Form("", max_length=10),
    text: str = NOTE,
    user: str = Depends(require_user),
) -> Response:
    check_csrf(request, csrf)
    t = words(request)
    try:
        apply_change(console_of(request), ticket_id, action, user, {"note": note, "owner": owner, "number": number, "text": text})
    except TicketError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"#{ticket_id} {t('did_' + action)} ✓")
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# -- the one-click link from alert mail -----------------------------------------------------
#
# GET shows the ticket and one button; only the POST acknowledges. Mail scanners and link
# previews fetch every link in a message: a GET that changed something would acknowledge
# tickets nobody has read.


def _link_refused(request: Request, reason: str, ticket_id: int | None = None) -> Response:
    status = 410 if reason in ("expired", "used", "stale") else 403
    ticket = {"id": ticket_id} if ticket_id is not None else None
    return render(request, "link.html", status_code=status, state=reason, message=words(request)(f"link_{reason}"), ticket=ticket, token="", chart=None)


def _claim(request: Request, token: str) -> LinkClaim:
    console = console_of(request)
    claim = console.signer().verify(token, console.now())
    with console.read_sessions() as session:
        if session.get(UsedLinkRow, claim.nonce) is not None:
            raise LinkError("used")
    return claim


def _already(request: Request, session: Session, ticket_id: int, status: str) -> Response:
    """Someone acted before the link was used: say who and when, and keep the link."""
    event = session.scalar(
        select(EventRow).where(EventRow.ticket_id == ticket_id, EventRow.kind.in_(("acknowledged", "resolved"))).order_by(EventRow.id.desc()).limit(1)
    )
    t = words(request)
    who = f" ({event.actor}, {event.at.astimezone(console_of(request).config().monitor.timezone):%m-%d %H:%M})" if event is not None else ""
    return render(request, "link.html", state="already", message=f"{t('link_already')} {status}{who}", ticket={"id": ticket_id}, token="", chart=None)


def _open_ticket(request: Request, session: Session, claim: LinkClaim) -> TicketRow | Response:
    """The open ticket a link may acknowledge, or the page that says why it may not."""
    try:
        ticket = get_ticket(session, claim.ticket_id)
    except TicketError:
        return _link_refused(request, "tampered")
    if (ticket.reopens or 0) != claim.reopens:
        return _link_refused(request, "stale", ticket.id)
    if ticket.status != TicketStatus.open:
        return _already(request, session, ticket.id, ticket.status)
    return ticket


@router.get("/l/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: str = Path(..., max_length=1000)) -> Response:
    console = console_of(request)
    try:
        claim = _claim(request, token)
    except LinkError as exc:
        return _link_refused(request, exc.reason)
    with console.read_sessions() as session:
        ticket = _open_ticket(request, session, claim)
        if isinstance(ticket, Response):
            return ticket
        detail = ticket_page(session, ticket, console.now())
    t = words(request)
    top = detail["posts"][0] if detail["posts"] else None
    chart = _chart_for(top, console.config().monitor.timezone, t("engagement")) if top and top["curve"] else None
    return render(request, "link.html", state="confirm", message=t("link_confirm"), ticket=detail, token=token, chart=chart)


@router.post("/l/{token}", response_class=HTMLResponse)
def link_use(request: Request, token: str = Path(..., max_length=1000)) -> Response:
    console = console_of(request)
    now = console.now()
    try:
        claim = _claim(request, token)
    except LinkError as exc:
        return _link_refused(request, exc.reason)
    with console.write_lock, console.sessions() as session:
        ticket = _open_ticket(request, session, claim)
        if isinstance(ticket, Response):
            return ticket
        if not insert_once(session, UsedLinkRow(nonce=claim.nonce, ticket_id=ticket.id, used_at=now)):
            return _link_refused(request, "used")
        acknowledge(session, ticket.id, now, f"{claim.sent_to or 'alert'} (alert link / 预警链接)")
        session.commit()
    console.changed()
    return render(request, "link.html", state="done", message=words(request)("link_done"), ticket={"id": claim.ticket_id}, token="", chart=None)


# -- mentions, sources, keyword tester ------------------------------------------------------


@router.get("/mentions", response_class=HTMLResponse)
def mentions(request: Request, brand: str = Query("", max_length=200), hours: int = Query(24, ge=1, le=24 * 31), user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    config = console.config()
    with console.read_sessions() as session:
        rows = recent_mentions(session, console.now() - timedelta(hours=hours), brand or None, limit=MAX_SHOWN, brands=config.brands)
    return render(request, "mentions.html", mentions=rows, brands=[b.name for b in config.brands], brand=brand, hours=hours, nav="mentions")


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, user: str = Depends(require_user)) -> Response:
    console = console_of(request)
    with console.read_sessions() as session:
        rows = source_health(session, console.config(), console.now())
    return render(request, "sources.html", sources=rows, nav="sources")


TESTER_TEXT = Form("", max_length=5000)


def _tester_page(request: Request, brand: str, words_: str, query: str, exclude: str, days: int) -> dict[str, Any]:
    brands = [b.name for b in console_of(request).config().brands]
    form: dict[str, Any] = {"brand": brand or (brands[0] if brands else ""), "words": words_, "query": query, "exclude": exclude, "days": days}
    return {"form": form, "brands": brands, "result": None, "error": None, "nav": "tester", "max_posts": MAX_TESTER_POSTS}


@router.get("/tester", response_class=HTMLResponse)
def tester_form(
    request: Request,
    brand: str = Query("", max_length=200),
    words_: str = Query("", alias="words", max_length=5000),
    query: str = Query("", max_length=5000),
    exclude: str = Query("", max_length=5000),
    days: int = Query(7, ge=1, le=MAX_TESTER_DAYS),
    user: str = Depends(require_user),
) -> Response:
    """The form, filled in from the address (a test can be bookmarked and sent to a
    colleague), but not run: running is the POST, so a link or another site's page cannot
    make a signed-in browser start one."""
    return render(request, "tester.html", **_tester_page(request, brand, words_, query, exclude, days))


@router.post("/tester", response_class=HTMLResponse)
def tester(
    request: Request,
    csrf: str = Form("", max_length=100),
    brand: str = Form("", max_length=200),
    words_: str = Form("", alias="words", max_length=5000),
    query: str = TESTER_TEXT,
    exclude: str = TESTER_TEXT,
    days: int = Form(7, ge=1, le=MAX_TESTER_DAYS),
    user: str = Depends(require_user),
) -> Response:
    """Runs a test. Read-only, but it costs: one runs at a time, over at most the newest
    ``MAX_TESTER_POSTS`` posts, and stops at the console's ``tester_time_limit``."""
    check_csrf(request, csrf)
    console = console_of(request)
    config = console.config()
    t = words(request)
    page = _tester_page(request, brand, words_, query, exclude, days)
    form, brands = page["form"], page["brands"]
    if not (words_.strip() or query.strip()):
        return render(request, "tester.html", **page)
    try:
        candidate = candidate_brand(form["brand"] or "test", query if query.strip() else words_, tuple(exclude.split()), as_query=bool(query.strip()))
    except QuerySyntaxError as exc:
        return render(request, "tester.html", **{**page, "error": f"query: {exc.message} (column {exc.column}) / 查询语法错误"})
    except ValueError as exc:
        return render(request, "tester.html", **{**page, "error": str(exc)})
    if not console.replaying.acquire(blocking=False):
        return render(request, "tester.html", status_code=429, **{**page, "error": t("tester_busy")})
    try:
        now = console.now()
        since = now - timedelta(days=days)
        deadline = Deadline(console.tester_time_limit.total_seconds(), console.monotonic)
        with console.read_sessions() as session:
            found, scanned = matching_posts(session, config, candidate, since, console.tokenizers, max_scan=MAX_TESTER_POSTS, deadline=deadline)
            stored = session.scalar(select(func.count(PostRow.id)).where(PostRow.first_seen_at >= since)) or 0
            replayable = candidate.name in brands and stored <= MAX_TESTER_POSTS
            differences = replay(session, with_brand(config, candidate), since, now, console.tokenizers, deadline=deadline) if replayable else []
    except TimeLimit as exc:
        return render(request, "tester.html", **{**page, "error": t("tester_stopped").format(posts=exc.posts)})
    finally:
        console.replaying.release()
    shown = [{"post": f.post, "categories": list(f.mention.categories), "negated": list(f.mention.negated)} for f in found[:MAX_SHOWN]]
    result = {
        "found": shown, "count": len(found), "scanned": scanned, "replayed": replayable, "stored": stored,
        "differences": [d for d in differences if d.brand == candidate.name],
    }
    return render(request, "tester.html", **{**page, "result": result})
