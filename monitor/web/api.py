"""The JSON API: the same data as the pages (``views``) and the same ticket changes
(``actions``), described by OpenAPI at ``/api/openapi.json``. A ticket object is the
``tickets list --json`` contract; the detail is ``tickets show --json``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.ingest.health import source_health
from monitor.tickets.actions import TicketError, get_ticket
from monitor.web.actions import ACTION_PATTERN, apply_change
from monitor.web.requests import TICKET_ID, check_csrf, console_of, csrf_token, require_user
from monitor.web.views import inbox, recent_mentions, ticket_page

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(require_user)], responses={401: {"description": "sign in required"}})



class Me(BaseModel):
    user: str
    csrf: str = Field(description="send it as X-CSRF-Token with every POST")


class Ticket(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    status: str
    severity: str
    brand: str
    title: str
    categories: list[str]
    post_count: int
    opened_at: str | None
    due_at: str | None
    acknowledged_at: str | None
    resolved_at: str | None
    issue: str
    owner: str | None
    team: str | None
    reasons: list[str]
    urls: list[str]
    overdue: bool = False


class CurvePoint(BaseModel):
    at: str
    total: int = Field(description="reposts + comments + likes")


class RankPoint(BaseModel):
    at: str
    rank: int | None = Field(description="rank on its hot list (1 is the top); null once the topic left the list")
    heat: int | None = Field(None, description="its heat (热度) on the list at that reading; null when the list gives none or the topic left")


class HotListLine(BaseModel):
    list: str = Field(description="the list as it is called (微博热搜)")
    platform: str = Field(description="the list's platform name on its posts (weibo-hot)")
    topic: str = Field(description="the brand's best-placed topic on that list")
    post_id: int
    first_listed: str = Field(description="when the topic first appeared on the list")
    best_rank: int
    peak_heat: int | None
    rank_now: int | None = Field(description="its rank at the latest reading; null once it left the list")
    left_at: str | None = Field(description="when it was seen gone from the list, if its latest reading is off the list")
    other_topics: int = Field(description="other topics of the ticket on the same list")


class TicketPost(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    url: str
    platform: str
    author: str
    text: str
    created_at: str | None
    engagement: dict[str, Any] | None
    curve: list[CurvePoint]
    ranks: list[RankPoint] = Field([], description="a hot-list topic's rank and heat over time; empty for other posts")


class TicketDetail(Ticket):
    posts: list[TicketPost]
    hot_lists: list[HotListLine] = Field([], description="one line per hot list the brand's topics are on, best-placed first")
    steps: list[dict[str, Any]]
    donts: list[str] = []
    demands: list[dict[str, Any]]
    resolution: str
    similar_cases: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    silenced_by: list[dict[str, Any]] = []


class MentionPost(BaseModel):
    id: int
    platform: str
    url: str
    author: str
    text: str
    source: str


class MentionOut(BaseModel):
    brand: str
    seen_at: str
    categories: list[str]
    terms: dict[str, list[str]]
    issue: str
    engagement: int | None
    ticket_id: int | None
    post: MentionPost


class SourceOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    kind: str
    state: str
    failures: int
    last_error: str
    replica: str | None


class Change(BaseModel):
    note: str = Field("", max_length=20_000, description="resolve (required), reopen, note, step")
    owner: str = Field("", max_length=200, description="assign")
    number: int | None = Field(None, ge=1, le=10_000, description="step, demand_done")
    text: str = Field("", max_length=20_000, description="demand")


class Problem(BaseModel):
    detail: str


@router.get("/me", response_model=Me)
def me(request: Request, user: str = Depends(require_user)) -> Me:
    return Me(user=user, csrf=csrf_token(request))


@router.get("/tickets", response_model=list[Ticket])
def list_tickets(request: Request, status: str = Query("unresolved", pattern="^(unresolved|all|open|acknowledged|resolved)$")) -> list[dict[str, Any]]:
    console = console_of(request)
    with console.read_sessions() as session:
        return inbox(session, console.now(), status, limit=1000)[0]


@router.get("/tickets/{ticket_id}", response_model=TicketDetail, responses={404: {"model": Problem}})
def show_ticket(request: Request, ticket_id: int = TICKET_ID) -> Any:
    console = console_of(request)
    with console.read_sessions() as session:
        try:
            return ticket_page(session, get_ticket(session, ticket_id), console.now(), playbooks=console.config().playbooks)
        except TicketError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)


@router.post(
    "/tickets/{ticket_id}/{action}",
    response_model=TicketDetail,
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
    summary="Change a ticket: ack, assign, note, resolve, reopen, step, demand, demand_done",
)
def change_ticket(
    request: Request,
    change: Change,
    ticket_id: int = TICKET_ID,
    action: str = Path(..., pattern=ACTION_PATTERN),
    user: str = Depends(require_user),
) -> Any:
    check_csrf(request, None)
    console = console_of(request)
    fields = {"note": change.note, "owner": change.owner, "number": "" if change.number is None else str(change.number), "text": change.text}
    with console.read_sessions() as session:
        try:
            get_ticket(session, ticket_id)
        except TicketError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)
    try:
        apply_change(console, ticket_id, action, user, fields)
    except TicketError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    with console.read_sessions() as session:
        return ticket_page(session, get_ticket(session, ticket_id), console.now(), playbooks=console.config().playbooks)


@router.get("/mentions", response_model=list[MentionOut])
def mentions(request: Request, brand: str = Query("", max_length=200), hours: int = Query(24, ge=1, le=24 * 31), limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    console = console_of(request)
    with console.read_sessions() as session:
        return recent_mentions(session, console.now() - timedelta(hours=hours), brand or None, limit=limit, brands=console.config().brands)


@router.get("/sources", response_model=list[SourceOut])
def sources(request: Request) -> list[dict[str, Any]]:
    console = console_of(request)
    with console.read_sessions() as session:
        return source_health(session, console.config(), console.now())
