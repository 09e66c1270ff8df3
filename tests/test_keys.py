"""Issue keys and idempotency keys (``monitor.keys``): each format is pinned to the exact
string existing databases hold, and what is built reads back as the parts it was built from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.keys import (
    IdempotencyKey,
    IssueKey,
    IssueKind,
    KeyForm,
    blind_issue,
    category_issue,
    category_of,
    category_prefix,
    chat_key,
    digest_key,
    dup_issue,
    escalation_key,
    group_message_key,
    history_issue,
    hotlist_issue,
    issue_digest,
    late_key,
    news_key,
    one_complaint,
    open_key,
    owner_key,
    parse_issue_key,
    parse_key,
    parse_open_key,
    recipient_key,
    recipient_parent,
    repeat_key,
    storm_issue,
    ticket_group,
)
from monitor.storage.states import DemandStatus, MessageStatus, NoticeStatus, TicketStatus

AT = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


# -- the stored formats, string for string ---------------------------------------------


def test_issue_key_formats_are_the_stored_ones() -> None:
    assert category_issue("safety", "weibo", "123") == "cat:safety:" + issue_digest("weibo", "123")
    assert issue_digest("weibo", "123") == "34ca64dd92"  # blake2b-40 of "weibo\0123": replays depend on it
    assert category_issue("x" * 200, "p", "1").startswith("cat:" + "x" * 150 + ":")
    assert category_prefix("safety") == "cat:safety"
    assert dup_issue("00ff00ff00ff00ff") == "dup:00ff00ff00ff00ff"
    assert blind_issue("weibo-hot") == "blind:weibo-hot"
    assert storm_issue("all") == "storm:all"
    assert hotlist_issue() == "hot:lists"
    assert history_issue(7) == "history:7"
    assert open_key("艾克美", "cat:safety:34ca64dd92") == "艾克美|cat:safety:34ca64dd92"


def test_idempotency_key_formats_are_the_stored_ones() -> None:
    assert news_key(12, "opened", "urgent", "pr") == "ticket-12-opened-urgent-pr"
    assert news_key(12, "raised", "important", "pr-team", reopens=2) == "ticket-12-raised-important-pr-team-r2"
    assert news_key(3, "step_overdue", "normal", "ops", step=2) == "ticket-3-step_overdue-normal-ops-step2"
    assert news_key(3, "step_overdue", "normal", "ops", 1, 2) == "ticket-3-step_overdue-normal-ops-r1-step2"
    assert owner_key(4, "reopened", "owner:bob", 0) == "ticket-4-reopened-owner:bob-r0"
    assert owner_key(4, "step_overdue", "owner:bob", 1, step=3) == "ticket-4-step_overdue-owner:bob-r1-step3"
    assert late_key(5, "pr", 0, None) == "ticket-5-late-pr-r0-new"
    assert late_key(5, "pr", 1, AT) == "ticket-5-late-pr-r1-2026-03-14T09:26:53.589793+00:00"
    assert repeat_key(6, "pr", AT.replace(microsecond=0)) == "ticket-6-repeat-pr-2026-03-14T09:26:53+00:00"
    assert escalation_key(7, "pr", 2) == "ticket-7-escalate-pr-2"
    assert escalation_key(7, "pr", 2, reopens=1) == "ticket-7-escalate-pr-2-r1"
    assert group_message_key("pr", 41) == "group-pr-41"
    assert digest_key(datetime(2026, 3, 14, 9, 0, tzinfo=timezone(timedelta(hours=8)))) == "digest-20260314-0900"
    assert chat_key("ticket-12-opened-urgent-pr", "dingtalk") == "ticket-12-opened-urgent-pr:chat:dingtalk"
    assert recipient_key("group-pr-41", "a@example.com") == "group-pr-41:rcpt:a@example.com"
    long = recipient_key("k" * 280, "someone@example.com")
    assert long.startswith("rcpt-") and len(long) == 5 + 64
    assert ticket_group(9) == "ticket-9"


def test_states_are_the_stored_strings() -> None:
    assert [str(s) for s in TicketStatus] == ["open", "acknowledged", "resolved"]
    assert [str(s) for s in DemandStatus] == ["open", "done"]
    assert [str(s) for s in NoticeStatus] == ["pending", "sent", "silenced", "superseded", "dropped"]
    assert [str(s) for s in MessageStatus] == ["queued", "sending", "sent", "failed"]
    for enum in (TicketStatus, DemandStatus, NoticeStatus, MessageStatus):
        for member in enum:
            assert member.name == member.value == f"{member}" == f"{member:<3}".strip()


# -- reading keys back -------------------------------------------------------------------


def test_existing_keys_parse() -> None:
    assert category_of("cat:quality") == "quality"  # from before issues were clustered
    assert category_of("cat:a:b:1a2b3c4d5e") == "a:b"  # a category may hold a colon
    assert category_of("dup:00ff") is None
    assert parse_issue_key("cat:quality") == IssueKey(IssueKind.cat, "quality")
    assert [one_complaint(k) for k in ("dup:00ff", "cat:x:1a", "cat:x", "storm:all", "quality:1")] == [True, True, False, False, False]
    with pytest.raises(ValueError):
        parse_issue_key("quality:1")
    assert parse_key("ticket-12-raised-important-pr-team-r2:chat:wecom") == IdempotencyKey(
        KeyForm.news, 12, "raised", "important", "pr-team", 2, chat="wecom"
    )
    assert parse_key("ticket-5-late-pr-r0-new") == IdempotencyKey(KeyForm.late, 5, "late", route="pr")
    assert recipient_parent("group-pr-41:rcpt:a@example.com") == ("group-pr-41", "a@example.com")
    assert recipient_parent("group-pr-41") is None
    for bad in ("ticket-x-opened-urgent-pr", "rcpt-" + "0" * 64, "digest-2026", "hello"):
        with pytest.raises(ValueError):
            parse_key(bad)


# route and receiver names as a config holds them: not ending in what reads as a reopening
# or a step (``-r2``, ``-step3``), which building never confuses but parsing cannot tell
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: ":chat:" not in s and ":rcpt:" not in s and not s.startswith("owner:")
    and not any(s.rstrip("0123456789").endswith(end) and s[-1].isdigit() for end in ("-r", "-step"))
)
receivers = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), min_size=1, max_size=20))
addresses = st.builds("{}@{}.example".format, st.text("abc.+_-1", min_size=1, max_size=10), st.text("xyz-", min_size=1, max_size=10))
kinds = st.sampled_from(["opened", "raised", "reopened", "reminder", "step_overdue"])
severities = st.sampled_from(["normal", "important", "urgent"])
ids = st.integers(0, 10**12)
steps = st.one_of(st.none(), st.integers(0, 99))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@st.composite
def idempotency_keys(draw: st.DrawFn) -> IdempotencyKey:
    form = draw(st.sampled_from(list(KeyForm)))
    route, chat = draw(names), draw(receivers)
    rcpt = None if chat is not None else draw(st.one_of(st.none(), addresses))
    match form:
        case KeyForm.news:
            key = IdempotencyKey(form, draw(ids), draw(kinds), draw(severities), route, draw(st.integers(0, 9)), draw(steps))
        case KeyForm.owner:
            key = IdempotencyKey(form, draw(ids), draw(kinds), route="owner:" + route, reopens=draw(st.integers(0, 9)), step=draw(steps))
        case KeyForm.late:
            key = IdempotencyKey(form, draw(ids), "late", route=route, reopens=draw(st.integers(0, 9)), at=draw(st.one_of(st.none(), times)))
        case KeyForm.repeat:
            key = IdempotencyKey(form, draw(ids), "repeat", route=route, at=draw(times))
        case KeyForm.escalate:
            key = IdempotencyKey(form, draw(ids), "escalate", route=route, reopens=draw(st.integers(0, 9)), step=draw(st.integers(1, 9)))
        case KeyForm.group:
            key = IdempotencyKey(form, route=route, notice_id=draw(ids))
        case KeyForm.digest:
            key = IdempotencyKey(form, at=draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))).replace(second=0, microsecond=0))
    return replace(key, chat=chat, rcpt=rcpt)


@given(idempotency_keys())
def test_idempotency_keys_round_trip(key: IdempotencyKey) -> None:
    assert parse_key(str(key)) == key
    assert str(parse_key(str(key))) == str(key)


any_route = st.text(min_size=1).filter(lambda s: ":chat:" not in s and ":rcpt:" not in s and not s.startswith("owner:"))


@given(ids, kinds, severities, any_route, st.integers(0, 9), steps)
def test_any_built_key_reads_back_to_itself(ticket: int, kind: str, severity: str, route: str, reopens: int, step: int | None) -> None:
    """Whatever the route is called (even ``x-r2``), a key read back builds the very same key."""
    for built in (news_key(ticket, kind, severity, route, reopens, step), escalation_key(ticket, route, 1, reopens), group_message_key(route, ticket)):
        assert str(parse_key(built)) == built


@given(st.sampled_from([IssueKind.dup, IssueKind.blind, IssueKind.storm, IssueKind.history]), st.text().filter(lambda s: not s.startswith(":")))
def test_issue_keys_round_trip(kind: IssueKind, subject: str) -> None:
    if kind == IssueKind.dup:  # a dup: key with a colon in it is still one subject
        assert parse_issue_key(dup_issue(subject)) == IssueKey(kind, subject)
    key = str(IssueKey(kind, subject))
    assert parse_issue_key(key) == IssueKey(kind, subject)


@given(st.text(max_size=160), st.text(), st.text())
def test_category_issue_round_trips(category: str, platform: str, platform_id: str) -> None:
    parsed = parse_issue_key(category_issue(category, platform, platform_id))
    assert parsed == IssueKey(IssueKind.cat, category[:150], issue_digest(platform, platform_id))
    assert category_of(category_issue(category, platform, platform_id)) == category[:150]


@given(st.text().filter(lambda s: "|" not in s), st.text())
def test_open_key_round_trips(brand: str, issue: str) -> None:
    assert parse_open_key(open_key(brand, issue)) == (brand, issue)
