"""The digest report: exact numbers from a seeded database, hostile text escaped, the
chart a real PNG (data URI for a file, cid for an email), and the ``report`` command."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from monitor.cli.commands import cli
from monitor.cli.report import report
from monitor.durations import human_duration
from monitor.report import queries as report_module
from monitor.report.data import ReportData, SlaCounts
from monitor.report.queries import build_report
from monitor.report.render import cid, data_uri, make_report, render_report
from monitor.report.stats import sla_outcome
from monitor.storage.db import session_factory
from monitor.storage.models import MentionRow, PostRow, SnapshotRow, TicketPostRow, TicketRow
from tests.conftest import write_config

SH = ZoneInfo("Asia/Shanghai")  # the zone of BASE_CONFIG
HOSTILE = "<script>alert(1)</script>"
PNG = b"\x89PNG\r\n\x1a\n"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai, November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


SINCE, UNTIL = at(15, 0), at(22, 0)


@dataclass
class Seeded:
    config: Path
    session: Session


class Seeder:
    """Rows written straight through the ORM: the report reads only the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids = count(1)

    def ticket(
        self, brand: str, severity: str, categories: list[str], opened: datetime, sla: timedelta, *,
        ack: timedelta | None = None, resolve: timedelta | None = None, ack_at: datetime | None = None,
    ) -> TicketRow:
        acked_at = ack_at or (opened + ack if ack is not None else None)
        resolved_at = opened + resolve if resolve is not None else None
        status = "resolved" if resolved_at else "acknowledged" if acked_at else "open"
        row = TicketRow(
            brand=brand, issue_key=f"issue-{next(self.ids)}", open_key=None, title=f"{brand} {severity}", status=status, severity=severity,
            categories=categories, reasons=["seeded"], opened_at=opened, due_at=opened + sla, acked_at=acked_at, resolved_at=resolved_at,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def post(self, *, seen: datetime = SINCE, author: str = "someone", text: str = "艾克美 保温杯", url: str | None = None) -> PostRow:
        n = next(self.ids)
        row = PostRow(platform="mastodon", platform_id=str(n), source="masto", url=url or f"https://127.0.0.1/@someone/{n}", author=author, text=text, first_seen_at=seen, last_seen_at=seen)
        self.session.add(row)
        self.session.flush()
        return row

    def snapshot(self, post: PostRow, when: datetime, reposts: int | None, comments: int | None, likes: int | None) -> None:
        self.session.add(SnapshotRow(post_id=post.id, at=when, reposts=reposts, comments=comments, likes=likes))

    def link(self, ticket: TicketRow, post: PostRow) -> None:
        self.session.add(TicketPostRow(ticket_id=ticket.id, post_id=post.id, joined_at=ticket.opened_at))

    def mention(self, seen: datetime) -> None:
        post = self.post(seen=seen)
        self.session.add(MentionRow(post_id=post.id, brand="艾克美", categories=[], terms={}, issue_key="x", fingerprint="f", seen_at=seen))


def seed(session: Session) -> None:
    s = Seeder(session)
    hour = timedelta(hours=1)
    # in the period [11-15 00:00, 11-22 00:00) Shanghai time
    t1 = s.ticket("艾克美", "urgent", ["safety"], at(16, 10), hour, ack=timedelta(minutes=30), resolve=timedelta(hours=5))  # kept
    t2 = s.ticket("艾克美", "urgent", ["safety", "media"], at(17, 9), hour, ack=2 * hour, resolve=timedelta(hours=24))  # acked late: missed
    s.ticket("Beta", "urgent", ["media"], at(21, 23, 30), hour)  # due 00:30 after the period: pending
    t4 = s.ticket("艾克美", "important", ["quality"], at(18, 12), 12 * hour, resolve=6 * hour)  # resolved, never acked, in time: kept
    t5 = s.ticket("Beta", "important", [], at(19, 8), 12 * hour)  # never answered, due passed: missed, overdue
    t6 = s.ticket("艾克美", "normal", ["quality"], at(20, 15), 24 * hour, ack=timedelta(hours=1, minutes=5))  # kept, still unresolved
    s.ticket("Beta", "normal", ["quality"], at(21, 12), 24 * hour)  # pending
    s.ticket("艾克美", "normal", ["quality"], at(21, 20), 24 * hour, ack_at=at(22, 2))  # acked after the period: pending as of until
    system = s.ticket("monitor", "normal", ["source-health"], at(18, 3), 24 * hour)  # source health, not brand business
    # outside the period
    old = s.ticket("艾克美", "urgent", ["safety"], at(10, 9), hour)  # still open and overdue at until
    s.ticket("艾克美", "urgent", ["safety"], at(22, 10), hour)  # after until

    hostile = s.post(author=f'{HOSTILE}"Bob" & \'Eve\'', text=f'他说 "quoted" & \'single\'\n{HOSTILE}', url=f'https://127.0.0.1/p?a=1&b="{HOSTILE}"')
    s.snapshot(hostile, at(17, 9), None, None, 5)
    s.snapshot(hostile, at(17, 12), 100, 50, 1000)  # latest: 1150
    s.link(t2, hostile)
    dropped = s.post(text="dropped")
    s.snapshot(dropped, at(16, 11), 1000, 1000, 3000)  # 5000 once, but only 10 now
    s.snapshot(dropped, at(16, 20), 5, 5, None)
    s.link(t1, dropped)
    shared = s.post(text="in two tickets", url="javascript:alert(1)")
    s.snapshot(shared, at(16, 11), 100, 100, 300)  # 500
    s.link(t1, shared)
    s.link(t4, shared)
    bare = s.post(text="no snapshot")
    s.link(t5, bare)
    for likes in range(20, 29):  # 20..28
        filler = s.post(text=f"filler {likes}")
        s.snapshot(filler, at(20, 16), None, None, likes)
        s.link(t6, filler)
    for ticket, big in ((system, 99_999), (old, 88_888)):  # not the period's brand tickets
        post = s.post(text="not in the report")
        s.snapshot(post, at(18, 3), big, 0, 0)
        s.link(ticket, post)

    for seen in (at(14, 23, 59), at(15, 0), at(15, 23, 59), at(16, 0), at(17, 10), at(17, 11), at(17, 12), at(21, 23, 59), at(22, 0)):
        s.mention(seen)
    session.commit()


@pytest.fixture
def seeded(tmp_path: Path, make_app) -> Iterator[Seeded]:
    config = write_config(tmp_path)
    app = make_app(config)
    session = session_factory(app.engine)()
    seed(session)
    yield Seeded(config, session)
    session.close()


@pytest.fixture
def data(seeded: Seeded) -> ReportData:
    return build_report(seeded.session, SINCE, UNTIL, tz=SH)


def test_ticket_counts_sla_and_medians(data: ReportData):
    assert data.tickets_opened == 8
    assert [(s.severity, s.opened) for s in data.by_severity] == [("urgent", 3), ("important", 2), ("normal", 3)]
    assert data.by_brand == (("艾克美", 5), ("Beta", 3))
    assert data.by_category == (("quality", 4), ("media", 2), ("safety", 2))
    assert data.severity("urgent").sla == SlaCounts(kept=1, missed=1, pending=1)
    assert data.severity("important").sla == SlaCounts(kept=1, missed=1, pending=0)
    assert data.severity("normal").sla == SlaCounts(kept=1, missed=0, pending=2)
    assert data.overall.sla == SlaCounts(kept=3, missed=2, pending=3)

    urgent, important, normal = (data.severity(n).timing for n in ("urgent", "important", "normal"))
    assert (urgent.ack, urgent.resolve) == (timedelta(hours=1, minutes=15), timedelta(hours=14, minutes=30))
    assert (important.ack, important.resolve) == (None, timedelta(hours=6))
    assert (normal.ack, normal.resolve) == (timedelta(hours=1, minutes=5), None)  # the ack after until does not count yet
    assert (data.overall.timing.ack, data.overall.timing.resolve) == (timedelta(hours=1, minutes=5), timedelta(hours=6))
    assert (data.overall.timing.acked, data.overall.timing.resolved) == (3, 3)


def test_open_overdue_and_source_health(data: ReportData):
    assert data.open_at_until == 6  # the period's 5 unresolved plus an older one
    assert data.overdue_at_until == 2  # nobody acknowledged, due passed: #5 and the older one
    assert (data.source_health_opened, data.source_health_open) == (1, 1)
    assert "monitor" not in dict(data.by_brand) and "source-health" not in dict(data.by_category)


def test_daily_trend_is_bucketed_in_the_report_zone(data: ReportData):
    assert [d.day.day for d in data.days] == [15, 16, 17, 18, 19, 20, 21]
    assert [d.mentions for d in data.days] == [2, 1, 3, 0, 0, 0, 1]  # 00:00 and 23:59 Shanghai are the same day
    assert [d.tickets for d in data.days] == [0, 1, 1, 1, 1, 1, 3]
    assert data.mentions == 7


def test_mention_buckets_split_over_several_queries(seeded: Seeded, data: ReportData, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(report_module, "_CASE_CHUNK", 2)
    assert build_report(seeded.session, SINCE, UNTIL, tz=SH).days == data.days


def test_top_posts_use_latest_engagement(data: ReportData):
    top = data.top_posts
    assert [p.engagement for p in top] == [1150, 500, 28, 27, 26, 25, 24, 23, 22, 21]
    assert top[0].ticket_id == 2 and top[0].author.startswith(HOSTILE) and top[0].platform == "mastodon"
    assert "\n" not in top[0].text and top[0].text.endswith(HOSTILE)
    assert top[1].ticket_id == 1  # in tickets 1 and 4: shown once, under the first
    assert (top[0].reposts, top[0].comments, top[0].likes) == (100, 50, 1000)


def test_html_escapes_hostile_text_and_embeds_a_png(data: ReportData):
    rendered = render_report(data, tz=SH, image_src=data_uri)
    assert rendered.subject == "[周报 digest] 2026-11-15 – 2026-11-21: 8 tickets (3 urgent), SLA missed 2"
    html = rendered.html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="#"' in html and 'href="javascript' not in html
    assert "&#34;quoted&#34;" in html and "&amp;" in html
    [src] = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(src).startswith(PNG)
    for heading in ("工单 Tickets", "SLA 达成 SLA kept", "中位确认时长 Median time to acknowledge", "热门帖子 Top posts"):
        assert heading in html
    assert "1h 15m" in html and "14h 30m" in html and "1h 05m" in html


def test_text_version(data: ReportData):
    text = render_report(data, tz=SH, image_src=data_uri).text
    assert "8 tickets (3 urgent), SLA missed 2" in text
    assert re.search(r"urgent\s+3\s+1\s+1\s+1\s+1h 15m\s+14h 30m", text)
    assert "2026-11-17        3     1" in text
    assert HOSTILE in text  # plain text is not HTML: shown as written


def test_email_gets_a_cid_and_the_png_as_an_image(data: ReportData):
    asked: list[tuple[str, bytes]] = []

    def src(name: str, png: bytes) -> str:
        asked.append((name, png))
        return cid(name, png)

    rendered = render_report(data, tz=SH, image_src=src)
    [(name, png)] = asked
    assert f'src="cid:{name}"' in rendered.html and "data:image" not in rendered.html
    assert rendered.images[name] == png and png.startswith(PNG)


def test_make_report_and_bad_periods(seeded: Seeded):
    assert make_report(seeded.session, SINCE, UNTIL, SH).subject.endswith("SLA missed 2")
    with pytest.raises(ValueError, match="aware"):
        build_report(seeded.session, SINCE.replace(tzinfo=None), UNTIL)
    with pytest.raises(ValueError, match="empty"):
        build_report(seeded.session, UNTIL, UNTIL)


def test_empty_database_still_renders(tmp_path: Path, make_app):
    app = make_app(write_config(tmp_path))
    with session_factory(app.engine)() as session:
        rendered = make_report(session, SINCE, UNTIL, UTC)
    assert "0 tickets (0 urgent), SLA missed 0" in rendered.subject
    assert rendered.images["trend.png"].startswith(PNG)


def test_sla_outcome_and_durations():
    due, until = at(20, 12), at(22, 0)
    assert sla_outcome(due, due, None, until) == "kept"  # on the minute is kept
    assert sla_outcome(due, None, due + timedelta(seconds=1), until) == "missed"
    assert sla_outcome(until, None, None, until) == "pending"
    assert [human_duration(d) for d in (None, timedelta(seconds=45), timedelta(minutes=12), timedelta(minutes=65), timedelta(hours=51))] == ["–", "45s", "12m", "1h 05m", "2d 03h"]


@pytest.fixture
def run() -> Iterator[Callable[..., tuple[int, str]]]:
    """``monitor -c CONFIG report ARGS`` through the real ``monitor`` group; the command is
    added for this test only if cli.py does not register it (yet), so no other test sees it."""
    added = cli.commands.get("report") is None
    if added:
        cli.add_command(report)

    def invoke(config: Path, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["-c", str(config), "report", *args])
        return result.exit_code, result.output

    yield invoke
    if added:
        del cli.commands["report"]


def test_cli_writes_the_html_file(seeded: Seeded, tmp_path: Path, run):
    out = tmp_path / "digest.html"
    code, output = run(seeded.config, "--since", "7d", "--until", "2026-11-22T00:00:00+08:00", "--out", str(out))
    assert code == 0, output
    assert str(out) in output and "8 tickets (3 urgent)" in output
    html = out.read_text(encoding="utf-8")
    [src] = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(src).startswith(PNG)
    assert "<script" not in html.lower()


def test_cli_prints_text_and_reads_a_bare_until_in_the_configured_zone(seeded: Seeded, run):
    code, output = run(seeded.config, "--since", "7d", "--until", "2026-11-22")
    assert code == 0, output
    assert "2026-11-15 – 2026-11-21: 8 tickets (3 urgent), SLA missed 2" in output


@pytest.mark.parametrize(("args", "message"), [(("--since", "soon"), "monitor: --since:"), (("--until", "yesterday"), "monitor: --until:")])
def test_cli_bad_period_is_one_clear_line(seeded: Seeded, args: tuple[str, str], message: str, run):
    code, output = run(seeded.config, *args)
    assert code == 2
    assert len(output.strip().splitlines()) == 1 and output.startswith(message)
    assert "Traceback" not in output


# -- playbook numbers ----------------------------------------------------------------------


def seed_playbook(session: Session) -> None:
    """Steps, owners, reopenings and repeated issues on the tickets ``seed`` made (ids 1-11
    in the order they were added), plus one older case of the quality issue."""
    from monitor.storage.models import EventRow, StepRow

    t = {n: session.get(TicketRow, n) for n in range(1, 12)}
    minute = timedelta(minutes=1)

    def step(ticket: TicketRow, number: int, within: timedelta, done: datetime | None = None) -> None:
        session.add(StepRow(ticket_id=ticket.id, number=number, category="quality", text=f"step {number}", due_at=ticket.opened_at + within, done_at=done))

    hour = timedelta(hours=1)
    step(t[1], 1, hour, t[1].opened_at + 20 * minute)  # first step on time (20m)
    step(t[1], 2, 2 * hour, t[1].opened_at + 3 * hour)  # late
    step(t[2], 1, hour, t[2].opened_at + 2 * hour)  # first step late (2h)
    step(t[2], 2, 2 * hour)  # never done, and #2 was resolved: skipped
    step(t[4], 1, hour, t[4].opened_at + 40 * minute)  # on time (40m)
    step(t[6], 1, hour, at(22, 1))  # done only after until: overdue as of until
    step(t[6], 2, 33 * hour)  # due 11-22 00:00 = until, not done: still pending
    step(t[8], 1, hour, t[8].opened_at + hour)  # on the minute: on time (1h)
    step(t[9], 1, hour)  # source health: not brand business
    step(t[10], 1, hour)  # opened before the period
    step(t[11], 1, hour, t[11].opened_at + minute)  # opened after until

    # repeats: #1 and #2 share the safety issue of #10 (6 days earlier); #6 follows #4 on the
    # quality issue, whose older ticket (#12, 31 days before #4) is too old to make #4 a repeat
    for n in (1, 2, 10):
        t[n].issue_key = "cat:safety"
    t[3].issue_key = "cat:safety"  # Beta: another brand's issue, not a repeat
    for n in (4, 6):
        t[n].issue_key = "cat:quality"
    session.add(TicketRow(
        brand="艾克美", issue_key="cat:quality", title="旧案", status="resolved", severity="normal", categories=["quality"], reasons=[],
        opened_at=t[4].opened_at - timedelta(days=31), due_at=t[4].opened_at - timedelta(days=30), resolved_at=t[4].opened_at - timedelta(days=30),
    ))
    session.add(EventRow(ticket_id=t[2].id, at=at(17, 12), kind="reopened", detail="flared up"))  # also a repeat by issue
    session.add(EventRow(ticket_id=t[5].id, at=at(20, 8), kind="reopened", detail="flared up"))  # a repeat only by reopening
    t[7].reopens, t[7].reopened_at = 1, at(22, 3)  # reopened after until: not yet
    session.add(EventRow(ticket_id=t[7].id, at=at(22, 3), kind="reopened", detail="later"))

    # owners as of until: #6 went 李四 → 王五 and #8 nobody → 赵六 only after until
    t[1].owner = t[2].owner = "张三"
    t[4].owner = "李四"
    t[6].owner = "王五"
    session.add(EventRow(ticket_id=t[6].id, at=at(22, 5), kind="assigned", detail="李四 → 王五"))
    t[8].owner = "赵六"
    session.add(EventRow(ticket_id=t[8].id, at=at(22, 5), kind="assigned", detail="赵六"))
    t[7].owner = f"{HOSTILE}\nforged line"
    t[9].owner = "健康检查"  # source health: not counted
    session.commit()


@pytest.fixture
def playbook(seeded: Seeded) -> ReportData:
    seed_playbook(seeded.session)
    return build_report(seeded.session, SINCE, UNTIL, tz=SH)


def test_playbook_numbers(playbook: ReportData):
    p = playbook.playbook
    assert (p.with_steps, p.first_step_done, p.first_step_on_time) == (5, 4, 3)  # #6's first step was done after until
    assert p.first_response == timedelta(minutes=50)  # median of 20m, 40m, 1h, 2h
    assert (p.steps.on_time, p.steps.late, p.steps.overdue, p.steps.pending, p.steps.skipped) == (3, 2, 1, 1, 1)
    assert p.steps.total == 8
    assert (p.repeats, p.tickets, p.repeat_rate) == (4, 8, 0.5)  # #1, #2, #5, #6
    assert p.by_owner == (("张三", 2), ("李四", 2), (f"{HOSTILE} forged line", 1))
    assert p.unassigned == 3  # #3, #5 and #8 (assigned only after until)
    assert playbook.tickets_opened == 8  # the older case is outside the period


def test_playbook_numbers_are_as_of_until(seeded: Seeded):
    seed_playbook(seeded.session)
    later = build_report(seeded.session, SINCE, at(22, 6), tz=SH).playbook
    assert later.first_step_done == 5 and later.first_step_on_time == 3  # #6's first step, done late at 01:00
    assert (later.steps.on_time, later.steps.late, later.steps.overdue, later.steps.pending, later.steps.skipped) == (3, 3, 1, 0, 1)  # #6's 2nd step is due now
    assert later.repeats == 5  # #7's reopening now counts
    assert dict(later.by_owner)["王五"] == 1 and dict(later.by_owner)["赵六"] == 1
    assert later.unassigned == 2


def test_playbook_section_rendered_and_escaped(playbook: ReportData):
    rendered = render_report(playbook, tz=SH, image_src=data_uri)
    html, text = rendered.html, rendered.text
    assert "处置指标 Playbook numbers" in html and "处置指标 Playbook numbers" in text
    assert "<script" not in html.lower() and "&lt;script&gt;alert(1)&lt;/script&gt; forged line" in html
    assert "4 / 5 · 3 按时 on time" in html and "50m" in html and "4 / 8 (50%)" in html
    assert "按时 on time 3 · 超时完成 late 2 · " in html and "超期未完成 overdue 1</span>" in html
    assert "未指派 unassigned" in html
    assert "4 of 5 done, 3 by its deadline; median time to first step 50m" in text
    assert "on time 3 · late 2 · overdue 1 · pending 1 · skipped 1" in text
    assert "4 / 8 (50%)" in text
    assert "    张三: 2\n    李四: 2\n" in text and "    未指派 unassigned: 3" in text
    assert "\nforged line" not in text  # a line break in a name cannot forge a line


def test_playbook_numbers_without_steps_or_owners(data: ReportData):
    p = data.playbook
    assert (p.with_steps, p.first_response, p.steps.total) == (0, None, 0)
    assert (p.tickets, p.repeats, p.unassigned, p.by_owner) == (8, 0, 8, ())
    assert "median time to first step –" in render_report(data, tz=SH, image_src=data_uri).text


def test_playbook_numbers_of_an_empty_period(tmp_path: Path, make_app):
    app = make_app(write_config(tmp_path))
    with session_factory(app.engine)() as session:
        empty = build_report(session, SINCE, UNTIL, tz=SH)
    assert empty.playbook.repeat_rate is None and empty.playbook.tickets == 0
    assert "0 / 0 (–)" in render_report(empty, tz=SH, image_src=data_uri).text
