"""Delivery as a PR team lives it: grouping, repeats, escalation, threads, chat,
silences, owners and reopening. Real SQLite (or PostgreSQL), a real SMTP server, a
loopback chat receiver; time is a fake clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from datetime import timedelta

from click.testing import CliRunner
from conftest import BASE_CONFIG, mastodon_source, smtp_block, status, write_config
from sqlalchemy import select

from monitor.cli.commands import cli
from monitor.storage.models import EventRow, MessageRow, NoticeRow, TicketRow
from monitor.tickets.actions import acknowledge, resolve, ticket_detail

TIMELINE = "/api/v1/timelines/tag/acme"
HEAD = BASE_CONFIG.split("# detection tests want")[0]  # brands, crisis terms, scoring; no routes


def messages(app, **where):
    with app.sessions() as s:
        query = select(MessageRow).order_by(MessageRow.id)
        for column, value in where.items():
            query = query.where(getattr(MessageRow, column) == value)
        return [(m.key, list(m.recipients), m.subject, list(m.ticket_ids)) for m in s.scalars(query)]


def events(app, kind):
    with app.sessions() as s:
        return [(e.ticket_id, e.detail) for e in s.scalars(select(EventRow).where(EventRow.kind == kind).order_by(EventRow.id))]


def open_ticket(app, clock, n, severity="normal"):
    """A ticket as the incident desk opens it, then the notice it records."""
    with app.sessions() as s:
        ticket = TicketRow(
            brand="艾克美", issue_key=f"quality:{n}", open_key=f"艾克美|quality:{n}", title=f"杯子漏水 {n}", status="open", severity=severity,
            categories=["quality"], reasons=["term 漏水 (quality)"], opened_at=clock.now, due_at=clock.now + timedelta(hours=24),
        )
        s.add(ticket)
        s.flush()
        app.notifier.notify(s, ticket, "opened", clock.now)
        s.commit()
        return ticket.id


def test_fifty_normal_tickets_in_ten_seconds_make_at_most_ceil_10_over_group_wait_messages(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, '[[alerts.routes]]\nname = "pr"\nto = ["pr-team@example.com"]\ngroup_wait = "5s"\ngroup_interval = "5s"\n', base=HEAD))
    start = clock.now
    ids = []
    for n in range(50):  # one every 0.2 s; the delivery loop runs as often as tickets arrive
        ids.append(open_ticket(app, clock, n))
        app.dispatch()
        clock.advance(seconds=0.2)
    within = len(messages(app))
    assert clock.now - start == timedelta(seconds=10)
    assert 1 <= within <= math.ceil(10 / 5)
    clock.advance(seconds=10)
    app.dispatch()
    sent = messages(app)
    assert len(sent) <= within + 1
    told = sorted(t for _key, _to, _subject, tickets in sent for t in tickets)
    assert told == sorted(ids)  # every ticket told, each exactly once
    assert all("个工单 tickets" in subject for _k, _t, subject, tickets in sent if len(tickets) > 1)


def test_repeat_interval_reannounces_an_unacknowledged_ticket_and_stops_after_ack(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    app.dispatch()
    assert len(messages(app)) == 2  # pr and management, at once
    clock.advance(minutes=59)
    assert app.remind().repeats == 0
    clock.advance(minutes=2)
    assert app.remind().repeats == 2  # urgent repeats every hour on both routes
    app.dispatch()
    repeats = [m for m in messages(app) if "repeat" in m[0]]
    assert len(repeats) == 2 and all(m[2].startswith("[未确认 unacked]") for m in repeats)
    with app.sessions() as s:
        acknowledge(s, 1, clock.now, "lead")
        s.commit()
    clock.advance(hours=3)
    assert app.remind().repeats == 0
    app.dispatch()
    assert len(messages(app)) == 4


FAST_REPEATS = """
[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
group_wait = "0s"
repeat_interval = { urgent = "8s" }
"""


def test_an_unacknowledged_urgent_ticket_is_repeated_after_its_8s_not_after_group_interval(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, FAST_REPEATS, base=HEAD))
    ticket_id = open_ticket(app, clock, 1, severity="urgent")
    app.dispatch()
    assert len(messages(app)) == 1
    clock.advance(seconds=7)
    assert app.remind().repeats == 0
    clock.advance(seconds=2)  # 9 s after the first message; group_interval (15m) holds nothing urgent
    assert app.remind().repeats == 1
    app.dispatch()
    clock.advance(seconds=9)
    assert app.repeat() == 1  # what the daemon runs between the minute's clocks for a short repeat_interval
    app.dispatch()
    repeats = [m for m in messages(app) if "repeat" in m[0]]
    assert len(repeats) == 2 and all(m[2].startswith("[未确认 unacked]") and m[3] == [ticket_id] for m in repeats)


def test_a_zero_group_wait_still_holds_a_normal_groups_next_message_for_group_interval(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, '[[alerts.routes]]\nname = "pr"\nto = ["pr-team@example.com"]\ngroup_wait = "0s"\n', base=HEAD))
    first = open_ticket(app, clock, 1)
    app.dispatch()
    assert [m[3] for m in messages(app)] == [[first]]  # the group's first message: at once
    clock.advance(minutes=2)
    second = open_ticket(app, clock, 2)
    third = open_ticket(app, clock, 3, severity="urgent")
    app.dispatch()
    assert [m[3] for m in messages(app)] == [[first], [third]]  # urgent at once; the normal one waits
    clock.advance(minutes=12, seconds=59)
    app.dispatch()
    assert len(messages(app)) == 2
    clock.advance(seconds=1)  # 15 minutes after the group's last message
    app.dispatch()
    assert [m[3] for m in messages(app)] == [[first], [third], [second]]


ESCALATING = """
[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
group_wait = "0s"
escalate_to = [
  { after = "0s", to = ["pr-lead@example.com"] },
  { after = "30m", to = ["ceo@example.com"] },
  { after = "2h", to = ["board@example.com"] },
]
"""


def test_an_unacknowledged_urgent_ticket_climbs_the_escalation_chain_once_per_step_until_acked(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), ESCALATING, base=HEAD))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")  # urgent: due in 1 h
    clock.advance(minutes=59)
    assert app.remind().escalations == 0
    clock.advance(minutes=1)
    assert app.remind().escalations == 1
    assert app.remind().escalations == 0  # once per step
    clock.advance(minutes=30)
    assert app.remind().escalations == 1
    with app.sessions() as s:
        acknowledge(s, 1, clock.now, "lead")
        s.commit()
    clock.advance(hours=3)
    assert app.remind().escalations == 0  # acked: the board is never told
    escalations = [m for m in messages(app) if "escalate" in m[0]]
    assert [m[1] for m in escalations] == [["pr-lead@example.com"], ["ceo@example.com"]]
    assert all(m[2].startswith("[超时 overdue]") for m in escalations)
    assert [detail for _t, detail in events(app, "escalated")] == ["route pr step 1 → pr-lead@example.com", "route pr step 2 → ceo@example.com"]


def test_updates_of_one_ticket_thread_under_its_first_message(tmp_path, loopback, make_app, clock, smtp):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(smtp.port)))
    text = "艾克美杯子漏水了"
    loopback.json(TIMELINE, [status("1", text, reblogs=1)])
    app.poll("masto")
    assert app.deliver().sent == 1  # normal: PR only
    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("1", text, reblogs=90, replies=20, favs=20)])
    app.poll("masto")  # +129 in 5 min: raised to urgent
    assert app.deliver().sent == 2  # PR's update, management's first
    clock.advance(minutes=61)
    app.remind()
    assert app.deliver().sent == 2  # the hourly repeat on both routes
    mails = smtp.wait_for(5)
    pr = [m for m in mails if "pr-team" in m["To"]]
    mgmt = [m for m in mails if "ceo" in m["To"]]
    root = pr[0]["Message-ID"]
    assert pr[0]["In-Reply-To"] is None
    for update in pr[1:]:
        assert update["In-Reply-To"] == root and update["References"] == root
        assert update["Message-ID"] != root
    assert mgmt[0]["In-Reply-To"] is None and mgmt[1]["In-Reply-To"] == mgmt[0]["Message-ID"]  # management has its own thread
    assert "升级 raised" in pr[1]["Subject"]


def test_dingtalk_is_signed_and_a_failing_webhook_is_retried_without_delaying_email(tmp_path, loopback, make_app, clock, smtp, receiver, monkeypatch):
    monkeypatch.setenv("TEST_DING_SECRET", "SECxyz")
    chat = f"""
[alerts.chat.pr-ding]
kind = "dingtalk"
url = "{receiver.url('/robot/send?access_token=tok123')}"
secret_env = "TEST_DING_SECRET"

[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
chat = ["pr-ding"]
group_wait = "0s"
"""
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(smtp.port), chat, base=HEAD))
    receiver.answer(500, {"errcode": -1, "errmsg": "busy"})
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    report = app.deliver()
    assert (report.sent, report.failed) == (1, 1)  # the email went; the robot failed
    assert len(smtp.wait_for(1)) == 1
    with app.sessions() as s:
        ding = s.scalar(select(MessageRow).where(MessageRow.channel == "pr-ding"))
        assert ding.status == "queued" and "HTTP 500" in ding.last_error and "tok123" not in ding.last_error
    [(ticket_id, detail)] = events(app, "message_failed")  # the timeline says it is stuck, once
    assert ticket_id == 1 and "pr-ding" in detail and "tok123" not in detail
    receiver.answer(200, {"errcode": 0, "errmsg": "ok"})
    assert app.deliver().sent == 0  # not before its retry time
    clock.advance(minutes=1)
    assert app.deliver().sent == 1
    first, second = receiver.seen
    assert second.query["access_token"] == "tok123"
    timestamp = second.query["timestamp"]
    expected = base64.b64encode(hmac.new(b"SECxyz", f"{timestamp}\nSECxyz".encode(), hashlib.sha256).digest()).decode()
    assert second.query["sign"] == expected
    body = second.json()
    assert body["msgtype"] == "markdown" and "#1" in body["markdown"]["text"]


def test_a_silence_stops_sending_but_not_recording_and_ends_on_time(tmp_path, loopback, make_app, clock):
    path = write_config(tmp_path, mastodon_source(loopback.base))
    runner = CliRunner()
    # the CLI stamps the silence with the real time; the daemon here runs on the fake clock
    result = runner.invoke(cli, ["-c", str(path), "silence", "add", "--brand", "艾克美", "--term", "新品发布", "--for", "2h", "--reason", "planned launch 发布会"])
    assert result.exit_code == 0, result.output
    app = make_app(path)
    with app.sessions() as s:
        from monitor.storage.models import SilenceRow

        row = s.get(SilenceRow, 1)
        row.starts_at, row.ends_at = clock.now, clock.now + timedelta(hours=2)
        s.commit()
    loopback.json(TIMELINE, [status("1", "艾克美新品发布会现场有人烫伤")])
    app.poll("masto")
    assert app.deliver().sent == 0
    [(ticket_id, detail)] = events(app, "silenced")[:1]
    assert "silence #1" in detail and "planned launch" in detail
    shown = runner.invoke(cli, ["-c", str(path), "tickets", "show", "1"])
    assert "held by silence #1" in shown.output  # the silence shows in the ticket's timeline …
    with app.sessions() as s:  # … and, while it lasts, as what holds the ticket
        detail = ticket_detail(s, s.get(TicketRow, 1), clock.now)
    assert [h["id"] for h in detail["silenced_by"]] == [1]
    assert runner.invoke(cli, ["-c", str(path), "tickets", "list", "--json"]).output.count('"id"') == 1  # raised and recorded

    loopback.json(TIMELINE, [status("1", "艾克美新品发布会现场有人烫伤"), status("2", "艾克美杯子漏水")])
    clock.advance(minutes=1)
    app.poll("masto")
    assert app.deliver().sent == 1  # another issue, not covered by the silence, goes out

    clock.advance(hours=2)  # the silence has ended
    app.remind()
    assert app.deliver().sent == 2  # the held urgent ticket is announced now, to pr and management
    assert {tuple(m[3]) for m in messages(app)} >= {(1,)}


def test_a_normal_reminder_waits_for_working_hours_but_urgent_never_does(tmp_path, loopback, make_app, clock):
    hours = '\n[tickets]\nworking_hours = { start = "09:00", end = "18:00" }\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), hours))
    # the clock starts Sunday 2026-11-22 16:00 in Shanghai: outside working hours
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水"), status("2", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:
        notices = {n.severity: n for n in s.scalars(select(NoticeRow))}
    assert notices["urgent"].status == "sent"
    assert notices["normal"].status == "pending"
    assert notices["normal"].due_at.astimezone(app.config.monitor.timezone).strftime("%a %H:%M") == "Mon 09:00"


def test_a_new_post_on_a_recently_resolved_issue_reopens_it_and_tells_its_owner(tmp_path, loopback, make_app, clock):
    people = '\n[people]\n"王芳" = "wangfang@example.com"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), people))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    path = app.config.path
    runner = CliRunner()
    assert runner.invoke(cli, ["-c", str(path), "tickets", "assign", "1", "--to", "王芳"]).exit_code == 0
    with app.sessions() as s:
        resolve(s, 1, clock.now, "王芳", "换货 replaced")
        s.commit()
    clock.advance(hours=3)
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水"), status("2", "我的艾克美杯子也漏水")])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:
        ticket = s.get(TicketRow, 1)
        assert ticket.status == "open" and ticket.owner == "王芳" and len(ticket.posts) == 2
        assert s.scalar(select(TicketRow.id).where(TicketRow.id == 2)) is None  # no second case for the same issue
    owner_mail = messages(app, route="owner:王芳")
    assert [m[1] for m in owner_mail] == [["wangfang@example.com"]]
    assert owner_mail[0][2].startswith("[重开 reopened]")
    assert [kind for _t, kind in events(app, "reopened")][0].startswith("new post on the issue")


def test_assign_note_reopen_from_the_command_line_are_timeline_events(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    path = str(app.config.path)
    runner = CliRunner()
    for args in (["assign", "1", "--to", "李雷"], ["note", "1", "called the customer 已联系"], ["resolve", "1", "--note", "refund"], ["reopen", "1", "--note", "customer wrote again"]):
        result = runner.invoke(cli, ["-c", path, "tickets", *args])
        assert result.exit_code == 0, result.output
    detail = json.loads(runner.invoke(cli, ["-c", path, "tickets", "show", "1", "--json"]).output)
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[-4:] == ["assigned", "note", "resolved", "reopened"]
    assert detail["owner"] == "李雷" and detail["status"] == "open"
    again = runner.invoke(cli, ["-c", path, "tickets", "reopen", "1"])
    assert again.exit_code == 1 and "not resolved" in again.output


def test_the_daily_digest_is_mailed_once_per_slot_with_its_chart_inline(tmp_path, loopback, make_app, clock, smtp):
    digest = '\n[alerts.digest]\nto = ["ceo@example.com"]\nevery = "1d"\nat = "09:00"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(smtp.port), digest))
    clock.advance(hours=-20)  # Saturday 20:00 in Shanghai: the crisis happens the evening before
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了 <script>x</script>")])
    app.poll("masto")
    clock.advance(hours=20)  # Sunday 16:00: today's 09:00 digest is due (the daemon was down at 09:00)
    assert app.remind().digest is True
    assert app.remind().digest is False  # once per slot
    app.deliver()
    [mail] = [m for m in smtp.wait_for(3) if m["Subject"].startswith("[日报 digest]")]
    assert mail["To"] == "ceo@example.com"
    assert "1 tickets" in mail["Subject"] or "1 ticket" in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    assert 'src="cid:trend.png"' in html and "<script>x" not in html
    [image] = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<trend.png>" and image.get_content().startswith(b"\x89PNG")
    clock.advance(days=1)
    assert app.remind().digest is True  # the next morning's


def test_a_ticket_raised_while_its_first_notice_waits_is_told_once_at_its_new_severity(tmp_path, loopback, make_app, clock):
    """Shipped pacing: important gathers for a minute, urgent goes at once. A post that
    turns urgent within that minute makes one "new ticket" message per route, not two."""
    routes = '[[alerts.routes]]\nname = "pr"\nto = ["pr-team@example.com"]\n\n[[alerts.routes]]\nname = "management"\nto = ["ceo@example.com"]\nmin_severity = "urgent"\n'
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), routes, base=HEAD))
    text = "艾克美保温杯的盖子一拧就弹开"
    loopback.json(TIMELINE, [status("1", text, reblogs=5)])
    app.poll("masto")
    clock.advance(seconds=20)
    loopback.json(TIMELINE, [status("1", text, reblogs=40, replies=10, favs=10)])
    app.poll("masto")  # important: PR's notice waits for company
    app.dispatch()
    assert messages(app) == []
    clock.advance(seconds=20)
    loopback.json(TIMELINE, [status("1", text, reblogs=90, replies=20, favs=20)])
    app.poll("masto")  # urgent within the minute
    app.dispatch()
    sent = messages(app)
    assert sorted(m[1][0] for m in sent) == ["ceo@example.com", "pr-team@example.com"]
    assert all(m[2].startswith("[紧急 urgent] #1") for m in sent), sent
    pr = next(m for m in sent if m[1] == ["pr-team@example.com"])
    assert "升级" not in pr[2]  # PR never heard of it: this is its opening, not a "raised"
    clock.advance(minutes=5)
    app.dispatch()
    assert len(messages(app)) == 2  # the superseded important notice never goes out


def test_an_alert_about_a_growing_post_shows_its_engagement_curve_inline(tmp_path, loopback, make_app, clock, smtp):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), smtp_block(smtp.port)))
    text = "艾克美保温杯的盖子一拧就弹开"
    loopback.json(TIMELINE, [status("1", text, reblogs=5)])
    app.poll("masto")
    clock.advance(minutes=5)
    loopback.json(TIMELINE, [status("1", text, reblogs=90, replies=20, favs=20)])
    app.poll("masto")  # urgent by velocity: the mail shows how it climbed
    assert app.deliver().sent == 2
    mail = next(m for m in smtp.wait_for(2) if "pr-team" in m["To"])
    html = mail.get_body(("html",)).get_content()
    assert 'src="cid:curve"' in html and "互动曲线 engagement curve" in html
    [image] = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<curve>" and image.get_content().startswith(b"\x89PNG")
