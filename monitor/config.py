"""config.toml → typed, validated objects.

Every problem is reported at once, one line each, naming the key with 0-based indexes
(``sources[1].every: "soon" is not a duration``), so ``monitor check`` can print them all
and a reload that fails validation can be logged while the old config stays in force.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from alerts import Route, Severity
from alerts.chat import CHAT_KINDS
from alerts.pacing import DAYS, WorkingHours
from alerts.ratelimit import RateLimit
from alerts.routing import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, GROUP_BY_FIELDS, EscalationStep
from monitor.detect.query import Query, QuerySyntaxError
from monitor.detect.query import parse as parse_query
from monitor.durations import parse_duration
from monitor.errors import MonitorError
from monitor.storage.db import make_url_safe, secret_parameters
from sources import Source, validate_options
from sources.post import AUTHOR_KINDS
from weburl import is_web_url, parse_web_url

EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class ConfigError(MonitorError):
    """One or more problems; ``problems`` holds one line per problem, key first.
    ``unreadable`` is set when the file itself could not be read or parsed as TOML."""

    def __init__(self, problems: list[str], *, unreadable: bool = False) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.unreadable = unreadable


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    database: str
    timezone: ZoneInfo
    outbox: Path
    blind_after: timedelta = timedelta(hours=1)
    """A source failing this long raises a ticket of its own: silence is not calm."""
    keep: timedelta = timedelta(days=90)
    """Unmatched posts and the engagement snapshots of posts outside tickets live this long."""
    lease_grace: timedelta = timedelta(minutes=1)
    """Replicas: a source whose poll is this overdue (its replica died) is taken over."""
    max_retry_after: timedelta = timedelta(hours=1)
    """The longest a platform's Retry-After may keep a source from polling."""


@dataclass(frozen=True, slots=True)
class BrandConfig:
    name: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    query: Query | None = None
    """A boolean query (AND, OR, NOT, "phrases", NEAR/n): when set, it decides what is a
    mention of the brand, and ``keywords`` may be left out."""


@dataclass(frozen=True, slots=True)
class CategoryConfig:
    name: str
    severity: Severity
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    velocity_window: timedelta = timedelta(minutes=30)
    velocity_important: int = 50
    velocity_urgent: int = 100
    volume_window: timedelta = timedelta(hours=24)
    volume_important: int = 5
    track_for: timedelta = timedelta(hours=48)
    storm_window: timedelta = timedelta(hours=1)
    storm_baseline: timedelta = timedelta(days=14)
    storm_sensitivity: float = 4.0
    """How many spreads above its normal a brand's mention count must be to be a storm; 0 turns storms off."""
    reach_followers: int = 1_000_000
    """An author with at least this many followers posting a crisis term raises it one step; 0: off."""
    reach_kinds: tuple[str, ...] = ("media", "government")
    """Verified kinds of author (``sources.AUTHOR_KINDS``) whose crisis-term posts are raised one step."""


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    kind: str
    every: timedelta
    settings: Mapping[str, Any]
    headers_env: Mapping[str, str] = field(default_factory=dict)
    """Header name → environment variable holding its value (a token, a cookie)."""
    params_env: Mapping[str, str] = field(default_factory=dict)
    """Query parameter → environment variable holding its value (an RSSHub ``key``)."""

    def secrets(self) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, params) read from the environment now; never logged or stored."""
        return {k: os.environ.get(v, "") for k, v in self.headers_env.items()}, {k: os.environ.get(v, "") for k, v in self.params_env.items()}


@dataclass(frozen=True, slots=True)
class EmailConfig:
    host: str
    sender: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout: timedelta = timedelta(seconds=30)
    rate: RateLimit | None = None

    def password(self) -> str | None:
        """Read at send time from the environment; never stored in the file or logged."""
        return os.environ.get(self.password_env) if self.password_env else None


DEFAULT_SLA = {Severity.urgent: timedelta(hours=1), Severity.important: timedelta(hours=12), Severity.normal: timedelta(hours=24)}
DEFAULT_REMIND = {Severity.normal: timedelta(hours=48)}


@dataclass(frozen=True, slots=True)
class TicketConfig:
    sla: Mapping[Severity, timedelta] = field(default_factory=lambda: dict(DEFAULT_SLA))
    remind_after: Mapping[Severity, timedelta] = field(default_factory=lambda: dict(DEFAULT_REMIND))
    reopen_within: timedelta = timedelta(hours=24)
    """A new post on an issue resolved this recently reopens its ticket ("0s": never)."""
    working_hours: WorkingHours | None = None
    follow_up: timedelta = timedelta(hours=24)
    """After resolving, look again this much later: did the case flare up? ("0s": never)"""


@dataclass(frozen=True, slots=True)
class PlaybookStep:
    within: timedelta
    """Deadline, counted from the ticket's opening."""
    do: str


@dataclass(frozen=True, slots=True)
class Playbook:
    """What to do for a crisis category, in order, and the classic mistakes to avoid."""

    category: str
    steps: tuple[PlaybookStep, ...]
    dont: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerRule:
    """A row of the responsibility matrix: tickets whose primary category is this one
    (brand, platform) go to this team and person. A rule with no filter is the default."""

    team: str
    person: str
    category: str | None = None
    brand: str | None = None
    platform: str | None = None

    def matches(self, categories: Sequence[str], brand: str, platform: str | None) -> bool:
        return (
            (self.category is None or self.category in categories)
            and (self.brand is None or self.brand == brand)
            and (self.platform is None or self.platform == platform)
        )


@dataclass(frozen=True, slots=True)
class DigestConfig:
    to: tuple[str, ...] = ()
    chat: tuple[str, ...] = ()
    every: timedelta = timedelta(days=1)
    """Whole days: 1d is a daily digest, 7d a weekly one (sent on Mondays)."""
    at: time = time(9, 0)
    """Local time (``[monitor].timezone``) the digest goes out."""


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """A chat receiver. Its URL usually carries an access token, so it may come from the
    environment (``url_env``) like every other secret."""

    name: str
    kind: str
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    rate: RateLimit | None = None
    timeout: timedelta = timedelta(seconds=10)

    def resolved_url(self) -> str:
        return self.url or os.environ.get(self.url_env or "", "")

    def secret(self) -> str | None:
        return os.environ.get(self.secret_env) if self.secret_env else None


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    host: str
    port: int


WEB_LANGUAGES = ("auto", "zh", "en")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MIN_SECRET = 32


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The console ``monitor run`` serves, and the links alert mail carries to it."""

    host: str
    port: int
    base_url: str
    """What links in mail point at: behind a reverse proxy, its public https address."""
    secret_env: str = "MONITOR_WEB_SECRET"
    language: str = "auto"
    link_ttl: timedelta = timedelta(hours=72)
    session_ttl: timedelta = timedelta(hours=12)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    """Whose X-Forwarded-For is believed (the client address the sign-in throttle counts)."""

    def secret(self) -> str | None:
        """Signs sessions and one-click links; read from the environment, never the file."""
        return os.environ.get(self.secret_env) or None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    monitor: MonitorSettings
    brands: tuple[BrandConfig, ...]
    crisis: tuple[CategoryConfig, ...]
    scoring: ScoringConfig
    sources: tuple[SourceConfig, ...]
    email: EmailConfig | None
    routes: tuple[Route, ...]
    tickets: TicketConfig
    metrics: MetricsConfig | None = None
    chat: Mapping[str, ChatConfig] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)
    """Person → email address: owners get their reminders and reopenings directly."""
    digest: DigestConfig | None = None
    playbooks: Mapping[str, Playbook] = field(default_factory=dict)
    """By crisis category; ``default`` for tickets with no category that has one."""
    owners: tuple[OwnerRule, ...] = ()
    web: WebConfig | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def category(self, name: str) -> CategoryConfig | None:
        return next((c for c in self.crisis if c.name == name), None)

    def warnings(self) -> list[str]:
        """Valid, but probably not what the user wants."""
        found = []
        if not self.sources:
            found.append("sources: none configured: nothing is polled")
        if not self.routes:
            found.append("alerts.routes: none configured: tickets are raised but nobody is told")
        for i, route in enumerate(self.routes):
            if route.categories is not None and not route.categories:
                found.append(f"alerts.routes[{i}].categories: empty: this route never matches")
        if self.web is not None and self.web.host not in LOOPBACK and urlsplit(self.web.base_url).hostname in LOOPBACK:
            found.append(f"web.base_url: {self.web.base_url} only works on this machine: links in mail will not open elsewhere (set base_url)")
        if self.email is not None and self.email.username and not self.email.starttls and not self.email.ssl:
            found.append(
                f"alerts.email.starttls: false with username {self.email.username!r} and ssl = false: the password and every alert"
                f" cross the network unencrypted to {self.email.host}:{self.email.port} (set starttls = true, or ssl = true for"
                " implicit TLS on port 465) / 未加密：SMTP 密码以明文发送"
            )
        if self.web is not None and not self.web.secret():
            found.append(
                f"web: {self.web.secret_env} is not set: sign-ins and the links in alert mail stop working at every restart"
                " and differ between replicas / 未设置密钥：重启后登录与邮件链接失效"
            )
        return found


def load_config(path: str | os.PathLike[str], kinds: Mapping[str, type[Source]]) -> Config:
    """Read and validate; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (create it, or pass -c PATH)"], unreadable=True) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"], unreadable=True) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: TOML syntax error: {exc}"], unreadable=True) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"], unreadable=True) from None
    return parse_config(raw, path.resolve(), kinds)


def parse_config(raw: Mapping[str, Any], path: Path, kinds: Mapping[str, type[Source]]) -> Config:
    c = _Checker()
    c.unknown(raw, "", {"monitor", "brands", "crisis", "scoring", "sources", "alerts", "tickets", "metrics", "people", "playbooks", "owners", "web"})
    monitor = _monitor(c, c.table(raw, "monitor"), path)
    brands = _brands(c, raw.get("brands", []))
    crisis = _crisis(c, c.table(raw, "crisis"))
    scoring = _scoring(c, c.table(raw, "scoring"))
    sources = _sources(c, raw.get("sources", []), kinds)
    alerts = c.table(raw, "alerts")
    c.unknown(alerts, "alerts", {"email", "routes", "chat", "digest"})
    email = _email(c, alerts["email"]) if "email" in alerts and c.is_table(alerts["email"], "alerts.email") else None
    chat = _chat(c, c.table(alerts, "chat"))
    routes = _routes(c, alerts.get("routes", []), {cat.name for cat in crisis}, set(chat), {b.name for b in brands})
    tickets = _tickets(c, c.table(raw, "tickets"))
    metrics = _metrics(c, c.table(raw, "metrics")) if "metrics" in raw else None
    web = _web(c, c.table(raw, "web")) if "web" in raw else None
    people = _people(c, c.table(raw, "people"))
    digest = _digest(c, c.table(alerts, "digest"), set(chat)) if "digest" in alerts else None
    category_names = {cat.name for cat in crisis}
    playbooks = _playbooks(c, c.table(raw, "playbooks"), category_names)
    owners = _owners(c, raw.get("owners", []), category_names, {b.name for b in brands})
    if c.problems:
        raise ConfigError(c.problems)
    return Config(path, monitor, brands, crisis, scoring, sources, email, routes, tickets, metrics, chat, people, digest, playbooks, owners, web)


class _Checker:
    """Collects problems instead of stopping at the first, so a user fixes them in one go."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def unknown(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{prefix}.{key}" if prefix else key
                self.add(full, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def is_table(self, value: Any, key: str) -> bool:
        if not isinstance(value, dict):
            self.add(key, "must be a table")
            return False
        return True

    def table(self, raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = raw.get(key, {})
        return value if self.is_table(value, key) else {}

    def array_of_tables(self, value: Any, key: str) -> list[Mapping[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.add(key, f"must be an array of tables ([[{key}]])")
            return []
        return value

    def string(self, table: Mapping[str, Any], key: str, full: str, *, default: str | None = None) -> str | None:
        if key not in table:
            if default is None:
                self.add(full, "is required")
            return default
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.add(full, f"{value!r} is not a non-empty string")
            return default
        return value.strip()

    def strings(self, table: Mapping[str, Any], key: str, full: str, *, required: bool) -> tuple[str, ...]:
        if key not in table:
            if required:
                self.add(full, "is required")
            return ()
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.add(full, f"{value!r} is not a list of non-empty strings")
            return ()
        if required and not value:
            self.add(full, "must not be empty")
        return tuple(dict.fromkeys(v.strip() for v in value))

    def integer(self, table: Mapping[str, Any], key: str, full: str, default: int, minimum: int = 0) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(full, f"{value!r} is not a whole number")
            return default
        if value < minimum:
            self.add(full, f"{value} is below the minimum {minimum}")
            return default
        return value

    def boolean(self, table: Mapping[str, Any], key: str, full: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.add(full, f"{value!r} is not true or false")
            return default
        return value

    def duration(self, table: Mapping[str, Any], key: str, full: str, default: timedelta | None, *, allow_zero: bool = False) -> timedelta:
        if key not in table:
            if default is None:
                self.add(full, "is required")
                return timedelta(minutes=5)
            return default
        try:
            return parse_duration(table[key], allow_zero=allow_zero)
        except ValueError as exc:
            self.add(full, str(exc))
            return default or timedelta(minutes=5)

    def severity(self, value: Any, full: str, default: Severity = Severity.normal) -> Severity:
        try:
            return Severity.parse(value)
        except (ValueError, TypeError):
            self.add(full, f"{value!r} is not a severity (normal, important, urgent)")
            return default

    def unique(self, names: list[str], key: str, what: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                self.add(f"{key}[{i}].name", f"{what} {name!r} is defined twice")
            seen.add(name)


def _monitor(c: _Checker, raw: Mapping[str, Any], path: Path) -> MonitorSettings:
    c.unknown(raw, "monitor", {"database", "timezone", "outbox", "blind_after", "keep", "lease_grace", "max_retry_after"})
    database = c.string(raw, "database", "monitor.database", default="sqlite:///monitor.db") or "sqlite:///monitor.db"
    _check_database(c, database)
    tz_name = c.string(raw, "timezone", "monitor.timezone", default="Asia/Shanghai") or "Asia/Shanghai"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder: IsADirectoryError
        c.add("monitor.timezone", f"{tz_name!r} is not a known time zone (like \"Asia/Shanghai\")")
        tz = ZoneInfo("UTC")
    outbox = Path(c.string(raw, "outbox", "monitor.outbox", default="outbox") or "outbox")
    blind_after = c.duration(raw, "blind_after", "monitor.blind_after", timedelta(hours=1))
    keep = c.duration(raw, "keep", "monitor.keep", timedelta(days=90))
    lease_grace = c.duration(raw, "lease_grace", "monitor.lease_grace", timedelta(minutes=1))
    max_retry_after = c.duration(raw, "max_retry_after", "monitor.max_retry_after", timedelta(hours=1))
    return MonitorSettings(
        resolve_database(database, path.parent), tz, outbox if outbox.is_absolute() else path.parent / outbox, blind_after, keep, lease_grace, max_retry_after
    )


def _check_database(c: _Checker, database: str) -> None:
    try:
        url = make_url(database)
    except (ArgumentError, ValueError):
        c.add("monitor.database", f"{make_url_safe(database)!r} is not a database URL (like sqlite:///monitor.db or postgresql+psycopg://host/db)")
        return
    if url.password is not None:
        c.add("monitor.database", "secrets never go in the file: leave the password out of the URL and set PGPASSWORD in the environment")
    secret = secret_parameters(url)
    if secret:
        c.add("monitor.database", f"secrets never go in the file: leave {', '.join(secret)} out of the URL's query and set PGPASSWORD in the environment / 密码不可写在配置文件中")
    if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:") or "mode=memory" in database):
        c.add("monitor.database", "an in-memory SQLite database is lost at exit and not shared between threads: name a file")


def resolve_database(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix):]
        if rest and not rest.startswith("/") and not rest.startswith(":memory:"):
            return prefix + str((base / rest).resolve())
    return url


def _brands(c: _Checker, raw: Any) -> tuple[BrandConfig, ...]:
    if raw == []:  # missing or empty: the daemon would poll and store, and never alert
        c.add("brands", "none configured: add a [[brands]] table with the brand's name and keywords, or no post is ever a mention / 未配置品牌")
        return ()
    brands = []
    for i, table in enumerate(c.array_of_tables(raw, "brands")):
        key = f"brands[{i}]"
        c.unknown(table, key, {"name", "keywords", "exclude", "query"})
        name = c.string(table, "name", f"{key}.name") or f"brand{i}"
        query = None
        if "query" in table:
            text = c.string(table, "query", f"{key}.query") or ""
            try:
                query = parse_query(text) if text else None
            except QuerySyntaxError as exc:
                shown = text if len(text) <= 200 else text[:200] + "…"  # one readable line, whatever was pasted
                c.add(f"{key}.query", f"{exc.message} at column {exc.column}: {shown}")
        keywords = c.strings(table, "keywords", f"{key}.keywords", required="query" not in table)
        exclude = c.strings(table, "exclude", f"{key}.exclude", required=False)
        brands.append(BrandConfig(name, keywords, exclude, query))
    c.unique([b.name for b in brands], "brands", "brand")
    return tuple(brands)


def _crisis(c: _Checker, raw: Mapping[str, Any]) -> tuple[CategoryConfig, ...]:
    categories = []
    for name, table in raw.items():
        key = f"crisis.{name}"
        if not c.is_table(table, key):
            continue
        c.unknown(table, key, {"severity", "terms"})
        severity = c.severity(table.get("severity"), f"{key}.severity") if "severity" in table else Severity.normal
        if "severity" not in table:
            c.add(f"{key}.severity", "is required (normal, important or urgent)")
        terms = c.strings(table, "terms", f"{key}.terms", required=True)
        categories.append(CategoryConfig(name, severity, terms))
    return tuple(categories)


def _scoring(c: _Checker, raw: Mapping[str, Any]) -> ScoringConfig:
    d = ScoringConfig()
    c.unknown(raw, "scoring", set(ScoringConfig.__slots__))
    s = ScoringConfig(
        velocity_window=c.duration(raw, "velocity_window", "scoring.velocity_window", d.velocity_window),
        velocity_important=c.integer(raw, "velocity_important", "scoring.velocity_important", d.velocity_important, 1),
        velocity_urgent=c.integer(raw, "velocity_urgent", "scoring.velocity_urgent", d.velocity_urgent, 1),
        volume_window=c.duration(raw, "volume_window", "scoring.volume_window", d.volume_window),
        volume_important=c.integer(raw, "volume_important", "scoring.volume_important", d.volume_important, 2),
        track_for=c.duration(raw, "track_for", "scoring.track_for", d.track_for),
        storm_window=c.duration(raw, "storm_window", "scoring.storm_window", d.storm_window),
        storm_baseline=c.duration(raw, "storm_baseline", "scoring.storm_baseline", d.storm_baseline),
        storm_sensitivity=_number(c, raw, "storm_sensitivity", "scoring.storm_sensitivity", d.storm_sensitivity),
        reach_followers=c.integer(raw, "reach_followers", "scoring.reach_followers", d.reach_followers),
        reach_kinds=c.strings(raw, "reach_kinds", "scoring.reach_kinds", required=False) if "reach_kinds" in raw else d.reach_kinds,
    )
    unknown_kinds = [k for k in s.reach_kinds if k not in AUTHOR_KINDS]
    if unknown_kinds:
        c.add("scoring.reach_kinds", f"{', '.join(map(repr, unknown_kinds))}: not one of {', '.join(AUTHOR_KINDS)}")
    if s.storm_baseline < 2 * s.storm_window:
        c.add("scoring.storm_baseline", "must be at least twice storm_window")
    if s.velocity_urgent < s.velocity_important:
        c.add("scoring.velocity_urgent", f"{s.velocity_urgent} is below velocity_important ({s.velocity_important})")
    return s


def _number(c: _Checker, raw: Mapping[str, Any], key: str, full: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        c.add(full, f"{value!r} is not a number of 0 or more")
        return default
    return float(value)


COMMON_SOURCE_KEYS = {"name", "kind", "every", "headers_env", "params_env"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.~-]{1,100}$")


def _secret_table(c: _Checker, table: Mapping[str, Any], key: str, full: str, what: str, name_ok: re.Pattern[str]) -> dict[str, str]:
    """``{name = "ENV_VAR"}``: each value the name of a set environment variable."""
    raw = table.get(key, {})
    if not isinstance(raw, Mapping):
        c.add(full, f"must be a table of {what} = \"ENVIRONMENT_VARIABLE\" (secrets never go in the file)")
        return {}
    found: dict[str, str] = {}
    for name, env in raw.items():
        if not name_ok.match(str(name)):
            c.add(f"{full}.{name}", f"{str(name)[:60]!r} is not a {what}")
        elif not isinstance(env, str) or not _ENV_NAME.match(env):
            c.add(f"{full}.{name}", "must name an environment variable (like \"ACME_API_TOKEN\"), not hold the secret itself")
        elif env not in os.environ:
            c.add(f"{full}.{name}", f"environment variable {env} is not set")
        elif not (os.environ[env].isascii() and os.environ[env].isprintable()):
            c.add(f"{full}.{name}", f"environment variable {env} holds a line break, a control or a non-ASCII character (its value is not shown)")
        else:
            found[str(name)] = env
    return found


def _sources(c: _Checker, raw: Any, kinds: Mapping[str, type[Source]]) -> tuple[SourceConfig, ...]:
    sources = []
    for i, table in enumerate(c.array_of_tables(raw, "sources")):
        key = f"sources[{i}]"
        name = c.string(table, "name", f"{key}.name") or f"source{i}"
        kind = c.string(table, "kind", f"{key}.kind")
        every = c.duration(table, "every", f"{key}.every", timedelta(minutes=5))
        if every < timedelta(seconds=1):
            c.add(f"{key}.every", "must be at least 1s")
        if kind is None:
            continue
        cls = kinds.get(kind)
        if cls is None:
            c.add(f"{key}.kind", f"{kind!r} is not an installed source kind (installed: {', '.join(sorted(kinds)) or 'none'})")
            continue
        options = {k: v for k, v in table.items() if k not in COMMON_SOURCE_KEYS}
        settings, problems = validate_options(cls.options, options)
        if not problems:
            problems = cls.check(settings)
        for option, message in problems:
            c.add(f"{key}.{option}", message)
        headers_env = _secret_table(c, table, "headers_env", f"{key}.headers_env", "header name", _HEADER_NAME)
        params_env = _secret_table(c, table, "params_env", f"{key}.params_env", "query parameter name", _PARAM_NAME)
        sources.append(SourceConfig(name, kind, every, settings, headers_env, params_env))
    c.unique([s.name for s in sources], "sources", "source")
    return tuple(sources)


def _email(c: _Checker, raw: Mapping[str, Any]) -> EmailConfig:
    key = "alerts.email"
    # "password" is known only to be refused with its reason below
    c.unknown(raw, key, {"host", "port", "starttls", "ssl", "username", "password", "password_env", "from", "timeout", "rate"})
    host = c.string(raw, "host", f"{key}.host") or "localhost"
    sender = c.string(raw, "from", f"{key}.from") or "monitor@localhost"
    if not EMAIL.match(parseaddr(sender)[1]):
        c.add(f"{key}.from", f"{sender!r} is not an email address")
    port = c.integer(raw, "port", f"{key}.port", 587, 1)
    if port > 65535:
        c.add(f"{key}.port", f"{port} is not a TCP port")
    username = c.string(raw, "username", f"{key}.username", default="") or None
    password_env = c.string(raw, "password_env", f"{key}.password_env", default="") or None
    if "password" in raw:
        c.add(f"{key}.password", "secrets never go in the file: set password_env to the name of an environment variable")
    if password_env and password_env not in os.environ:
        c.add(f"{key}.password_env", f"environment variable {password_env} is not set")
    if username and not password_env:
        c.add(f"{key}.password_env", "is required when username is set")
    return EmailConfig(
        host=host,
        sender=sender,
        port=port,
        starttls=c.boolean(raw, "starttls", f"{key}.starttls", True),
        ssl=c.boolean(raw, "ssl", f"{key}.ssl", False),
        username=username,
        password_env=password_env,
        timeout=c.duration(raw, "timeout", f"{key}.timeout", timedelta(seconds=30)),
        rate=_rate(c, raw, f"{key}.rate"),
    )


def _rate(c: _Checker, raw: Mapping[str, Any], key: str) -> RateLimit | None:
    value = c.string(raw, "rate", key, default="")
    if not value:
        return None
    try:
        return RateLimit.parse(value)
    except ValueError as exc:
        c.add(key, str(exc))
        return None


def _addresses(c: _Checker, raw: Mapping[str, Any], key: str, *, required: bool) -> tuple[str, ...]:
    to = c.strings(raw, "to", f"{key}.to", required=required)
    for j, address in enumerate(to):
        if not EMAIL.match(parseaddr(address)[1]):
            c.add(f"{key}.to[{j}]", f"{address!r} is not an email address")
    return to


def _chat_names(c: _Checker, raw: Mapping[str, Any], key: str, known: set[str]) -> tuple[str, ...]:
    names = c.strings(raw, "chat", f"{key}.chat", required=False)
    for j, name in enumerate(names):
        if name not in known:
            c.add(f"{key}.chat[{j}]", f"{name!r} is not an [alerts.chat.*] receiver")
    return names


def _chat(c: _Checker, raw: Mapping[str, Any]) -> dict[str, ChatConfig]:
    found = {}
    for name, table in raw.items():
        key = f"alerts.chat.{name}"
        if not c.is_table(table, key):
            continue
        c.unknown(table, key, {"kind", "url", "url_env", "secret_env", "rate", "timeout"})
        kind = c.string(table, "kind", f"{key}.kind") or "webhook"
        if kind not in CHAT_KINDS:
            c.add(f"{key}.kind", f"{kind!r} is not a chat kind ({', '.join(sorted(CHAT_KINDS))})")
        url = c.string(table, "url", f"{key}.url", default="") or None
        url_env = c.string(table, "url_env", f"{key}.url_env", default="") or None
        if (url is None) == (url_env is None):
            c.add(key, "set exactly one of url or url_env (url_env when the URL holds an access token)")
        elif url is not None and not is_web_url(url):
            c.add(f"{key}.url", f"{url!r} is not an http(s) URL with a host (like \"https://oapi.dingtalk.com/robot/send?access_token=…\")")
        elif url_env is not None and not os.environ.get(url_env):
            c.add(f"{key}.url_env", f"environment variable {url_env} is not set")
        elif url_env is not None and not is_web_url(os.environ[url_env]):  # its value is a secret: not shown
            c.add(f"{key}.url_env", f"environment variable {url_env} does not hold an http(s) URL with a host")
        secret_env = c.string(table, "secret_env", f"{key}.secret_env", default="") or None
        if secret_env is not None and secret_env not in os.environ:
            c.add(f"{key}.secret_env", f"environment variable {secret_env} is not set")
        found[name] = ChatConfig(
            name=name, kind=kind, url=url, url_env=url_env, secret_env=secret_env,
            rate=_rate(c, table, f"{key}.rate"), timeout=c.duration(table, "timeout", f"{key}.timeout", timedelta(seconds=10)),
        )
    return found


def _per_severity(c: _Checker, raw: Mapping[str, Any], name: str, key: str, default: Mapping[Severity, timedelta]) -> dict[Severity, timedelta]:
    """A duration for every severity, or a table of them (``{ urgent = "0s", normal = "5m" }``)."""
    if name not in raw:
        return dict(default)
    value = raw[name]
    if not isinstance(value, dict):
        one = c.duration(raw, name, f"{key}.{name}", None, allow_zero=True)
        return {sev: one for sev in Severity}
    result = dict(default)
    for sev_name in value:
        if sev_name not in Severity.__members__:
            c.add(f"{key}.{name}.{sev_name}", "unknown key (expected one of: important, normal, urgent)")
            continue
        result[Severity[sev_name]] = c.duration(value, sev_name, f"{key}.{name}.{sev_name}", None, allow_zero=True)
    return result


def _routes(c: _Checker, raw: Any, categories: set[str], chat: set[str], brands: set[str]) -> tuple[Route, ...]:
    routes = []
    allowed = {"name", "to", "chat", "min_severity", "categories", "brands", "continue", "group_by", "group_wait", "group_interval", "repeat_interval", "escalate_to"}
    for i, table in enumerate(c.array_of_tables(raw, "alerts.routes")):
        key = f"alerts.routes[{i}]"
        c.unknown(table, key, allowed)
        name = c.string(table, "name", f"{key}.name") or f"route{i}"
        to = _addresses(c, table, key, required=False)
        chat_names = _chat_names(c, table, key, chat)
        if not to and not chat_names:
            c.add(f"{key}.to", "is required (email addresses), unless the route has chat receivers")
        severity = c.severity(table["min_severity"], f"{key}.min_severity") if "min_severity" in table else Severity.normal
        cats = c.strings(table, "categories", f"{key}.categories", required=False) if "categories" in table else None
        for j, cat in enumerate(cats or ()):
            if cat not in categories:
                c.add(f"{key}.categories[{j}]", f"{cat!r} is not a [crisis.*] category")
        route_brands = c.strings(table, "brands", f"{key}.brands", required=False) if "brands" in table else None
        for j, brand in enumerate(route_brands or ()):
            if brand not in brands:
                c.add(f"{key}.brands[{j}]", f"{brand!r} is not a [[brands]] name")
        group_by = c.strings(table, "group_by", f"{key}.group_by", required=False) if "group_by" in table else ("brand",)
        for j, field_name in enumerate(group_by):
            if field_name not in GROUP_BY_FIELDS:
                c.add(f"{key}.group_by[{j}]", f"{field_name!r} cannot be grouped by (expected: {', '.join(GROUP_BY_FIELDS)})")
        repeat = _per_severity(c, table, "repeat_interval", key, DEFAULT_REPEAT_INTERVAL)
        if any(not value for value in repeat.values()):
            c.add(f"{key}.repeat_interval", "must be longer than zero")
        routes.append(
            Route(
                name=name,
                to=to,
                min_severity=severity,
                categories=frozenset(cats) if cats is not None else None,
                brands=frozenset(route_brands) if route_brands is not None else None,
                chat=chat_names,
                continue_=c.boolean(table, "continue", f"{key}.continue", True),
                group_by=group_by,
                group_wait=_per_severity(c, table, "group_wait", key, DEFAULT_GROUP_WAIT),
                group_interval=c.duration(table, "group_interval", f"{key}.group_interval", DEFAULT_GROUP_INTERVAL),
                repeat_interval=repeat,
                escalate_to=_escalation(c, table.get("escalate_to", []), f"{key}.escalate_to", chat),
            )
        )
    c.unique([r.name for r in routes], "alerts.routes", "route")
    return tuple(routes)


def _escalation(c: _Checker, raw: Any, key: str, chat: set[str]) -> tuple[EscalationStep, ...]:
    steps = []
    for i, table in enumerate(c.array_of_tables(raw, key)):
        step_key = f"{key}[{i}]"
        c.unknown(table, step_key, {"after", "to", "chat"})
        to = _addresses(c, table, step_key, required=False)
        names = _chat_names(c, table, step_key, chat)
        if not to and not names:
            c.add(f"{step_key}.to", "is required (who is told), unless the step has chat receivers")
        steps.append(EscalationStep(c.duration(table, "after", f"{step_key}.after", timedelta(0), allow_zero=True), to, names))
    for i in range(1, len(steps)):
        if steps[i].after < steps[i - 1].after:
            c.add(f"{key}[{i}].after", "steps must be in order of their after times")
    return tuple(steps)


def _clock_time(c: _Checker, raw: Mapping[str, Any], name: str, key: str, default: time) -> time:
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        c.add(f"{key}.{name}", f"{value!r} is not a time of day (like \"09:00\")")
        return default


def _working_hours(c: _Checker, raw: Mapping[str, Any]) -> WorkingHours:
    key = "tickets.working_hours"
    c.unknown(raw, key, {"start", "end", "days", "severities"})
    start = _clock_time(c, raw, "start", key, time(9, 0))
    end = _clock_time(c, raw, "end", key, time(18, 0))
    if end <= start:
        c.add(f"{key}.end", "must be after start")
    days = c.strings(raw, "days", f"{key}.days", required=False) if "days" in raw else DAYS[:5]
    for j, day in enumerate(days):
        if day not in DAYS:
            c.add(f"{key}.days[{j}]", f"{day!r} is not a day ({', '.join(DAYS)})")
    severities = set()
    for j, sev_name in enumerate(c.strings(raw, "severities", f"{key}.severities", required=False) if "severities" in raw else ("normal",)):
        sev = c.severity(sev_name, f"{key}.severities[{j}]")
        if sev is Severity.urgent:
            c.add(f"{key}.severities[{j}]", "urgent never waits for working hours")
        severities.add(sev)
    return WorkingHours(start, end, frozenset(DAYS.index(d) for d in days if d in DAYS), frozenset(severities))


def _tickets(c: _Checker, raw: Mapping[str, Any]) -> TicketConfig:
    c.unknown(raw, "tickets", {"sla", "remind_after", "reopen_within", "working_hours", "follow_up"})
    sla = dict(DEFAULT_SLA)
    remind: dict[Severity, timedelta] = dict(DEFAULT_REMIND)
    for name, target, replace in (("sla", sla, False), ("remind_after", remind, True)):
        table = c.table(raw, name) if name in raw else None
        if table is None:
            continue
        if replace:
            target.clear()
        for sev_name in table:
            key = f"tickets.{name}.{sev_name}"
            if sev_name not in Severity.__members__:
                c.add(key, "unknown key (expected one of: important, normal, urgent)")
                continue
            target[Severity[sev_name]] = c.duration(table, sev_name, key, None)
    hours = _working_hours(c, c.table(raw, "working_hours")) if "working_hours" in raw else None
    reopen_within = c.duration(raw, "reopen_within", "tickets.reopen_within", timedelta(hours=24), allow_zero=True)
    follow_up = c.duration(raw, "follow_up", "tickets.follow_up", timedelta(hours=24), allow_zero=True)
    return TicketConfig(sla, remind, reopen_within, hours, follow_up)


def _digest(c: _Checker, raw: Mapping[str, Any], chat: set[str]) -> DigestConfig:
    key = "alerts.digest"
    c.unknown(raw, key, {"to", "chat", "every", "at"})
    to = _addresses(c, raw, key, required=False)
    names = _chat_names(c, raw, key, chat)
    if not to and not names:
        c.add(f"{key}.to", "is required (who gets the digest), unless it has chat receivers")
    every = c.duration(raw, "every", f"{key}.every", timedelta(days=1))
    if every.total_seconds() % 86400:
        c.add(f"{key}.every", "must be whole days (\"1d\" daily, \"7d\" weekly)")
    return DigestConfig(to, names, every, _clock_time(c, raw, "at", key, time(9, 0)))


def _playbooks(c: _Checker, raw: Mapping[str, Any], categories: set[str]) -> dict[str, Playbook]:
    found = {}
    for name, table in raw.items():
        key = f"playbooks.{name}"
        if not c.is_table(table, key):
            continue
        if name not in categories and name != "default":
            c.add(key, f"{name!r} is not a [crisis.*] category (or \"default\")")
        c.unknown(table, key, {"steps", "dont"})
        steps = []
        for i, step in enumerate(c.array_of_tables(table.get("steps", []), f"{key}.steps")):
            step_key = f"{key}.steps[{i}]"
            c.unknown(step, step_key, {"within", "do"})
            within = c.duration(step, "within", f"{step_key}.within", None)
            do = c.string(step, "do", f"{step_key}.do") or ""
            steps.append(PlaybookStep(within, do))
        if not steps:
            c.add(f"{key}.steps", "is required: at least one step")
        found[name] = Playbook(name, tuple(steps), c.strings(table, "dont", f"{key}.dont", required=False))
    return found


def _owners(c: _Checker, raw: Any, categories: set[str], brands: set[str]) -> tuple[OwnerRule, ...]:
    rules = []
    for i, table in enumerate(c.array_of_tables(raw, "owners")):
        key = f"owners[{i}]"
        c.unknown(table, key, {"category", "brand", "platform", "team", "person"})
        category = c.string(table, "category", f"{key}.category", default="") or None
        if category is not None and category not in categories:
            c.add(f"{key}.category", f"{category!r} is not a [crisis.*] category")
        brand = c.string(table, "brand", f"{key}.brand", default="") or None
        if brand is not None and brand not in brands:
            c.add(f"{key}.brand", f"{brand!r} is not a [[brands]] name")
        rules.append(
            OwnerRule(
                team=c.string(table, "team", f"{key}.team") or "",
                person=c.string(table, "person", f"{key}.person") or "",
                category=category,
                brand=brand,
                platform=c.string(table, "platform", f"{key}.platform", default="") or None,
            )
        )
    if rules and not any(r.category is None and r.brand is None and r.platform is None for r in rules):
        c.add("owners", "no default owner: add a rule with only team and person, so no ticket goes to nobody")
    return tuple(rules)


def _people(c: _Checker, raw: Mapping[str, Any]) -> dict[str, str]:
    people = {}
    for name, address in raw.items():
        if not isinstance(address, str) or not EMAIL.match(parseaddr(address)[1]):
            c.add(f"people.{name}", f"{address!r} is not an email address")
            continue
        people[name] = address
    return people


def _listen(c: _Checker, listen: str, key: str, example: str) -> tuple[str, int] | None:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        c.add(key, f"{listen!r} is not host:port (like \"{example}\")")
        return None
    return host.strip("[]"), int(port)


def _metrics(c: _Checker, raw: Mapping[str, Any]) -> MetricsConfig | None:
    c.unknown(raw, "metrics", {"listen"})
    listen = c.string(raw, "listen", "metrics.listen")
    address = _listen(c, listen, "metrics.listen", "127.0.0.1:9108") if listen is not None else None
    return MetricsConfig(*address) if address else None


def _web(c: _Checker, raw: Mapping[str, Any]) -> WebConfig | None:
    c.unknown(raw, "web", {"listen", "base_url", "secret_env", "language", "link_ttl", "session_ttl", "trusted_proxies"})
    listen = c.string(raw, "listen", "web.listen")
    address = _listen(c, listen, "web.listen", "127.0.0.1:8080") if listen is not None else None
    host, port = address or ("127.0.0.1", 8080)
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
    base_url = (c.string(raw, "base_url", "web.base_url", default=f"http://{shown}:{port}") or "").rstrip("/")
    parts = parse_web_url(base_url)
    if parts is None or parts.path or "?" in base_url or "#" in base_url or "@" in parts.netloc:
        c.add("web.base_url", f"{base_url!r} is not an http(s) address without a path (like \"https://monitor.example.com\"; serve the console at the root of its host)")
    else:
        base_url = f"{parts.scheme}://{parts.netloc}"  # "HTTPS://" too marks the session cookie Secure
    secret_env = c.string(raw, "secret_env", "web.secret_env", default="MONITOR_WEB_SECRET") or "MONITOR_WEB_SECRET"
    secret = os.environ.get(secret_env, "")
    if secret and len(secret.encode("utf-8")) < MIN_SECRET:
        c.add(
            "web.secret_env",
            f"{secret_env} holds fewer than {MIN_SECRET} bytes: anyone with one mailed link could guess it"
            " (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    proxies = c.strings(raw, "trusted_proxies", "web.trusted_proxies", required=False) if "trusted_proxies" in raw else ("127.0.0.1",)
    for proxy in proxies:
        try:
            if proxy != "*":
                ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            c.add("web.trusted_proxies", f"{proxy!r} is not an IP address or network")
    language = c.string(raw, "language", "web.language", default="auto")
    if language not in WEB_LANGUAGES:
        c.add("web.language", f"{language!r} is not one of {', '.join(WEB_LANGUAGES)}")
        language = "auto"
    link_ttl = c.duration(raw, "link_ttl", "web.link_ttl", timedelta(hours=72))
    session_ttl = c.duration(raw, "session_ttl", "web.session_ttl", timedelta(hours=12))
    if address is None:
        return None
    return WebConfig(host, port, base_url, secret_env, language or "auto", link_ttl, session_ttl, proxies)
