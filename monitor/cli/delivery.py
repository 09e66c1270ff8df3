"""``monitor routes test``, ``monitor silence …`` and ``monitor delivery``: who would be
told, holding alerts back for a planned event, and whether the messages got out."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from alerts import Severity, routes_for
from alerts.pacing import held_by_group_interval
from alerts.routing import DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, Route
from monitor.cli.common import Fail, actor, load, local_time, open_session
from monitor.clock import utcnow
from monitor.delivery.health import delivery_health
from monitor.durations import format_duration, parse_duration
from monitor.tickets.silences import SilenceError, add_silence, describe, expire_silence, list_silences


@click.group()
def routes() -> None:
    """Alert routes: who hears about what / 通知路由."""


def _route_facts(route: Route, severity: Severity) -> dict[str, object]:
    held = held_by_group_interval(severity)
    repeat = route.repeat_interval.get(severity, DEFAULT_REPEAT_INTERVAL[severity])
    return {
        "route": route.name,
        "to": list(route.to),
        "chat": [name for name in route.chat if name not in route.sms],
        "sms": list(route.sms),
        "group_wait": format_duration(route.group_wait.get(severity, DEFAULT_GROUP_WAIT[severity])),
        "group_interval": format_duration(route.group_interval),
        "repeat_interval": format_duration(repeat),
        # what pacing really does for this severity (alerts.pacing): urgent is never held by
        # group_interval; the others wait for it after their group's last message, repeats too
        "held_by_group_interval": held,
        "repeats_every": format_duration(max(repeat, route.group_interval) if held else repeat),
        "continue": route.continue_,
        "escalate_to": [
            {"after": format_duration(s.after), "to": list(s.to), "chat": [c for c in s.chat if c not in s.sms], "sms": list(s.sms)} for s in route.escalate_to
        ],
    }


@routes.command("test")
@click.option("--severity", type=click.Choice([s.name for s in Severity]), required=True, help="The ticket's severity.")
@click.option("--category", "categories", multiple=True, help="A crisis category of the ticket (repeat for several).")
@click.option("--brand", default=None, help="The ticket's brand.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the routes that match.")
@click.pass_context
def routes_test(ctx: click.Context, severity: str, categories: tuple[str, ...], brand: str | None, as_json: bool) -> None:
    """Show who would be told about such a ticket, in route order / 测试通知路由."""
    config = load(ctx)
    sev = Severity[severity]
    for category in categories:
        if config.category(category) is None:
            raise Fail(f"--category: {category!r} is not a [crisis.*] category ({', '.join(c.name for c in config.crisis)}) / 类别不存在", code=2)
    matched = routes_for(sev, categories, brand, config.routes)
    if as_json:
        click.echo(json.dumps([_route_facts(r, sev) for r in matched], ensure_ascii=False, indent=2))
        return
    click.echo(f"{sev.zh} {sev.name} · categories {', '.join(categories) or '–'} · brand {brand or '–'}")
    stopped = False
    for route in config.routes:
        if stopped:
            click.echo(f"  ·  {route.name:<14} not reached: an earlier route has continue = false / 前面的路由已停止")
            continue
        if route not in matched:
            click.echo(f"  ✗  {route.name:<14} does not match / 不匹配")
            continue
        facts = _route_facts(route, sev)
        receivers = ", ".join(route.receivers) or "–"
        click.echo(f"  ✓  {route.name:<14} → {receivers}")
        for line in _pacing_lines(facts):
            click.echo(f"       {line}")
        for number, step in enumerate(route.escalate_to, start=1):
            who = ", ".join([*step.to, *(f"sms:{c}" if c in step.sms else f"chat:{c}" for c in step.chat)])
            click.echo(f"       escalation {number}: {format_duration(step.after) if step.after else 'at'} after due → {who}")
        stopped = not route.continue_
    if not matched:
        click.echo("nobody would be told / 无人会收到通知")


def _pacing_lines(facts: dict[str, object]) -> list[str]:
    """When this route's messages about such a ticket go, in English and Chinese."""
    wait, interval, repeat, every = facts["group_wait"], facts["group_interval"], facts["repeat_interval"], facts["repeats_every"]
    if not facts["held_by_group_interval"]:
        return [
            f"first message after {wait}; updates are not held by group_interval (urgent); repeated every {repeat} until acknowledged",
            f"首条消息 {wait} 后发出；后续更新不受 group_interval 限制（紧急）；未确认时每 {repeat} 重复一次",
        ]
    repeats = f"repeated every {every} until acknowledged" + (f" (repeat_interval {repeat}, but not sooner than group_interval)" if every != repeat else "")
    repeats_zh = f"未确认时每 {every} 重复一次" + (f"（repeat_interval 为 {repeat}，但不早于 group_interval）" if every != repeat else "")
    return [
        f"first message after {wait}; updates at most every {interval} per group (group_interval); {repeats}",
        f"首条消息 {wait} 后发出；同组后续消息每 {interval} 至多一条（group_interval）；{repeats_zh}",
    ]


@click.group()
def silence() -> None:
    """Hold alerts back for a planned event; tickets are still recorded / 静默."""


def _duration(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Fail(f"--for: {exc} / 时长无效", code=2) from None


@silence.command("add")
@click.option("--brand", default=None, help="Only tickets of this brand.")
@click.option("--term", default=None, help="Only tickets whose title or posts contain this text.")
@click.option("--category", default=None, help="Only tickets of this crisis category.")
@click.option("--for", "duration", required=True, help="How long, like 2h or 1d.")
@click.option("--reason", required=True, help="Why, for the team and the timeline.")
@click.pass_context
def silence_add(ctx: click.Context, brand: str | None, term: str | None, category: str | None, duration: str, reason: str) -> None:
    """Start a silence / 新建静默."""
    span = _duration(duration)
    with open_session(ctx) as (config, session):
        if brand is not None and brand not in {b.name for b in config.brands}:
            raise Fail(f"--brand: {brand!r} is not a [[brands]] name / 品牌不存在", code=2)
        if category is not None and config.category(category) is None:
            raise Fail(f"--category: {category!r} is not a [crisis.*] category / 类别不存在", code=2)
        try:
            row = add_silence(session, now=utcnow(), duration=span, reason=reason, actor=actor(), brand=brand, term=term, category=category)
        except SilenceError as exc:
            raise Fail(str(exc), code=2) from None
        session.commit()
        click.echo(f"{describe(row)} / 已静默")


@silence.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also silences that have ended.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
@click.pass_context
def silence_list(ctx: click.Context, include_ended: bool, as_json: bool) -> None:
    """Silences in force (or all of them) / 静默列表."""
    with open_session(ctx) as (config, session):
        now = utcnow()
        rows = list_silences(session, now, include_ended=include_ended)
        if as_json:
            click.echo(json.dumps([
                {"id": r.id, "brand": r.brand, "term": r.term, "category": r.category, "starts_at": r.starts_at.isoformat(),
                 "ends_at": r.ends_at.isoformat(), "reason": r.reason, "created_by": r.created_by, "active": r.starts_at <= now < r.ends_at}
                for r in rows
            ], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no silences / 没有静默")
        for row in rows:
            state = "active" if row.starts_at <= now < row.ends_at else "ended"
            click.echo(f"{state:<7} {describe(row)} (by {row.created_by})")


@silence.command("expire")
@click.argument("silence_id", type=int)
@click.pass_context
def silence_expire(ctx: click.Context, silence_id: int) -> None:
    """End a silence now; tickets it held that are still open are then announced / 结束静默."""
    with open_session(ctx) as (_config, session):
        try:
            row = expire_silence(session, silence_id, utcnow())
        except SilenceError as exc:
            raise Fail(str(exc)) from None
        session.commit()
        click.echo(f"silence #{row.id} ended / 静默已结束")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array (for scripts).")
@click.pass_context
def delivery(ctx: click.Context, as_json: bool) -> None:
    """Delivery health per channel and route: sent, retrying, refused for good / 投递状态."""
    with open_session(ctx) as (config, session):
        health = delivery_health(session)
    if as_json:
        click.echo(json.dumps(health, ensure_ascii=False, indent=2))
        return
    if not health:
        click.echo("no messages yet / 尚无消息")
        return
    tz = config.monitor.timezone

    click.echo(f"{'CHANNEL':<12} {'ROUTE':<16} {'STATE':<9} {'SENT':>6} {'QUEUED':>6} {'RETRYING':>8} {'REJECTED':>8}  LAST SENT")
    for h in health:
        click.echo(
            f"{h['channel']:<12} {h['route']:<16} {h['state']:<9} {h['sent']:>6} {h['queued']:>6} {h['retrying']:>8} {h['rejected']:>8}  {local_time(h['last_sent'], tz)}"
        )
    problems = [(h, p) for h in health for p in h["problems"]]
    if problems:
        click.echo("")
        click.echo("needs a look / 需要处理 (rejected: refused for good, not retried / 被拒收，不再重试; retrying: 将重试):")
    for h, p in problems:
        tickets = " ".join(f"#{t}" for t in p["tickets"]) or p["key"]
        when = f"next try {local_time(p['next_attempt'], tz)}" if p["next_attempt"] else "not retried"
        click.echo(f"  {p['status']:<9} {tickets} route {h['route']} → {', '.join(p['recipients']) or h['channel']}: {p['error'][:160]} ({when})")
