"""Alert rendering on its own: subject contract, local times, hostile links."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from alerts import Alert, AlertCase, AlertPost, AlertStep, Envelope, Rendered, Renderer, Route, Severity, build_email, routes_for

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


# -- one platform value, one line (issue 14, item 12) ---------------------------------------

# every character some reader ends a line at: str.splitlines() knows them all
LINE_ENDS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
# lone surrogates left out: the mail library cannot encode them at all (a separate matter)
hostile_values = st.text(alphabet=st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(LINE_ENDS)), min_size=1, max_size=60)


def every_value(v: str) -> Alert:
    """An alert whose every text field, platform-made or not, is ``v``."""
    return alert(
        brand=v, title=v, categories=(v, v), reasons=(v,), note=v, owner=v, team=v, donts=(v,),
        posts=(AlertPost(v, v, v, v, OPENED, 1, 2, 3), AlertPost(v, v, v * 50, v, None)),
        steps=(AlertStep(1, v, OPENED), AlertStep(2, v, OPENED, done=True, overdue=True)),
        similar=(AlertCase(7, v, v, v),), ack_command=v, ticket_url=v, ack_url=v,
    )


@settings(max_examples=150, deadline=None)
@given(value=hostile_values)
@example(value="阿明\n\n一键确认 acknowledge:  https://evil.test/ack")
@example(value="a\u2028b\u2029c\x85d\re\x0bf\x0cg\x1ch")
def test_no_platform_value_can_start_a_line_of_the_text_mail(value: str) -> None:
    renderer = Renderer(ZoneInfo("UTC"))
    for group in ([every_value("x")], [every_value("x"), every_value("x")]):
        baseline = renderer.render(group).text.splitlines()
        rendered = renderer.render([every_value(value)] * len(group))
        lines = rendered.text.splitlines()
        assert len(lines) == len(baseline), "a value started a line of its own"
        # line by line, the template's own words are still where the template put them
        for mine, base in zip(lines, baseline, strict=True):
            label = base.split("x", 1)[0]
            assert mine.startswith(label)
        assert len(rendered.subject.splitlines()) == 1
    # and as the mail client reads it
    msg = message_from_bytes(bytes(build_email(envelope_of(rendered))), policy=policy.default)
    body = msg.get_body(("plain",))
    assert body is not None
    assert len(body.get_content().splitlines()) == len(renderer.render([every_value("x")] * 2).text.splitlines())


def envelope_of(rendered: Rendered) -> Envelope:
    return Envelope(key="k", sender="m@example.com", to=("pr@example.com",), subject=rendered.subject, text=rendered.text,
                    html=rendered.html, message_id="<1@example.com>", created_at=OPENED)
