"""Alert rendering on its own: subject contract, local times, hostile links."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts import Alert, AlertPost, Renderer, Route, Severity, routes_for

OPENED = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def alert(**kw) -> Alert:
    base = dict(
        ticket_id=12, kind="opened", severity=Severity.urgent, brand="艾克美", title="保温杯烫伤\r\nBcc: x@evil.test",
        categories=("safety",), reasons=("crisis terms 烫伤 (safety) → urgent",),
        posts=(AlertPost("javascript:alert(1)", "<b>me</b>", "text", "mastodon", OPENED, 1, 2, 3),),
        opened_at=OPENED, due_at=OPENED.replace(hour=3), post_count=25,
    )
    base.update(kw)
    return Alert(**base)


def test_subject_body_and_hostile_values():
    r = Renderer(ZoneInfo("Asia/Shanghai")).render(alert())
    assert r.subject == "[紧急 urgent] #12 艾克美: 保温杯烫伤 Bcc: x@evil.test"  # no header injection
    assert "2026-11-22 11:00 CST" in r.text  # due time shown in the configured zone
    assert 'href="#"' in r.html and 'href="javascript' not in r.html
    assert "&lt;b&gt;me&lt;/b&gt;" in r.html
    assert "and 24 more" in r.text and "and 24 more" in r.html


def test_raise_and_reminder_subjects():
    renderer = Renderer(ZoneInfo("UTC"))
    raised = renderer.render(alert(kind="raised", previous_severity=Severity.important, title="t"))
    assert raised.subject == "[紧急 urgent] #12 艾克美: t (升级 raised from 重要 important)"
    reminder = renderer.render(alert(kind="reminder", severity=Severity.normal, title="t"))
    assert reminder.subject == "[提醒 reminder] [一般 normal] #12 艾克美: t"


def test_routes_by_severity_and_category():
    pr = Route("pr", ("pr@example.com",))
    mgmt = Route("management", ("ceo@example.com",), Severity.urgent)
    legal = Route("legal", ("law@example.com",), Severity.normal, frozenset({"legal"}))
    routes = [pr, mgmt, legal]
    assert routes_for(Severity.important, (), "艾克美", routes) == [pr]
    assert routes_for(Severity.urgent, ("media",), "艾克美", routes) == [pr, mgmt]
    assert routes_for(Severity.urgent, ("legal", "media"), "艾克美", routes) == [pr, mgmt, legal]
