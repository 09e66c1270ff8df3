"""Read config.toml, check it against the sections, and build the objects the daemon runs on.

Every problem is reported at once, one line each, naming the key with 0-based indexes
(``sources[1].every: "soon" is not a duration``), so ``monitor check`` can print them all
and a reload that fails validation can be logged while the old config stays in force.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PlainValidator, ValidationError

from alerts import Route
from alerts.pacing import DAYS, WorkingHours
from monitor.config.alerts import AlertsSection
from monitor.config.fields import Section, Shown, also, fail, unique
from monitor.config.objects import (
    BrandConfig,
    CategoryConfig,
    ChatConfig,
    Config,
    DigestConfig,
    EmailConfig,
    MetricsConfig,
    MonitorSettings,
    OwnerRule,
    Playbook,
    PlaybookStep,
    ScoringConfig,
    SmsConfig,
    SourceConfig,
    TicketConfig,
    WebConfig,
)
from monitor.config.sections import (
    BrandSection,
    CategorySection,
    MetricsSection,
    MonitorSection,
    OwnerSection,
    PlaybookSection,
    ScoringSection,
    TicketsSection,
    WebSection,
    owners_default,
    person_address,
    playbook_names,
)
from monitor.config.sources import SourceSection, source_names
from monitor.errors import MonitorError
from sources import Source


class ConfigError(MonitorError):
    """One or more problems; ``problems`` holds one line per problem, key first.
    ``unreadable`` is set when the file itself could not be read or parsed as TOML."""

    def __init__(self, problems: list[str], *, unreadable: bool = False) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.unreadable = unreadable


def _some_brand(brands: tuple[BrandSection, ...]) -> tuple[BrandSection, ...]:
    if not brands:  # missing or empty: the daemon would poll and store, and never alert
        raise fail("none configured: add a [[brands]] table with the brand's name and keywords, or no post is ever a mention / 未配置品牌")
    unique([b.name for b in brands], "brand")
    return brands


class ConfigFile(Section):
    """The whole of config.toml."""

    monitor: MonitorSection = Field(default_factory=lambda: MonitorSection.model_validate({}), description="a table: the database, time zone and the daemon's own clocks")
    brands: Annotated[tuple[BrandSection, ...], AfterValidator(_some_brand)] = Field((), validate_default=True, description="an array of tables: the brands watched (at least one)")
    crisis: dict[str, CategorySection] = Field({}, description="tables [crisis.<category>]: crisis terms by category")
    scoring: ScoringSection = Field(default_factory=lambda: ScoringSection.model_validate({}), description="a table: when engagement and volume raise a ticket's severity")
    sources: Annotated[tuple[SourceSection, ...], AfterValidator(source_names)] = Field((), description="an array of tables: the platforms polled")
    alerts: AlertsSection = Field(default_factory=lambda: AlertsSection.model_validate({}), description="tables: mail, chat, routes, digest")
    tickets: TicketsSection = Field(default_factory=lambda: TicketsSection.model_validate({}), description="a table: answer clocks, reminders, reopening, working hours")
    metrics: MetricsSection | None = Field(None, description="a table: Prometheus metrics")
    people: Annotated[dict[str, Annotated[str, PlainValidator(person_address)]], Shown("table of name = email address")] = Field(
        {}, description="a table of person = email address: owners get their reminders directly"
    )
    playbooks: Annotated[dict[str, PlaybookSection], also(playbook_names)] = Field(
        {}, description="tables [playbooks.<category>] (or default): the steps a ticket's desk shows"
    )
    owners: Annotated[tuple[OwnerSection, ...], also(owners_default)] = Field((), description="an array of tables: the responsibility matrix")
    web: WebSection | None = Field(None, description="a table: the console")


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
    names = _names(raw, kinds)
    try:
        checked = ConfigFile.model_validate(dict(raw), context=names)
    except ValidationError as exc:
        raise ConfigError(problem_lines(_every_problem(raw, names, exc.errors()))) from None
    return _build(checked, path)


def _every_problem(raw: Mapping[str, Any], names: dict[str, Any], found: list[Any]) -> list[Any]:
    """All the problems, so a user fixes them in one go.

    pydantic skips a check that spans keys (steps in order, a default owner) once one of
    those keys has a problem. So check again with every key that has a problem left out
    (its default stands in), and add what is new, unless it is about a key already named
    or only says a key is required: leaving a key out can cause that."""
    data = copy.deepcopy(dict(raw))
    for _ in range(3):
        for error in found:
            _leave_out(data, error["loc"])
        try:
            ConfigFile.model_validate(data, context=names)
            return found
        except ValidationError as exc:
            known = [tuple(e["loc"]) for e in found]
            new = [e for e in exc.errors() if not _consequence(e) and not any(_overlap(tuple(e["loc"]), loc) for loc in known)]
        if not new:
            return found
        found = found + new
    return found


def _consequence(error: Any) -> bool:
    """Leaving a key out can make another one required (no query: keywords are): not a problem of the file."""
    return error["type"] == "missing" or error["msg"].startswith("is required") or error["msg"] == "must not be empty"


def _overlap(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def _leave_out(data: Any, loc: tuple[Any, ...]) -> None:
    """Delete the innermost table key on ``loc`` (a list item's problem leaves out the whole list key)."""
    cut = max((i for i, part in enumerate(loc) if isinstance(part, str)), default=-1)
    parent = data
    for part in loc[:cut]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if cut >= 0 and isinstance(parent, dict):
        parent.pop(loc[cut], None)


def _names(raw: Mapping[str, Any], kinds: Mapping[str, type[Source]]) -> dict[str, Any]:
    """What one table may refer to in another: checked against the raw file, so a reference is
    reported even when the table it names has a problem of its own."""

    def tables(value: Any) -> dict[str, Any]:
        return {k: v for k, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}

    brands = raw.get("brands")
    brand_names = set()
    for i, brand in enumerate(brands if isinstance(brands, list) else ()):
        name = brand.get("name") if isinstance(brand, dict) else None
        brand_names.add(name.strip() if isinstance(name, str) and name.strip() else f"brand{i}")
    alerts = raw.get("alerts")
    return {
        "kinds": kinds,
        "categories": set(tables(raw.get("crisis"))),
        "brands": brand_names,
        "chat": set(tables(alerts.get("chat") if isinstance(alerts, dict) else None)),
        "sms": set(tables(alerts.get("sms") if isinstance(alerts, dict) else None)),
    }


def problem_lines(errors: list[Any]) -> list[str]:
    """``key: message``, one line per problem, in the order found, each once."""
    lines: dict[str, None] = {}
    for error in errors:
        loc = error["loc"]
        message = error["msg"]
        if error["type"] in ("model_type", "dict_type") and loc and isinstance(loc[-1], int):
            loc, message = loc[:-1], f"must be an array of tables ([[{_key(loc[:-1])}]])"
        elif error["type"] in ("model_type", "dict_type"):
            message = "must be a table"
        elif error["type"] in ("tuple_type", "list_type"):
            message = f"must be an array of tables ([[{_key(loc)}]])"
        elif error["type"] == "missing":
            message = "is required"
        lines[f"{_key(loc)}: {message}"] = None
    return list(lines)


def _key(loc: tuple[str | int, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def resolve_database(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix):]
        if rest and not rest.startswith("/") and not rest.startswith(":memory:"):
            return prefix + str((base / rest).resolve())
    return url


def _build(f: ConfigFile, path: Path) -> Config:
    base = path.parent
    m = f.monitor
    outbox = Path(m.outbox)
    monitor = MonitorSettings(
        resolve_database(m.database, base), ZoneInfo(m.timezone), outbox if outbox.is_absolute() else base / outbox,
        m.blind_after, m.keep, m.lease_grace, m.max_retry_after,
    )
    a = f.alerts
    e = a.email
    email = EmailConfig(e.host, e.sender, e.port, e.starttls, e.ssl, e.username, e.password_env, e.timeout, e.rate) if e else None
    chat = {name: ChatConfig(name, c.kind, c.url, c.url_env, c.secret_env, c.rate, c.timeout, c.chat_id, c.group) for name, c in a.chat.items()}
    sms = {
        name: SmsConfig(
            name, c.kind, c.to, c.key_id_env, c.key_secret_env, c.sign_name, c.template, c.sender, dict(c.params), c.app_id, c.region,
            c.base_url, c.min_severity, c.param_limit, c.rate, c.timeout,
        )
        for name, c in a.sms.items()
    }
    routes = tuple(
        Route(
            name=r.name, to=r.to, min_severity=r.min_severity,
            categories=frozenset(r.categories) if r.categories is not None else None,
            brands=frozenset(r.brands) if r.brands is not None else None,
            chat=(*r.chat, *r.sms), sms=r.sms, continue_=r.continue_, group_by=r.group_by, group_wait=r.group_wait, group_interval=r.group_interval,
            repeat_interval=r.repeat_interval, escalate_to=tuple(step.step() for step in r.escalate_to),
        )
        for r in a.routes
    )
    t = f.tickets
    hours = t.working_hours
    working = WorkingHours(hours.start, hours.end, frozenset(DAYS.index(d) for d in hours.days), hours.severities) if hours else None
    return Config(
        path=path,
        monitor=monitor,
        brands=tuple(BrandConfig(b.name, b.keywords or (), b.exclude, b.query) for b in f.brands),
        crisis=tuple(CategoryConfig(name, c.severity, c.terms) for name, c in f.crisis.items()),
        scoring=ScoringConfig(**{name: getattr(f.scoring, name) for name in ScoringSection.model_fields}),
        sources=tuple(SourceConfig(s.name, s.kind, s.every, s.settings, s.headers_env, s.params_env) for s in f.sources),
        email=email,
        routes=routes,
        tickets=TicketConfig(dict(t.sla), dict(t.remind_after), t.reopen_within, working, t.follow_up),
        metrics=MetricsConfig(*f.metrics.listen) if f.metrics else None,
        chat=chat,
        sms=sms,
        people=dict(f.people),
        digest=DigestConfig(a.digest.to, a.digest.chat, a.digest.every, a.digest.at) if a.digest else None,
        playbooks={name: Playbook(name, tuple(PlaybookStep(s.within, s.do) for s in p.steps), p.dont) for name, p in f.playbooks.items()},
        owners=tuple(OwnerRule(o.team, o.person, o.category, o.brand, o.platform) for o in f.owners),
        web=WebConfig(*f.web.listen, f.web.base_url or "", f.web.secret_env, f.web.language, f.web.link_ttl, f.web.session_ttl, f.web.trusted_proxies) if f.web else None,
    )
