"""The tables of config.toml other than [alerts.*] and [[sources]]: keys, types, defaults, meaning.

``Field(description=...)`` is the one-line help ``docs/configuration-reference.md`` shows.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import time, timedelta
from email.utils import parseaddr
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, PlainValidator, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from alerts import Severity
from alerts.pacing import DAYS
from monitor.config.fields import (
    EMAIL,
    ClockTime,
    Delay,
    Duration,
    FilledTexts,
    Flag,
    Loc,
    Missing,
    Number,
    Problems,
    Section,
    SeverityName,
    Shown,
    Text,
    Texts,
    context,
    fail,
    per_severity,
    severity_of,
    text,
    texts,
    whole,
)
from monitor.config.objects import DEFAULT_REMIND, DEFAULT_SLA, FORECAST_RULES, MIN_SECRET, WEB_LANGUAGES
from monitor.detect.query import Query, QuerySyntaxError
from monitor.detect.query import parse as parse_query
from monitor.storage.db import make_url_safe, secret_parameters
from sources.post import AUTHOR_KINDS
from weburl import parse_web_url

# --- [monitor] -----------------------------------------------------------------------------


def _database(value: Any) -> str:
    database = text(value)
    try:
        url = make_url(database)
    except (ArgumentError, ValueError):
        raise fail(f"{make_url_safe(database)!r} is not a database URL (like sqlite:///monitor.db or postgresql+psycopg://host/db)") from None
    if url.password is not None:
        raise fail("secrets never go in the file: leave the password out of the URL and set PGPASSWORD in the environment")
    secret = secret_parameters(url)
    if secret:
        raise fail(f"secrets never go in the file: leave {', '.join(secret)} out of the URL's query and set PGPASSWORD in the environment / 密码不可写在配置文件中")
    if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:") or "mode=memory" in database):
        raise fail("an in-memory SQLite database is lost at exit and not shared between threads: name a file")
    return database


def _timezone(value: Any) -> str:
    name = text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder: IsADirectoryError
        raise fail(f"{name!r} is not a known time zone (like \"Asia/Shanghai\")") from None
    return name


class MonitorSection(Section):
    database: Annotated[str, PlainValidator(_database), Shown("database URL")] = Field(
        "sqlite:///monitor.db", description="SQLAlchemy URL; a relative SQLite path is relative to config.toml; postgresql+psycopg://… for several replicas (no password in it: PGPASSWORD)"
    )
    timezone: Annotated[str, PlainValidator(_timezone), Shown("time zone")] = Field("Asia/Shanghai", description="IANA time zone for working hours, digests and the times in messages")
    outbox: Text = Field("outbox", description="folder (relative to config.toml) where alert mail is written as .eml when there is no [alerts.email]")
    blind_after: Duration = Field(timedelta(hours=1), description="a source failing this long raises a ticket of its own: silence is not calm")
    keep: Duration = Field(timedelta(days=90), description="unmatched posts and the snapshots of posts outside tickets are deleted after this long")
    lease_grace: Duration = Field(timedelta(minutes=1), description="replicas: a source whose poll is this overdue (its replica died) is taken over")
    max_retry_after: Duration = Field(timedelta(hours=1), description="the longest a platform's Retry-After may keep a source from polling")


# --- [[brands]], [crisis.*], [scoring] -------------------------------------------------------


def _query(value: Any) -> Query:
    given = text(value)
    try:
        return parse_query(given)
    except QuerySyntaxError as exc:
        shown = given if len(given) <= 200 else given[:200] + "…"  # one readable line, whatever was pasted
        raise fail(f"{exc.message} at column {exc.column}: {shown}") from None


class BrandSection(Section):
    name: Text = Field(description="the brand's name, as tickets and messages show it; unique")
    keywords: Texts | None = Field(None, description="whole words that make a post a mention (Chinese segmented with jieba); required unless query is set")
    exclude: Texts = Field((), description="a post with one of these is not a mention (艾克美小区)")
    query: Annotated[Query | None, PlainValidator(_query), Shown("query")] = Field(
        None, description='boolean query (AND, OR, NOT, "phrases", NEAR/n) that decides what is a mention instead of keywords'
    )

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: ValidationInfo) -> list[tuple[Loc, str]]:
        if "query" in table:
            return []
        if "keywords" not in table:
            return [(("keywords",), "is required")]
        return [(("keywords",), "must not be empty")] if table["keywords"] == [] else []


class CategorySection(Section):
    severity: Annotated[SeverityName, Missing("is required (normal, important or urgent)")] = Field(
        description="the least severity a mention with one of these terms gets (normal, important, urgent)"
    )
    terms: FilledTexts = Field(description="crisis words of this category (烫伤, 过敏, recall, …)")


def _reach_kinds(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [k for k in value if k not in AUTHOR_KINDS]
    if unknown:
        raise fail(f"{', '.join(map(repr, unknown))}: not one of {', '.join(AUTHOR_KINDS)}")
    return value


def _forecast_rule(value: Any) -> str:
    rule = text(value)
    if rule not in FORECAST_RULES:
        raise fail(f"{rule!r} is not one of {', '.join(FORECAST_RULES)}")
    return rule


def _positive(minimum: int) -> Any:
    return PlainValidator(whole(minimum))


class ScoringSection(Section):
    velocity_window: Duration = Field(timedelta(minutes=30), description="engagement (reposts + comments + likes) gained within this window …")
    velocity_important: Annotated[int, _positive(1), Shown("whole number")] = Field(50, description="… at least this → important")
    velocity_urgent: Annotated[int, _positive(1), Shown("whole number")] = Field(100, description="… at least this → urgent (not below velocity_important)")
    volume_window: Duration = Field(timedelta(hours=24), description="mentions of the same issue within this window …")
    volume_important: Annotated[int, _positive(2), Shown("whole number")] = Field(5, description="… at least this many → important (a batch complaint)")
    track_for: Duration = Field(timedelta(hours=48), description="keep re-reading a matched post's engagement this long; a reload's new keywords look this far back")
    forecast_trigger: Flag = Field(
        True,
        description="warn (important) when the forecast's lower bound reaches velocity_urgent within velocity_window; a recent-pace warning stands only where its upper bound does (off: pace alone)",
    )
    forecast_confidence: Number = Field(0.8, description="… the forecast's interval holds this share of outcomes; its lower and upper bounds are what count (above 0, below 1)")
    forecast_chance: Number = Field(
        0.09,
        description="with forecast_rule = learned: warn when the chance of gaining velocity_urgent within velocity_window reaches this (above 0, below 1); lower warns earlier, and falsely more often",
    )
    forecast_rule: Annotated[str, PlainValidator(_forecast_rule), Shown(" | ".join(FORECAST_RULES))] = Field(
        "learned",
        description=(
            "how the forecast warns: learned, when the chance of gaining velocity_urgent within velocity_window (a model fitted on real cascades) reaches its cut; "
            "interval, when the forecast's lower bound reaches it"
        ),
    )
    storm_window: Duration = Field(timedelta(hours=1), description="a brand's mention count is compared over windows this long …")
    storm_baseline: Duration = Field(timedelta(days=14), description="… with its normal over this past (at least twice storm_window)")
    storm_sensitivity: Number = Field(4.0, description="how many spreads above its normal a brand's mention count must be to be a storm; 0 turns storms off")
    reach_followers: Annotated[int, _positive(0), Shown("whole number")] = Field(1_000_000, description="an author with at least this many followers posting a crisis term raises it one step; 0: off")
    reach_kinds: Annotated[Texts, AfterValidator(_reach_kinds)] = Field(
        ("media", "government"), description=f"verified kinds of author ({', '.join(AUTHOR_KINDS)}) whose crisis-term posts are raised one step"
    )
    hotlist_important: Annotated[int, _positive(0), Shown("whole number")] = Field(
        50, description="a brand mention on a hot list (kind = \"hotlist\") at this rank or higher (1 is the top) → at least important; 0: off"
    )
    hotlist_urgent: Annotated[int, _positive(0), Shown("whole number")] = Field(10, description="… at this rank or higher → urgent (not below hotlist_important's rank); 0: off")
    hotlist_climb_window: Duration = Field(
        timedelta(hours=1), description="a hot-list topic is said to be climbing fast (快速上升) when, against its reading when this window opened (its first within it if it was not listed then), …"
    )
    hotlist_climb_ranks: Annotated[int, _positive(0), Shown("whole number")] = Field(25, description="… it rose at least this many places; 0: off")
    hotlist_heat_growth: Annotated[int, _positive(0), Shown("whole number")] = Field(
        200, description="… or its heat grew at least this many percent (200: to three times); 0: off. Said in the reason, not a severity of its own"
    )

    @model_validator(mode="after")
    def _in_order(self) -> ScoringSection:
        problems = Problems()
        if self.storm_baseline < 2 * self.storm_window:
            problems.add(("storm_baseline",), "must be at least twice storm_window")
        if not 0 < self.forecast_confidence < 1:
            problems.add(("forecast_confidence",), f"{self.forecast_confidence} is not between 0 and 1")
        if not 0 < self.forecast_chance < 1:
            problems.add(("forecast_chance",), f"{self.forecast_chance} is not between 0 and 1")
        if self.hotlist_urgent > self.hotlist_important > 0:
            problems.add(("hotlist_urgent",), f"rank {self.hotlist_urgent} is lower on the list than hotlist_important ({self.hotlist_important})")
        if self.velocity_urgent < self.velocity_important:
            problems.add(("velocity_urgent",), f"{self.velocity_urgent} is below velocity_important ({self.velocity_important})")
        problems.raise_any()
        return self


# --- [tickets], [playbooks.*], [[owners]], [people] ---------------------------------------------


def _days(value: Any) -> tuple[str, ...]:
    days = texts(value)
    problems = Problems()
    for j, day in enumerate(days):
        if day not in DAYS:
            problems.add((j,), f"{day!r} is not a day ({', '.join(DAYS)})", day)
    problems.raise_any()
    return days


def _waiting_severities(value: Any) -> frozenset[Severity]:
    problems = Problems()
    found = set()
    for j, name in enumerate(texts(value)):
        try:
            severity = severity_of(name)
        except PydanticCustomError as exc:
            problems.add((j,), exc.message(), name)
            continue
        if severity is Severity.urgent:
            problems.add((j,), "urgent never waits for working hours", name)
        found.add(severity)
    problems.raise_any()
    return frozenset(found)


class WorkingHoursSection(Section):
    start: ClockTime = Field(time(9, 0), description="local time (\"09:00\") when the working day starts")
    end: ClockTime = Field(time(18, 0), description="local time when it ends (after start)")
    days: Annotated[tuple[str, ...], PlainValidator(_days), Shown("list of days")] = Field(DAYS[:5], description=f"working days ({', '.join(DAYS)})")
    severities: Annotated[frozenset[Severity], PlainValidator(_waiting_severities), Shown("list of severities")] = Field(
        frozenset({Severity.normal}), description="tickets of these severities wait for working hours before they are sent (never urgent)"
    )

    @model_validator(mode="after")
    def _end_after_start(self) -> WorkingHoursSection:
        if self.end <= self.start:
            problems = Problems()
            problems.add(("end",), "must be after start")
            problems.raise_any()
        return self


class TicketsSection(Section):
    sla: Annotated[dict[Severity, timedelta], PlainValidator(per_severity(DEFAULT_SLA, table_only=True)), Shown("table of severity = duration")] = Field(
        DEFAULT_SLA, description="how soon a ticket of each severity must be answered (urgent 1h, important 12h, normal 24h); keys left out keep theirs"
    )
    remind_after: Annotated[dict[Severity, timedelta], PlainValidator(per_severity(DEFAULT_REMIND, table_only=True, replace=True)), Shown("table of severity = duration")] = (
        Field(DEFAULT_REMIND, description="an unresolved ticket of these severities reminds its owner and the lead after this long (replaces the default normal = 48h)")
    )
    reopen_within: Delay = Field(timedelta(hours=24), description="a new post on an issue resolved this recently reopens its ticket (\"0s\": never)")
    working_hours: WorkingHoursSection | None = Field(None, description="a table: when people are at work (see [tickets.working_hours])")
    follow_up: Delay = Field(timedelta(hours=24), description="after resolving, look again this much later: did the case flare up? (\"0s\": never)")


def _steps_given(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise fail("is required: at least one step")
    return value


class StepSection(Section):
    within: Duration = Field(description="deadline, counted from the ticket's opening")
    do: Text = Field(description="what to do")


class PlaybookSection(Section):
    steps: Annotated[tuple[StepSection, ...], AfterValidator(_steps_given), Missing("is required: at least one step")] = Field(
        description="an array of tables: what to do, in order, each with its deadline"
    )
    dont: Texts = Field((), description="the classic mistakes to avoid")

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: ValidationInfo) -> list[tuple[Loc, str]]:
        steps = table.get("steps")
        given = isinstance(steps, list) and steps and all(isinstance(step, dict) for step in steps)
        return [] if given else [(("steps",), "is required: at least one step")]


def playbook_names(value: Any, info: ValidationInfo) -> list[tuple[Loc, str]]:
    """Each [playbooks.<name>] names a crisis category, or is ``default``."""
    categories = context(info, "categories") or set()
    return [
        ((name,), f"{name!r} is not a [crisis.*] category (or \"default\")")
        for name, table in (value.items() if isinstance(value, dict) else ())
        if isinstance(table, dict) and name not in categories and name != "default"
    ]


def _known(context_key: str, what: str) -> Any:
    def check(value: Any, info: ValidationInfo) -> str:
        name = text(value)
        if name not in (context(info, context_key) or set()):
            raise fail(f"{name!r} is not {what}")
        return name

    return PlainValidator(check)


class OwnerSection(Section):
    team: Text = Field(description="the team that owns these tickets")
    person: Text = Field(description="the person that owns them (a [people] name gets reminders by mail)")
    category: Annotated[str | None, _known("categories", "a [crisis.*] category"), Shown("category")] = Field(None, description="only tickets whose primary category is this")
    brand: Annotated[str | None, _known("brands", "a [[brands]] name"), Shown("brand")] = Field(None, description="only tickets of this brand")
    platform: Text | None = Field(None, description="only tickets whose first post came from this platform (a source kind)")


def owners_default(value: Any, info: ValidationInfo) -> list[tuple[Loc, str]]:
    """Some rule has no filter, so no ticket goes to nobody (a filter with a problem still counts as one)."""
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        return []  # not an array of tables: that is the problem to fix first
    rules: list[dict[str, Any]] = value

    def filtered(rule: dict[str, Any]) -> bool:
        return any(isinstance(rule.get(k), str) and rule[k].strip() for k in ("category", "brand", "platform"))

    if rules and all(filtered(r) for r in rules):
        return [((), "no default owner: add a rule with only team and person, so no ticket goes to nobody")]
    return []


def person_address(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(parseaddr(value)[1]):
        raise fail(f"{value!r} is not an email address")
    return value


# --- [metrics], [web] ------------------------------------------------------------------------------


def host_port(example: str) -> Any:
    def check(value: Any) -> tuple[str, int]:
        given = text(value)
        host, _, port = given.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise fail(f"{given!r} is not host:port (like \"{example}\")")
        return host.strip("[]"), int(port)

    return PlainValidator(check)


class MetricsSection(Section):
    listen: Annotated[tuple[str, int], host_port("127.0.0.1:9108"), Shown("host:port")] = Field(description="where Prometheus metrics are served (/metrics)")


def check_base_url(value: Any) -> str:
    base_url = text(value).rstrip("/")
    parts = parse_web_url(base_url)
    if parts is None or parts.path or "?" in base_url or "#" in base_url or "@" in parts.netloc:
        raise fail(f"{base_url!r} is not an http(s) address without a path (like \"https://monitor.example.com\"; serve the console at the root of its host)")
    return f"{parts.scheme}://{parts.netloc}"  # "HTTPS://" too marks the session cookie Secure


def _web_secret_env(value: Any) -> str:
    name = text(value)
    secret = os.environ.get(name, "")
    if secret and len(secret.encode("utf-8")) < MIN_SECRET:
        raise fail(
            f"{name} holds fewer than {MIN_SECRET} bytes: anyone with one mailed link could guess it"
            " (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return name


def _proxies(value: Any) -> tuple[str, ...]:
    proxies = texts(value)
    problems = Problems()
    for proxy in proxies:
        try:
            if proxy != "*":
                ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.add((), f"{proxy!r} is not an IP address or network", proxy)
    problems.raise_any()
    return proxies


def _language(value: Any) -> str:
    language = text(value)
    if language not in WEB_LANGUAGES:
        raise fail(f"{language!r} is not one of {', '.join(WEB_LANGUAGES)}")
    return language


class WebSection(Section):
    listen: Annotated[tuple[str, int], host_port("127.0.0.1:8080"), Shown("host:port")] = Field(description="where `monitor run` serves the console")
    base_url: Annotated[str | None, PlainValidator(check_base_url), Shown("URL")] = Field(
        None, description="what links in mail point at (default: http://<listen>); behind a reverse proxy, its public https address, no path"
    )
    secret_env: Annotated[str, PlainValidator(_web_secret_env), Shown("environment variable name")] = Field(
        "MONITOR_WEB_SECRET",
        validate_default=True,  # the default variable's value is checked too
        description="environment variable holding the key (32+ bytes) that signs sessions and one-click links",
    )
    language: Annotated[str, PlainValidator(_language), Shown("auto | zh | en")] = Field("auto", description="the console's language; auto follows the browser")
    link_ttl: Duration = Field(timedelta(hours=72), description="how long a one-click link in mail stays valid")
    session_ttl: Duration = Field(timedelta(hours=12), description="how long a console sign-in lasts")
    trusted_proxies: Annotated[tuple[str, ...], PlainValidator(_proxies), Shown("list of IP networks")] = Field(
        ("127.0.0.1",), description="whose X-Forwarded-For is believed (the client address the sign-in throttle counts); \"*\": any"
    )

    @model_validator(mode="after")
    def _default_base_url(self) -> WebSection:
        """Without base_url, links point at the console's own address (0.0.0.0 shown as 127.0.0.1)."""
        if self.base_url is not None:
            return self
        host, port = self.listen
        shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
        try:
            return self.model_copy(update={"base_url": check_base_url(f"http://{shown}:{port}")})
        except PydanticCustomError as exc:
            problems = Problems()
            problems.add(("base_url",), exc.message())
            problems.raise_any()
            raise
