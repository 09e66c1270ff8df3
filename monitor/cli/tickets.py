"""``monitor tickets …``: read and change tickets; every change is a timeline event
with who made it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from monitor.cli.common import Fail, actor, open_session
from monitor.clock import utcnow
from monitor.config import Config
from monitor.delivery.channels import make_notifier
from monitor.tickets.actions import STATUSES, TicketError, acknowledge, add_note, assign, get_ticket, list_tickets, resolve, ticket_detail, ticket_summary
from monitor.tickets.desk import IncidentDesk
from monitor.tickets.playbooks import add_demand, meet_demand, tick_step

T = TypeVar("T")


def _change(ctx: click.Context, action: Callable[[Config, Session], T]) -> tuple[Config, T]:
    """Run one change to a ticket in its own transaction: a refusal (TicketError) is one
    line and exit 1, anything else is committed."""
    with open_session(ctx) as (config, session):
        try:
            result = action(config, session)
        except TicketError as exc:
            raise Fail(str(exc)) from None
        session.commit()
        return config, result


@click.group()
def tickets() -> None:
    """List, show, assign, acknowledge, resolve and reopen tickets / 工单."""


@tickets.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets in this state.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array (for scripts).")
@click.pass_context
def tickets_list(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """Tickets, newest first / 工单列表."""
    with open_session(ctx) as (config, session):
        rows = list_tickets(session, status)
        if as_json:
            click.echo(json.dumps([ticket_summary(t) for t in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no tickets / 没有工单")
            return
        tz = config.monitor.timezone
        click.echo(f"{'ID':>5}  {'STATUS':<12}  {'SEVERITY':<9}  {'POSTS':>5}  {'OPENED':<16}  {'DUE':<16}  BRAND: TITLE")
        for t in rows:
            opened = t.opened_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            due = t.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            click.echo(f"{'#' + str(t.id):>5}  {t.status:<12}  {t.severity:<9}  {len(t.posts):>5}  {opened:<16}  {due:<16}  {t.brand}: {t.title}")


@tickets.command("show")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def tickets_show(ctx: click.Context, ticket_id: int, as_json: bool) -> None:
    """One ticket with its posts and timeline / 工单详情."""
    with open_session(ctx) as (config, session):
        try:
            detail = ticket_detail(session, get_ticket(session, ticket_id), utcnow(), playbooks=config.playbooks)
        except TicketError as exc:
            raise Fail(str(exc)) from None
        if as_json:
            click.echo(json.dumps(detail, ensure_ascii=False, indent=2))
            return
        click.echo(_format_detail(detail, config))


def _format_detail(d: dict[str, Any], config: Config) -> str:
    tz = config.monitor.timezone

    def local(value: str | None) -> str:
        return "–" if not value else datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    lines = [
        f"#{d['id']} {d['brand']}: {d['title']}",
        f"  状态 status: {d['status']}   严重程度 severity: {d['severity']}   类别 categories: {', '.join(d['categories']) or '–'}",
        f"  开单 opened: {local(d['opened_at'])}   期限 due: {local(d['due_at'])}   负责人 owner: {d['owner'] or '–'}{' (' + d['team'] + ')' if d.get('team') else ''}",
        *[f"  静默中 silenced: {s['description']}" for s in d.get("silenced_by", [])],
        *(["  处置步骤 checklist:"] if d.get("steps") else []),
        *[f"    [{'x' if st['done_at'] else ' '}] {st['number']}. {st['do']}  — by {local(st['due_at'])}{'  超时 OVERDUE' if st['overdue'] else ''}" for st in d.get("steps", [])],
        *(["  切忌 don't:"] if d.get("donts") else []),
        *[f"    ✗ {dont}" for dont in d.get("donts", [])],
        *(["  客户诉求 demands:"] if d.get("demands") else []),
        *[f"    [{'x' if dm['status'] == 'done' else ' '}] {dm['number']}. {dm['text']}" for dm in d.get("demands", [])],
        *([f"  处理结果 resolution: {' '.join(d['resolution'].split())}"] if d.get("resolution") else []),
        *(["  相似案例 similar past cases:"] if d.get("similar_cases") else []),
        *[f"    #{c['id']} {c['title']} — {' '.join(c['resolution'].split())[:120]}" for c in d.get("similar_cases", [])],
        "  触发原因 why:",
        *[f"    - {r}" for r in d["reasons"]],
        f"  帖子 posts ({d['post_count']}):",
    ]
    for p in d["posts"]:
        e = p["engagement"] or {}
        lines.append(f"    {p['url']}  ({p['platform']}, {p['author'] or '–'}; reposts {e.get('reposts', '–')}, comments {e.get('comments', '–')}, likes {e.get('likes', '–')})")
        lines.append(f"      {' '.join(p['text'].split())[:160]}")
    lines.append("  时间线 timeline:")
    lines.extend(f"    {local(e['at'])}  {e['kind']:<16} {e['actor']:<10} {e['detail']}" for e in d["timeline"])
    return "\n".join(lines)


@tickets.command("ack")
@click.argument("ticket_id", type=int)
@click.pass_context
def tickets_ack(ctx: click.Context, ticket_id: int) -> None:
    """Acknowledge: someone is on it / 确认工单."""
    _, ticket = _change(ctx, lambda config, session: acknowledge(session, ticket_id, utcnow(), actor()))
    click.echo(f"#{ticket.id} {ticket.status} / 已确认")


@tickets.command("resolve")
@click.argument("ticket_id", type=int)
@click.option("--note", default="", help="How it was resolved (required; kept in the timeline and found by `cases search`).")
@click.pass_context
def tickets_resolve(ctx: click.Context, ticket_id: int, note: str) -> None:
    """Resolve: every part of the customer's demand is handled / 解决工单."""
    _, ticket = _change(ctx, lambda config, session: resolve(session, ticket_id, utcnow(), actor(), note, follow_up=config.tickets.follow_up))
    click.echo(f"#{ticket.id} {ticket.status} / 已解决")


@tickets.command("assign")
@click.argument("ticket_id", type=int)
@click.option("--to", "owner", required=True, help="Who answers for it (a name; [people] in config.toml gives their email).")
@click.pass_context
def tickets_assign(ctx: click.Context, ticket_id: int, owner: str) -> None:
    """Give the ticket an owner / 指派负责人."""
    config, ticket = _change(ctx, lambda config, session: assign(session, ticket_id, utcnow(), actor(), owner))
    known = "" if ticket.owner in config.people else " (not in [people]: reminders go to the routes / 未配置邮箱)"
    click.echo(f"#{ticket.id} → {ticket.owner}{known} / 已指派")


@tickets.command("note")
@click.argument("ticket_id", type=int)
@click.argument("text")
@click.pass_context
def tickets_note(ctx: click.Context, ticket_id: int, text: str) -> None:
    """Add a note to the timeline / 添加备注."""
    _, ticket = _change(ctx, lambda config, session: add_note(session, ticket_id, utcnow(), actor(), text))
    click.echo(f"#{ticket.id} note added / 已添加备注")


@tickets.command("reopen")
@click.argument("ticket_id", type=int)
@click.option("--note", default="", help="Why it is open again (kept in the timeline).")
@click.pass_context
def tickets_reopen(ctx: click.Context, ticket_id: int, note: str) -> None:
    """Reopen a resolved ticket: its routes and its owner are told / 重新打开工单."""
    _, ticket = _change(ctx, lambda config, session: IncidentDesk(config, make_notifier(config)).reopen(session, get_ticket(session, ticket_id), utcnow(), actor(), note))
    click.echo(f"#{ticket.id} {ticket.status} / 已重新打开")


@tickets.command("step")
@click.argument("ticket_id", type=int)
@click.argument("number", type=int)
@click.option("--done", is_flag=True, required=True, help="Mark the step done.")
@click.option("--note", default="", help="What was done (kept in the timeline).")
@click.pass_context
def tickets_step(ctx: click.Context, ticket_id: int, number: int, done: bool, note: str) -> None:
    """Tick a playbook step off the checklist / 完成处置步骤."""
    _, step = _change(ctx, lambda config, session: tick_step(session, ticket_id, number, utcnow(), actor(), note))
    click.echo(f"#{ticket_id} step {step.number} done / 步骤已完成: {step.text}")


@tickets.group("demand")
def tickets_demand() -> None:
    """The customer's demands (refund, apology, fix): all met before resolving / 客户诉求."""


@tickets_demand.command("add")
@click.argument("ticket_id", type=int)
@click.argument("text")
@click.pass_context
def demand_add(ctx: click.Context, ticket_id: int, text: str) -> None:
    """Record a demand / 记录诉求."""
    _, demand = _change(ctx, lambda config, session: add_demand(session, ticket_id, text, utcnow(), actor()))
    click.echo(f"#{ticket_id} demand {demand.number} / 诉求已记录: {demand.text}")


@tickets_demand.command("done")
@click.argument("ticket_id", type=int)
@click.argument("number", type=int)
@click.pass_context
def demand_done(ctx: click.Context, ticket_id: int, number: int) -> None:
    """Mark a demand met / 诉求已处理."""
    _, demand = _change(ctx, lambda config, session: meet_demand(session, ticket_id, number, utcnow(), actor()))
    click.echo(f"#{ticket_id} demand {demand.number} met / 诉求已处理: {demand.text}")
