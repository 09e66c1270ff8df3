"""Playbooks, owners, demands and follow-up: the alert says what to do and whose it is,
and a case does not quietly come back."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from conftest import BASE_CONFIG, mastodon_source, status, write_config
from sqlalchemy import select

from monitor.cli.commands import cli
from monitor.config import ConfigError, parse_config
from monitor.storage.models import EventRow, MessageRow, NoticeRow, StepRow, TicketRow
from monitor.tickets.actions import resolve
from sources import source_kinds

TIMELINE = "/api/v1/timelines/tag/acme"
PLAYBOOK = """
[playbooks.safety]
steps = [
  { within = "1h", do = "联系发帖人，核实烫伤程度 / contact the poster, verify the injury" },
  { within = "2h", do = "官方账号公开回应 / answer publicly" },
]
dont = ["核实前不要承认责任 / don't admit fault before the facts are checked"]

[playbooks.default]
steps = [{ within = "24h", do = "回复客户 / answer the customer" }]

[[owners]]
category = "safety"
team = "品控部 quality"
person = "王芳"

[[owners]]
team = "公关部 PR"
person = "李雷"

[people]
"王芳" = "wangfang@example.com"
"""


def events(app, kind):
    with app.sessions() as s:
        return [e.detail for e in s.scalars(select(EventRow).where(EventRow.kind == kind).order_by(EventRow.id))]


def test_a_safety_ticket_opens_with_its_playbook_and_owner_and_an_overdue_step_reminds_once(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了")])
    app.poll("masto")
    opened = clock.now
    with app.sessions() as s:
        ticket = s.get(TicketRow, 1)
        assert (ticket.owner, ticket.team) == ("王芳", "品控部 quality")
        steps = [(st.number, st.text.split(" / ")[0], st.due_at) for st in ticket.steps]
    assert steps == [(1, "联系发帖人，核实烫伤程度", opened + timedelta(hours=1)), (2, "官方账号公开回应", opened + timedelta(hours=2))]
    app.dispatch()
    with app.sessions() as s:
        [pr] = [m for m in s.scalars(select(MessageRow)) if m.route == "pr"]
        text, html = pr.body_text, pr.body_html
    assert "[ ] 1. 联系发帖人，核实烫伤程度" in text and "负责人 owner:      王芳 (品控部 quality)" in text
    assert "核实前不要承认责任" in text and "☐ 1. 联系发帖人" in html

    runner = CliRunner()
    path = str(app.config.path)
    with app.sessions() as s:  # step 1 done on time, from the command line
        s.get(StepRow, 1).done_at = clock.now + timedelta(minutes=30)
        s.commit()
    clock.advance(minutes=119)
    assert app.remind().overdue_steps == 0
    clock.advance(minutes=2)  # step 2 (2 h) is overdue now
    assert app.remind().overdue_steps == 1
    assert app.remind().overdue_steps == 0  # exactly once
    app.dispatch()
    assert events(app, "step_overdue") == [events(app, "step_overdue")[0]] and "官方账号公开回应" in events(app, "step_overdue")[0]
    with app.sessions() as s:
        owner_mail = [m for m in s.scalars(select(MessageRow)) if m.route == "owner:王芳"]
    assert [m.recipients for m in owner_mail] == [["wangfang@example.com"]]
    assert owner_mail[0].subject.startswith("[步骤超时 step overdue]")
    result = runner.invoke(cli, ["-c", path, "tickets", "step", "1", "2", "--done", "--note", "posted on Weibo"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["-c", path, "tickets", "show", "1"]).output
    assert "[x] 1. 联系发帖人" in shown and "[x] 2. 官方账号公开回应" in shown
    assert "step 2 of #1 is already done" in runner.invoke(cli, ["-c", path, "tickets", "step", "1", "2", "--done"]).output


def test_tickets_show_lists_the_playbooks_donts_with_the_checklist(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了"), status("2", "艾克美杯子漏水")])
    app.poll("masto")
    runner = CliRunner()
    path = str(app.config.path)
    with app.sessions() as s:
        by_category = {t.categories[0]: t.id for t in s.scalars(select(TicketRow))}
    burn, leak = by_category["safety"], by_category["quality"]

    shown = runner.invoke(cli, ["-c", path, "tickets", "show", str(burn)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    at = lines.index("  切忌 don't:")
    assert lines[at + 1] == "    ✗ 核实前不要承认责任 / don't admit fault before the facts are checked"
    assert any("2. 官方账号公开回应" in line for line in lines[:at])  # after the checklist, as in the alert mail
    detail = json.loads(runner.invoke(cli, ["-c", path, "tickets", "show", str(burn), "--json"]).output)
    assert detail["donts"] == ["核实前不要承认责任 / don't admit fault before the facts are checked"]

    # the default playbook has no don'ts: nothing to list, and an empty list in JSON
    assert "切忌" not in runner.invoke(cli, ["-c", path, "tickets", "show", str(leak)]).output
    assert json.loads(runner.invoke(cli, ["-c", path, "tickets", "show", str(leak), "--json"]).output)["donts"] == []


def test_a_ticket_without_a_matching_row_goes_to_the_default_owner_and_default_playbook(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    with app.sessions() as s:
        ticket = s.get(TicketRow, 1)
        assert (ticket.owner, ticket.team) == ("李雷", "公关部 PR")
        assert [st.text for st in ticket.steps] == ["回复客户 / answer the customer"]


def test_resolving_without_a_note_or_with_an_open_demand_is_refused(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水")])
    app.poll("masto")
    path = str(app.config.path)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, ["-c", path, "tickets", *args])

    no_note = run("resolve", "1")
    assert no_note.exit_code == 1 and "needs --note" in no_note.output
    assert run("demand", "add", "1", "退款 refund").exit_code == 0
    assert run("demand", "add", "1", "道歉 apology").exit_code == 0
    assert run("demand", "done", "1", "1").exit_code == 0
    open_demand = run("resolve", "1", "--note", "refunded")
    assert open_demand.exit_code == 1 and "still has open demand(s): 2. 道歉 apology" in open_demand.output
    assert run("demand", "done", "1", "2").exit_code == 0
    assert run("resolve", "1", "--note", "refunded and apologised").exit_code == 0
    detail = json.loads(run("show", "1", "--json").output)
    assert detail["status"] == "resolved" and detail["resolution"] == "refunded and apologised"
    assert [d["status"] for d in detail["demands"]] == ["done", "done"]


def test_follow_up_reopens_a_case_whose_post_grows_again_and_records_a_quiet_one(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    text = "孩子被艾克美保温杯烫伤了"
    loopback.json(TIMELINE, [status("1", text, reblogs=10), status("2", "艾克美杯子漏水", reblogs=1)])
    app.poll("masto")
    with app.sessions() as s:
        for ticket_id in (1, 2):
            resolve(s, ticket_id, clock.now, "王芳", "refunded", follow_up=timedelta(hours=24))
        s.commit()
    for grown in (40, 70, 100):  # slow growth: never a velocity alarm, but +90 since it was resolved
        clock.advance(hours=6)
        loopback.json(TIMELINE, [status("1", text, reblogs=grown), status("2", "艾克美杯子漏水", reblogs=1)])
        app.poll("masto")  # the resolved case's post is still re-read
    with app.sessions() as s:
        assert s.get(TicketRow, 1).status == "resolved"
    clock.advance(hours=6, minutes=1)
    assert app.remind().follow_ups == 2
    assert app.remind().follow_ups == 0
    app.dispatch()
    with app.sessions() as s:
        flared, quiet = s.get(TicketRow, 1), s.get(TicketRow, 2)
        assert flared.status == "open" and flared.reopens == 1
        assert quiet.status == "resolved"
        owner_notices = [n.kind for n in s.scalars(select(NoticeRow).where(NoticeRow.route == "owner:王芳"))]
    assert "reopened" in owner_notices  # its owner is told
    assert any("gained +90" in d for d in events(app, "reopened"))
    assert events(app, "follow_up") == ["quiet after follow-up / 回访期内平稳"]


NEVER_REOPEN = '\n[tickets]\nreopen_within = "0s"\nfollow_up = "24h"\n'


def test_with_reopen_within_0s_a_follow_up_flare_up_opens_a_new_ticket_naming_the_old_one_and_tells_its_owner(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK, NEVER_REOPEN))
    text = "孩子被艾克美保温杯烫伤了"
    loopback.json(TIMELINE, [status("1", text, reblogs=10)])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:
        resolve(s, 1, clock.now, "王芳", "refunded", follow_up=app.config.tickets.follow_up)
        s.commit()
    for grown in (40, 70, 100):  # slow growth: no velocity alarm, so no post opens a ticket
        clock.advance(hours=6)
        loopback.json(TIMELINE, [status("1", text, reblogs=grown)])
        app.poll("masto")
    clock.advance(hours=6, minutes=1)
    assert app.remind().follow_ups == 1
    app.dispatch()
    with app.sessions() as s:
        old, new = s.get(TicketRow, 1), s.get(TicketRow, 2)
        assert old.status == "resolved" and old.reopens == 0  # "0s": never reopened
        assert (new.status, new.issue_key, new.severity, new.owner) == ("open", old.issue_key, "urgent", "王芳")
        assert [link.post.url for link in new.posts] == ["http://127.0.0.1/@someone/1"]  # the post that flared up
        assert any("flared up during the follow-up of #1" in r for r in new.reasons)
        kinds = {e.kind: e.detail for e in new.events}
        owner_notices = [(n.ticket_id, n.kind) for n in s.scalars(select(NoticeRow).where(NoticeRow.route == "owner:王芳"))]
    assert kinds["follows"] == "the issue was resolved before as #1 / 此问题曾在 #1 解决"
    assert "#1 (1.00)" in kinds["similar_cases"]
    assert (2, "opened") in owner_notices  # its owner is told
    [follow_up] = events(app, "follow_up")
    assert follow_up.startswith("flared up (its posts gained +90") and "opened #2" in follow_up
    assert "open in another ticket" not in follow_up


def test_with_reopen_within_0s_a_fast_flare_up_opens_a_new_ticket_and_the_follow_up_names_it(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK, NEVER_REOPEN))
    text = "孩子被艾克美保温杯烫伤了"
    loopback.json(TIMELINE, [status("1", text, reblogs=10)])
    app.poll("masto")
    with app.sessions() as s:
        resolve(s, 1, clock.now, "王芳", "refunded", follow_up=app.config.tickets.follow_up)
        s.commit()
    clock.advance(hours=2)
    loopback.json(TIMELINE, [status("1", text, reblogs=20)])
    app.poll("masto")
    clock.advance(minutes=10)
    loopback.json(TIMELINE, [status("1", text, reblogs=200)])  # viral again: a new ticket at once
    app.poll("masto")
    with app.sessions() as s:
        assert s.get(TicketRow, 1).status == "resolved"
        new = s.get(TicketRow, 2)
        assert new.status == "open" and new.issue_key == s.get(TicketRow, 1).issue_key
        assert [e.detail for e in new.events if e.kind == "follows"] == ["the issue was resolved before as #1 / 此问题曾在 #1 解决"]
    clock.advance(hours=22)
    assert app.remind().follow_ups == 1
    with app.sessions() as s:
        assert s.scalar(select(TicketRow.id).where(TicketRow.id == 3)) is None  # one open ticket for the issue
        assert s.get(TicketRow, 1).status == "resolved"
    [follow_up] = events(app, "follow_up")
    assert follow_up.startswith("flared up (its posts gained") and follow_up.endswith("the issue is open again as #2 / 回访期内复发，已在 #2 处理")


def _parse(tmp_path, extra):
    import tomllib

    return parse_config(tomllib.loads(BASE_CONFIG + extra), tmp_path / "config.toml", source_kinds())


def test_config_rejects_bad_steps_unknown_categories_and_a_matrix_without_a_default(tmp_path):
    bad = """
[playbooks.safety]
steps = [{ within = "soon", do = "call" }, { within = "1h" }]

[playbooks.weather]
steps = [{ within = "1h", do = "x" }]

[[owners]]
category = "weather"
team = "t"
person = "p"
"""
    with pytest.raises(ConfigError) as err:
        _parse(tmp_path, bad)
    text = "\n".join(err.value.problems)
    for key in ("playbooks.safety.steps[0].within", "playbooks.safety.steps[1].do", "playbooks.weather", "owners[0].category", "owners: no default owner"):
        assert key in text, key
    assert _parse(tmp_path, PLAYBOOK).owners[-1].person == "李雷"


def test_a_new_leak_complaint_links_last_weeks_resolved_leak_case_and_the_mail_lists_it(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), PLAYBOOK))
    loopback.json(TIMELINE, [status("1", "艾克美保温杯盖子漏水，洒了一包"), status("2", "记者曝光艾克美广告夸大")])
    app.poll("masto")
    clock.advance(hours=5)
    with app.sessions() as s:
        resolve(s, 1, clock.now, "quality-lead", "更换密封圈并补发新杯 replaced the seal, sent a new cup", follow_up=None)
        resolve(s, 2, clock.now, "pr-lead", "公关部发布更正说明 PR published a correction", follow_up=None)
        s.commit()
    clock.advance(days=7)
    # the same complaint reworded (issue grouping would join them), not merely the same category
    loopback.json(TIMELINE, [status("3", "新买的艾克美保温杯盖子也漏水，包里都湿了", created=clock.now)])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as s:
        ticket = s.scalar(select(TicketRow).order_by(TicketRow.id.desc()))
        assert ticket.id == 3
        linked = [e.detail for e in ticket.events if e.kind == "similar_cases"]
        [mail] = [m for m in s.scalars(select(MessageRow)) if 3 in (m.ticket_ids or [])]
    assert linked and linked[0].startswith("#1 ") and "#2" not in linked[0]
    assert "相似案例 similar past cases:" in mail.body_text
    assert "#1 " in mail.body_text and "更换密封圈并补发新杯" in mail.body_text and "用时 took 5h 00m" in mail.body_text
    assert "公关部发布更正说明" not in mail.body_text
    shown = CliRunner().invoke(cli, ["-c", str(app.config.path), "cases", "search", "密封圈"])
    assert shown.exit_code == 0 and "#1" in shown.output
