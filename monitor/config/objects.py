"""What the rest of the code is handed: plain frozen dataclasses, built from the checked file.

The file's schema (keys, types, defaults, descriptions) lives in the pydantic sections
(``sections.py``, ``alerts.py``, ``sources.py``); these objects are what ``load_config``
returns, so the pipeline never sees pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from alerts import Route, Severity
from alerts.pacing import WorkingHours
from alerts.ratelimit import RateLimit
from alerts.sms import SmsSettings
from monitor.detect.query import Query


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
    forecast_trigger: bool = True
    """Warn when the forecast's lower bound reaches ``velocity_urgent`` within the window, and
    let a pace-rule warning stand only where its upper bound reaches it (bench/forecast.py)."""
    forecast_confidence: float = 0.8
    """The central share the forecast's interval holds; its bounds are what count."""
    forecast_chance: float = 0.09
    """With ``forecast_rule = "learned"``: the least chance of crossing that warns."""
    forecast_rule: str = "learned"
    """How ``forecast_trigger`` decides (:data:`FORECAST_RULES`): ``learned``, the chance
    ``monitor/detect/early.py`` gives from the readings and the forecast; ``interval``, the
    forecast's lower bound, or a pace warning its upper bound confirms."""
    storm_window: timedelta = timedelta(hours=1)
    storm_baseline: timedelta = timedelta(days=14)
    storm_sensitivity: float = 4.0
    """How many spreads above its normal a brand's mention count must be to be a storm; 0 turns storms off."""
    reach_followers: int = 1_000_000
    """An author with at least this many followers posting a crisis term raises it one step; 0: off."""
    reach_kinds: tuple[str, ...] = ("media", "government")
    """Verified kinds of author (``sources.AUTHOR_KINDS``) whose crisis-term posts are raised one step."""
    hotlist_important: int = 50
    """A brand mention on a hot list at this rank or higher (a smaller number) is at least important; 0: off."""
    hotlist_urgent: int = 10
    """… at this rank or higher, urgent; 0: off."""
    hotlist_climb_window: timedelta = timedelta(hours=1)
    """A hot-list topic is climbing fast when, against its reading when this window opened (its first within it if it was not listed then), …"""
    hotlist_climb_ranks: int = 25
    """… it rose at least this many places (0: off) …"""
    hotlist_heat_growth: int = 200
    """… or its heat grew at least this many percent (0: off); measured on real 微博热搜 readings (bench/hotlist_climb.py)."""


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
    chat_id: str | None = None
    """Telegram: the chat the bot posts to."""
    group: str | None = None
    """Bark: the group its pushes are filed under."""

    def options(self) -> dict[str, str]:
        """The kind-specific settings the channel takes."""
        return {key: value for key, value in (("chat_id", self.chat_id), ("group", self.group)) if value}

    def resolved_url(self) -> str:
        return self.url or os.environ.get(self.url_env or "", "")

    def secret(self) -> str | None:
        return os.environ.get(self.secret_env) if self.secret_env else None


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """An SMS receiver. Its keys come from the environment, read when its channel is built."""

    name: str
    kind: str
    to: tuple[str, ...]
    key_id_env: str
    key_secret_env: str
    sign_name: str | None = None
    template: str | None = None
    sender: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    app_id: str | None = None
    region: str | None = None
    base_url: str | None = None
    min_severity: Severity = Severity.urgent
    param_limit: int | None = None
    rate: RateLimit | None = None
    timeout: timedelta = timedelta(seconds=10)

    def settings(self) -> SmsSettings:
        return SmsSettings(
            to=self.to, key_id=os.environ.get(self.key_id_env, ""), key_secret=os.environ.get(self.key_secret_env, ""),
            sign_name=self.sign_name or "", template=self.template or "", sender=self.sender or "", params=dict(self.params),
            app_id=self.app_id or "", region=self.region or "", base_url=self.base_url or "", param_limit=self.param_limit,
            timeout=self.timeout.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    host: str
    port: int


WEB_LANGUAGES = ("auto", "zh", "en")
FORECAST_RULES = ("learned", "interval")
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
    sms: Mapping[str, SmsConfig] = field(default_factory=dict)
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

