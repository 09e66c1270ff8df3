"""Delivery edge cases found in review: Chinese route and owner names, reopened tickets'
clocks, owner messages that respect silences and closure, renamed routes, the first
repeat's timing, and threads that begin with a group message."""
from __future__ import annotations

from datetime import timedelta

from conftest import write_config
from sqlalchemy import select
from test_notify import ESCALATING, HEAD, messages, open_ticket

from monitor.config import load_config
from monitor.storage.models import MessageRow, NoticeRow, TicketRow
from monitor.tickets.actions import assign, resolve

HOURS = '\n[tickets]\nworking_hours = { start = "09:00", end = "18:00" }\n'
PR_DEFAULT_PACING = '[[alerts.routes]]\nname = "pr"\nto = ["pr-team@example.com"]\n'


def test_first_repeat_is_a_full_repeat_interval_after_the_first_message_not_15_minutes(tmp_path, make_app, clock):
    # shipped pacing + shipped working hours. Clock: Sunday 16:00 Shanghai.
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, HOURS + 'remind_after = { normal = "30d" }\n', base=HEAD))
    clock.advance(hours=-45)               # Friday 19:00
    open_ticket(app, clock, 1)            # normal, notice deferred to Monday 09:00
    clock.advance(hours=62)                # Monday 09:00
    app.dispatch()
    assert len(messages(app)) == 1         # the opening, Monday 09:00
    clock.advance(minutes=16)              # Monday 09:16
    app.remind(); app.dispatch()
    # normal repeat_interval is 24h: nothing should be re-announced 16 minutes later
    assert [m[2] for m in messages(app)][1:] == []


def test_reopening_an_old_normal_ticket_tells_the_routes_it_was_reopened_not_a_48h_reminder(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, base=HEAD))
    tid = open_ticket(app, clock, 1)
    clock.advance(minutes=6); app.dispatch()           # opening sent
    clock.advance(hours=30)
    with app.sessions() as s:
        resolve(s, tid, clock.now, "lead", "refunded"); s.commit()
    clock.advance(hours=20)                             # 50 h after opening, 20 h after resolving
    with app.sessions() as s:
        app._parts.desk.reopen(s, s.get(TicketRow, tid), clock.now, "monitor", "new post"); s.commit()
    clock.advance(minutes=1); app.remind()               # the 60 s clock runs while the notice gathers
    clock.advance(minutes=5); app.dispatch()
    subjects = [m[2] for m in messages(app)][1:]
    assert any(s.startswith("[重开 reopened]") for s in subjects), subjects


def test_a_reopened_ticket_escalates_again_when_its_fresh_clock_runs_out(tmp_path, make_app, clock, loopback):
    from conftest import mastodon_source, status
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), ESCALATING, base=HEAD))
    loopback.json("/api/v1/timelines/tag/acme", [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    clock.advance(hours=1); assert app.remind().escalations == 1
    with app.sessions() as s:
        resolve(s, 1, clock.now, "lead", "refunded"); s.commit()
    clock.advance(hours=1)
    with app.sessions() as s:
        app._parts.desk.reopen(s, s.get(TicketRow, 1), clock.now, "lead", "customer wrote again"); s.commit()
    clock.advance(hours=1, minutes=1)       # past the reopened ticket's fresh due_at, not acked
    assert app.remind().escalations == 1


def test_a_deferred_owner_reminder_is_not_sent_for_a_ticket_resolved_meanwhile(tmp_path, make_app, clock):
    people = '\n[people]\n"wang" = "wangfang@example.com"\n'
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, HOURS, people, base=HEAD))
    clock.advance(hours=6)                              # Sunday 22:00
    tid = open_ticket(app, clock, 1)
    with app.sessions() as s:
        assign(s, tid, clock.now, "lead", "wang"); s.commit()
    clock.advance(hours=48)                             # Tuesday 22:00: reminder due, deferred to Wed 09:00
    assert app.remind().reminders == 1
    clock.advance(hours=1)
    with app.sessions() as s:
        resolve(s, tid, clock.now, "wang", "done"); s.commit()
    clock.advance(hours=10)                             # Wednesday 09:00
    app.deliver()
    with app.sessions() as s:
        owner = s.scalars(select(MessageRow).where(MessageRow.route == "owner:wang")).all()
        print("OWNER", [(m.status, m.next_attempt_at, m.last_error) for m in s.scalars(select(MessageRow))])
    assert [m.status for m in owner if m.status == "sent"] == []


def test_a_silence_also_holds_the_owners_direct_messages(tmp_path, make_app, clock):
    from monitor.tickets.silences import add_silence
    people = '\n[people]\n"wang" = "wangfang@example.com"\n'
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, people, base=HEAD))
    tid = open_ticket(app, clock, 1)
    with app.sessions() as s:
        assign(s, tid, clock.now, "lead", "wang")
        add_silence(s, now=clock.now, duration=timedelta(days=5), reason="launch", actor="lead", brand="艾克美")
        s.commit()
    clock.advance(hours=49)
    app.remind(); app.deliver()
    with app.sessions() as s:
        sent = s.scalars(select(MessageRow).where(MessageRow.status == "sent")).all()
        print("SIL", [(m.route, m.status, m.key) for m in s.scalars(select(MessageRow))])
    assert [m.route for m in sent] == []


def test_renaming_a_route_does_not_lose_a_waiting_opening(tmp_path, make_app, clock):
    path = write_config(tmp_path, PR_DEFAULT_PACING, base=HEAD)
    app = make_app(path)
    open_ticket(app, clock, 1, severity="important")   # gathers 1 minute
    write_config(tmp_path, PR_DEFAULT_PACING.replace('"pr"', '"pr-team"'), base=HEAD)
    from sources.registry import source_kinds
    app.apply(load_config(path, source_kinds()))
    clock.advance(minutes=6); app.dispatch()
    for _ in range(3):
        clock.advance(hours=25); app.remind(); app.dispatch()
    with app.sessions() as s:
        print([(n.route, n.kind, n.status) for n in s.scalars(select(NoticeRow))])
    assert messages(app) != []              # the ticket is told to someone, some time


def test_an_owner_with_a_chinese_name_gets_their_mail(tmp_path, make_app, clock):
    people = '\n[people]\n"王芳" = "wangfang@example.com"\n'
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, people, base=HEAD))
    tid = open_ticket(app, clock, 1)
    with app.sessions() as s:
        assign(s, tid, clock.now, "lead", "王芳"); s.commit()
    clock.advance(hours=49)                     # Tuesday 17:00, inside working hours anyway
    app.remind(); app.deliver()
    with app.sessions() as s:
        [m] = s.scalars(select(MessageRow).where(MessageRow.route == "owner:王芳")).all()
        assert (m.status, m.last_error) == ("sent", "")


def test_a_route_with_a_chinese_name_delivers_email(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, '[[alerts.routes]]\nname = "公关"\nto = ["pr-team@example.com"]\ngroup_wait = "0s"\n', base=HEAD))
    open_ticket(app, clock, 1)
    report = app.deliver()
    with app.sessions() as s:
        [m] = s.scalars(select(MessageRow)).all()
        assert (report.sent, m.last_error) == (1, ""), m.message_id


def test_a_ticket_first_told_in_a_group_message_has_its_update_threaded_under_that_message(tmp_path, make_app, clock):
    from monitor.storage.models import TicketRow as T
    app = make_app(write_config(tmp_path, PR_DEFAULT_PACING, base=HEAD))
    open_ticket(app, clock, 1); open_ticket(app, clock, 2)    # a burst: one message for #1 and #2
    clock.advance(minutes=6); app.dispatch()
    with app.sessions() as s:
        t = s.get(T, 1); t.severity = "urgent"; s.flush()
        app.notifier.notify(s, t, "raised", clock.now); s.commit()
    app.dispatch()
    with app.sessions() as s:
        first, update = s.scalars(select(MessageRow).order_by(MessageRow.id)).all()
        print(first.ticket_ids, first.message_id, "|", update.ticket_ids, update.message_id, repr(update.in_reply_to))
        assert update.in_reply_to == first.message_id   # fails: the update starts a new thread
