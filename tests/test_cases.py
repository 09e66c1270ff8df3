"""The memory of past cases: a new complaint links how the same problem was solved last
time (and not an unrelated case), resolution notes are searchable, and ``monitor cases
search`` prints them. Past cases are seeded through the ORM; the new complaint comes in
through the real pipeline from a Mastodon timeline on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli.cases import cases
from monitor.cli.commands import cli
from monitor.detect.clusters import JOIN
from monitor.detect.fingerprint import simhash, to_hex
from monitor.storage.models import MentionRow, MessageRow, PostRow, TicketPostRow, TicketRow
from monitor.tickets import cases as cases_module
from monitor.tickets.actions import resolve
from monitor.tickets.cases import search_cases, similar_cases
from tests.conftest import START, mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
LEAK = "艾克美保温杯用了三天就漏水，杯盖密封圈完全不行，水洒了一书包"
NOW = START


@dataclass
class Past:
    leak: int
    """Last week's leak: quality, near-duplicate title."""
    reposted: int
    """A near-copy of the complaint raised by volume before 漏水 was a crisis term: no category."""
    lid: int
    """Quality too, but another problem (a lid losing its colour)."""
    burn: int
    """Safety, dissimilar text: unrelated."""
    other_brand: int
    """The same leak text, for another brand."""


class Cases:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids = count(1)

    def resolved(self, title: str, categories: list[str], issue_key: str, *, opened: datetime, took: timedelta, resolution: str, posts: list[str], brand: str = "艾克美", mention: bool = True) -> int:
        ticket = TicketRow(
            brand=brand, issue_key=issue_key, open_key=None, title=title, status="resolved", severity="normal", categories=categories, reasons=["seeded"],
            opened_at=opened, due_at=opened + timedelta(hours=24), resolved_at=opened + took, resolution=resolution,
        )
        self.session.add(ticket)
        self.session.flush()
        for text in posts:
            n = next(self.ids)
            post = PostRow(platform="mastodon", platform_id=f"past-{n}", source="masto", url=f"https://127.0.0.1/@past/{n}", author="past", text=text, first_seen_at=opened, last_seen_at=opened)
            self.session.add(post)
            self.session.flush()
            if mention:
                self.session.add(MentionRow(post_id=post.id, brand=brand, categories=categories, terms={}, issue_key=issue_key, fingerprint=to_hex(simhash(text)), seen_at=opened))
            self.session.add(TicketPostRow(ticket_id=ticket.id, post_id=post.id, joined_at=opened))
        self.session.flush()
        return ticket.id


def seed_past(session: Session) -> Past:
    c = Cases(session)
    day = timedelta(days=1)
    past = Past(
        leak=c.resolved(
            "艾克美保温杯漏水，杯盖密封圈完全不行", ["quality"], "cat:quality", opened=NOW - 8 * day, took=timedelta(hours=26),
            resolution="更换新杯并致歉；密封圈批次漏水，已通知质量部召回", posts=["艾克美保温杯漏水了，杯盖密封圈完全不行，水洒了一书包！"],
        ),
        reposted=c.resolved(
            "保温杯批量投诉", [], "dup:0123456789abcdef", opened=NOW - 21 * day, took=timedelta(hours=5),
            resolution="统一回复并安排换货", posts=["转发：保温杯用了三天就漏水，杯盖密封圈完全不行，水洒了一书包 https://127.0.0.1/x"],
        ),
        lid=c.resolved(
            "艾克美杯盖颜色掉漆", ["quality"], "cat:quality", opened=NOW - 4 * day, took=timedelta(hours=20),
            resolution="补寄杯盖", posts=["艾克美的杯盖掉色了，质量问题"], mention=False,  # no stored fingerprint: hashed on the fly
        ),
        burn=c.resolved(
            "艾克美热水壶把手烫伤了孩子", ["safety"], "cat:safety", opened=NOW - 3 * day, took=timedelta(hours=2),
            resolution="赔偿医药费并上门致歉", posts=["艾克美热水壶的把手太烫，孩子手被烫伤了"],
        ),
        other_brand=c.resolved(
            "Beta bottle LEAKS 保温杯漏水，杯盖密封圈完全不行", ["quality"], "cat:quality", opened=NOW - 2 * day, took=timedelta(hours=3),
            resolution="refund", posts=["Beta保温杯漏水了，杯盖密封圈完全不行，水洒了一书包！"], brand="Beta",
        ),
    )
    session.commit()
    return past


@pytest.fixture
def app(tmp_path: Path, make_app, loopback):  # type: ignore[no-untyped-def]
    return make_app(write_config(tmp_path, mastodon_source(loopback.base)))


@pytest.fixture
def past(app) -> Past:  # type: ignore[no-untyped-def]
    with app.sessions() as session:
        return seed_past(session)


def new_leak_ticket(app, loopback) -> int:  # type: ignore[no-untyped-def]
    """The complaint arrives as a post; the pipeline opens its ticket."""
    loopback.json(TIMELINE, [status("1", LEAK)])
    app.poll("masto")
    with app.sessions() as session:
        [ticket_id] = session.scalars(select(TicketRow.id).where(TicketRow.status == "open", TicketRow.brand == "艾克美"))
        return ticket_id


def test_a_new_leak_complaint_links_last_weeks_leak_case_first(app, loopback, past: Past):
    ticket_id = new_leak_ticket(app, loopback)
    with app.sessions() as session:
        ticket = session.get(TicketRow, ticket_id)
        assert ticket.categories == ["quality"] and ticket.title == LEAK
        found = similar_cases(session, ticket)
    # near-copy text with the same category first, then near-copy text alone; never the lid
    # (the same category, another problem), the burn or Beta
    assert [c.ticket_id for c in found] == [past.leak, past.reposted]
    leak = found[0]
    assert leak.resolution == "更换新杯并致歉；密封圈批次漏水，已通知质量部召回"
    assert leak.took == timedelta(hours=26)
    assert leak.resolved_at == NOW - timedelta(days=8) + timedelta(hours=26)
    assert (leak.score, leak.near_duplicate, leak.categories) == (1.0, True, ("quality",))
    assert (found[1].score, found[1].near_duplicate) == (1.0, True)  # by its post (the title says nothing)
    assert leak.as_dict()["took_seconds"] == 26 * 3600
    json.dumps([c.as_dict() for c in found], ensure_ascii=False)


def test_limit_unrelated_cases_and_never_itself(app, loopback, past: Past):
    ticket_id = new_leak_ticket(app, loopback)
    with app.sessions() as session:
        ticket = session.get(TicketRow, ticket_id)
        assert [c.ticket_id for c in similar_cases(session, ticket, limit=1)] == [past.leak]
        assert similar_cases(session, ticket, limit=0) == []
        burn = session.get(TicketRow, past.burn)
        assert similar_cases(session, burn) == []  # no safety case before it, and no text like it
        leak = session.get(TicketRow, past.leak)
        # a resolved case asks too: not itself, not the open ticket, not another brand, not
        # the lid (a shared category alone); the reposted text is 22 SimHash bits from the
        # leak's post, beyond the prefilter issue grouping uses (20): what grouping would
        # keep apart is not offered as alike either
        assert similar_cases(session, leak) == []


def test_only_the_most_recently_resolved_candidates_are_read(app, loopback, past: Past, monkeypatch: pytest.MonkeyPatch):
    ticket_id = new_leak_ticket(app, loopback)
    monkeypatch.setattr(cases_module, "CANDIDATES", 3)  # the burn, the lid and the leak were resolved last
    with app.sessions() as session:
        assert [c.ticket_id for c in similar_cases(session, session.get(TicketRow, ticket_id))] == [past.leak]  # not the older reposted case


def complaint(app, loopback, clock, sid: str, text: str, resolution: str = "") -> int:  # type: ignore[no-untyped-def]
    """A complaint posted now goes through the real pipeline (words and crisis terms as
    grouping stores them); with ``resolution`` its ticket is resolved at once."""
    loopback.json(TIMELINE, [status(sid, text, created=clock.now)])
    app.poll("masto")
    app.dispatch()
    with app.sessions() as session:
        ticket_id = session.scalar(select(TicketRow.id).where(TicketRow.brand == "艾克美").order_by(TicketRow.id.desc()))
        assert ticket_id is not None
        if resolution:
            resolve(session, ticket_id, clock.now, "lead", resolution, follow_up=None)
            session.commit()
    return ticket_id


def alert_mail(app, ticket_id: int) -> str:  # type: ignore[no-untyped-def]
    app.dispatch()
    with app.sessions() as session:
        [body] = [m.body_text for m in session.scalars(select(MessageRow).where(MessageRow.route == "pr")) if m.ticket_ids == [ticket_id]]
    return body


def test_a_shared_crisis_category_alone_is_not_a_similar_case(app, loopback, clock):
    # the issue's case: a scalding thermos and a rice cooker on fire are both "safety", and
    # two different problems; the thermos case's resolution must not be offered for the fire
    thermos = complaint(app, loopback, clock, "1", "艾克美儿童保温杯漏热水，孩子的手被烫伤了，起了水泡", "赔偿医药费并上门致歉 paid the medical bill")
    clock.advance(days=7)
    fire = complaint(app, loopback, clock, "2", "艾克美电饭煲用了一个月底座突然起火，厨房熏黑了")
    with app.sessions() as session:
        ticket = session.get(TicketRow, fire)
        assert ticket.categories == ["safety"] == session.get(TicketRow, thermos).categories
        assert similar_cases(session, ticket) == []
        assert [e for e in ticket.events if e.kind == "similar_cases"] == []
    body = alert_mail(app, fire)
    assert "相似案例 similar past cases" not in body and "赔偿医药费" not in body


def test_a_reworded_complaint_of_the_same_category_is_alike_ranked_after_a_near_copy(app, loopback, clock):
    leak = complaint(app, loopback, clock, "1", "艾克美保温杯的盖子漏水，洒了一书包", "更换密封圈 replaced the seal")
    clock.advance(days=3)  # past the grouping window: each of these is an issue of its own
    lid = complaint(app, loopback, clock, "2", "艾克美杯盖颜色掉了，质量问题", "补寄杯盖 sent a new lid")
    clock.advance(days=3)
    reworded = complaint(app, loopback, clock, "3", "新买的艾克美保温杯盖子也漏水，书包都湿了", "换货 exchanged")
    clock.advance(days=3)
    new = complaint(app, loopback, clock, "4", "艾克美保温杯的盖子漏水了，洒了一书包！")
    with app.sessions() as session:
        found = similar_cases(session, session.get(TicketRow, new))
    # the near-copy first, then the same complaint reworded (what would have joined its
    # issue: same crisis term, most content words in common); never the lid, which only
    # shares the category "quality"
    assert [(c.ticket_id, c.near_duplicate) for c in found] == [(leak, True), (reworded, False)]
    assert found[0].score == 1.0 and JOIN <= found[1].score < 1.0
    assert lid not in [c.ticket_id for c in found]
    body = alert_mail(app, new)
    assert "更换密封圈" in body and "换货 exchanged" in body and "补寄杯盖" not in body


def test_search_by_resolution_title_and_posts(app, past: Past):
    with app.sessions() as session:
        leak = search_cases(session, "漏水")
        assert [c.ticket_id for c in leak] == [past.other_brand, past.leak, past.reposted]  # newest resolved first
        assert leak[1].matched == ("resolution", "title", "posts")
        assert (leak[1].resolution, leak[1].took, leak[1].brand) == ("更换新杯并致歉；密封圈批次漏水，已通知质量部召回", timedelta(hours=26), "艾克美")
        assert leak[2].matched == ("posts",)
        [recall] = search_cases(session, "召回")  # a word only the resolution note has
        assert (recall.ticket_id, recall.matched) == (past.leak, ("resolution",))
        [lid] = search_cases(session, "颜色")  # only in the title
        assert (lid.ticket_id, lid.matched) == (past.lid, ("title",))
        [beta] = search_cases(session, "leaks")  # case-insensitive
        assert beta.ticket_id == past.other_brand
        assert [c.ticket_id for c in search_cases(session, "漏水", brand="艾克美")] == [past.leak, past.reposted]
        assert [c.ticket_id for c in search_cases(session, "漏水", limit=1)] == [past.other_brand]
        assert search_cases(session, "不存在的词") == []
        assert search_cases(session, "%") == [] and search_cases(session, "_") == []  # literal, not wildcards
        with pytest.raises(ValueError, match="empty"):
            search_cases(session, "  ")


def test_search_skips_unresolved_tickets(app, loopback, past: Past):
    new_leak_ticket(app, loopback)  # open, with 漏水 in its title and post
    with app.sessions() as session:
        assert all(session.get(TicketRow, c.ticket_id).status == "resolved" for c in search_cases(session, "漏水"))
        assert len(search_cases(session, "用了三天")) == 1  # only the resolved reposted case's post


# -- the command ---------------------------------------------------------------------------


@pytest.fixture
def run() -> Iterator[Callable[..., tuple[int, str]]]:
    """``monitor -c CONFIG cases ARGS`` through the real ``monitor`` group; the command
    is added for this test only if cli.py does not register it (yet)."""
    added = cli.commands.get("cases") is None
    if added:
        cli.add_command(cases)

    def invoke(config: Path, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["-c", str(config), "cases", *args])
        return result.exit_code, result.output

    yield invoke
    if added:
        del cli.commands["cases"]


def test_cli_prints_cases_in_the_configured_zone(app, past: Past, tmp_path: Path, run):
    code, output = run(tmp_path / "config.toml", "search", "召回")
    assert code == 0, output
    assert '1 resolved case(s) mentioning "召回"' in output and "相关案例 1 个" in output
    # resolved 11-15 10:00 UTC = 18:00 in Shanghai, 26 hours after opening
    assert f"#{past.leak}  解决 resolved 2026-11-15 18:00  用时 took 1d 02h  艾克美: 艾克美保温杯漏水，杯盖密封圈完全不行" in output
    assert "处理结果 resolution: 更换新杯并致歉；密封圈批次漏水，已通知质量部召回" in output


def test_cli_json_and_limit(app, past: Past, tmp_path: Path, run):
    code, output = run(tmp_path / "config.toml", "search", "漏水", "--json", "--limit", "2")
    assert code == 0, output
    data = json.loads(output)
    assert [c["id"] for c in data] == [past.other_brand, past.leak]
    leak = data[1]
    assert leak["took_seconds"] == 26 * 3600 and leak["resolution"].startswith("更换新杯")
    assert datetime.fromisoformat(leak["resolved_at"]) == NOW - timedelta(days=8) + timedelta(hours=26)
    assert leak["matched"] == ["resolution", "title", "posts"] and leak["categories"] == ["quality"]


def test_cli_nothing_found_and_bad_input(app, past: Past, tmp_path: Path, run):
    config = tmp_path / "config.toml"
    code, output = run(config, "search", "不存在的词")
    assert (code, output) == (0, 'no resolved case mentions "不存在的词" / 没有相关案例\n')
    code, output = run(config, "search", "不存在的词", "--json")
    assert (code, json.loads(output)) == (0, [])
    code, output = run(config, "search", "  ")
    assert code == 2 and output == "monitor: the search text is empty / 搜索内容为空\n"
    code, output = run(config, "search", "x", "--limit", "0")
    assert code == 2 and "Traceback" not in output
