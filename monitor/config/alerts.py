"""[alerts.*]: the mail server, chat receivers, routes with their escalation, the digest."""

from __future__ import annotations

import os
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator

from alerts import Severity
from alerts.chat import CHAT_KINDS
from alerts.routing import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, GROUP_BY_FIELDS, EscalationStep
from alerts.sms import PLACEHOLDERS, SMS_KINDS, is_phone_number, placeholders, secure_enough
from monitor.config.fields import (
    Address,
    Addresses,
    ClockTime,
    Delay,
    Duration,
    EnvName,
    Flag,
    Loc,
    Problems,
    Rate,
    Section,
    SeverityName,
    Shown,
    Text,
    also,
    context,
    env_problem,
    fail,
    given_text,
    given_texts,
    named_in,
    one_of,
    per_severity,
    text,
    texts,
    unique,
    whole,
)
from monitor.durations import parse_duration
from weburl import is_web_url

ChatNames = Annotated[tuple[str, ...], PlainValidator(named_in("chat", "an [alerts.chat.*] receiver")), Shown("list of [alerts.chat] names")]
SmsNames = Annotated[tuple[str, ...], PlainValidator(named_in("sms", "an [alerts.sms.*] receiver")), Shown("list of [alerts.sms] names")]


def _refused(value: Any) -> None:
    raise fail("secrets never go in the file: set password_env to the name of an environment variable")


class EmailSection(Section):
    host: Text = Field(description="SMTP server")
    sender: Address = Field(alias="from", description='the From address ("Brand monitor <monitor@example.com>")')
    port: Annotated[int, PlainValidator(whole(1, 65535, "is not a TCP port")), Shown("whole number")] = Field(587, description="SMTP port (465 with ssl)")
    starttls: Flag = Field(True, description="upgrade the connection with STARTTLS")
    ssl: Flag = Field(False, description="implicit TLS from the first byte (port 465)")
    username: Text | None = Field(None, description="SMTP login; needs password_env")
    password: Annotated[None, PlainValidator(_refused), Shown("refused")] = Field(None, description="never accepted: secrets never go in the file (use password_env)")
    password_env: EnvName | None = Field(None, description="environment variable holding the SMTP password (read at send time)")
    timeout: Duration = Field(timedelta(seconds=30), description="give up waiting for one answer of the SMTP server after this long (a whole conversation is cut off after 4 minutes)")
    rate: Rate | None = Field(None, description='at most this many mails per window ("20/m"); the rest wait their turn')

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        if given_text(table, "username") and not given_text(table, "password_env"):
            return [(("password_env",), "is required when username is set")]
        return []


def _chat_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise fail("must be a chat id (a number like -1001234567890) or a channel name like \"@acme_alerts\"")


class ChatSection(Section):
    kind: Annotated[str, PlainValidator(one_of(CHAT_KINDS, f"a chat kind ({', '.join(sorted(CHAT_KINDS))})")), Shown(" | ".join(sorted(CHAT_KINDS)))] = Field(
        description="the chat platform, which decides the message format and signing"
    )
    url: Text | None = Field(None, description="the receiver's webhook URL (set url or url_env); bark and telegram: the server, default their public one")
    url_env: Text | None = Field(None, description="environment variable holding the URL, when it carries an access token (an ntfy topic URL)")
    secret_env: EnvName | None = Field(
        None, description="environment variable holding the secret: the signing secret (DingTalk, Feishu, webhook), the device key (bark), the bot token (telegram), the access token (ntfy)"
    )
    chat_id: Annotated[str, PlainValidator(_chat_id), Shown("string or whole number")] | None = Field(None, description="telegram: the chat, group or @channel the bot posts to")
    group: Text | None = Field(None, description='bark: the group the pushes are filed under in the app (default "monitor")')
    rate: Rate | None = Field(None, description='at most this many messages per window ("20/m")')
    timeout: Duration = Field(timedelta(seconds=10), description="give up on one post to the receiver after this long")

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        kind = CHAT_KINDS.get(given_text(table, "kind") or "")
        url, url_env = given_text(table, "url"), given_text(table, "url_env")
        problems: list[tuple[Loc, str]] = []
        if kind is not None:
            for option in ("chat_id", "group"):
                if option in table and option not in kind.option_names:
                    problems.append(((option,), f"only {_takers(option)} {option} (it has no meaning for {kind.kind})"))
            problems += [((option,), f"is required for {kind.kind}") for option in kind.required_options if option not in table]
            secret_env = given_text(table, "secret_env")
            if kind.needs_secret and secret_env is None and "secret_env" not in table:
                problems.append((("secret_env",), f"is required for {kind.kind}: the environment variable holding the {kind.needs_secret}"))
            elif secret_env is not None and (kind.needs_secret or secret_env in os.environ) and (problem := env_problem(secret_env, kind.needs_secret)):
                problems.append((("secret_env",), problem))
        if url is None and url_env is None and kind is not None and kind.default_url:
            return problems
        if (url is None) == (url_env is None):
            return [*problems, ((), "set exactly one of url or url_env (url_env when the URL holds an access token)")]
        if url is not None and not is_web_url(url):
            return [*problems, (("url",), f"{url!r} is not an http(s) URL with a host (like \"https://oapi.dingtalk.com/robot/send?access_token=…\")")]
        if url_env is not None and not os.environ.get(url_env):
            return [*problems, (("url_env",), f"environment variable {url_env} is not set")]
        if url_env is not None and not is_web_url(os.environ[url_env]):  # its value is a secret: not shown
            return [*problems, (("url_env",), f"environment variable {url_env} does not hold an http(s) URL with a host")]
        return problems


def _takers(option: str) -> str:
    kinds = sorted({cls.kind for cls in CHAT_KINDS.values() if option in cls.option_names})
    return " and ".join(kinds) + (" takes" if len(kinds) == 1 else " take")


def _phones(value: Any) -> tuple[str, ...]:
    numbers = texts(value)
    problems = Problems()
    for j, number in enumerate(numbers):
        if not is_phone_number(number):
            problems.add((j,), f"{number!r} is not a phone number (digits with the country code, like \"+8613800000000\")", number)
    problems.raise_any()
    if not numbers:
        raise fail("must name at least one phone number")
    return numbers


def _params(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail('must be a table of template parameters, like { severity = "{severity}", ticket = "{id}" }')
    problems = Problems()
    found: dict[str, str] = {}
    for key, template in value.items():
        if not isinstance(template, str):
            problems.add((key,), "must be a string", template)
            continue
        try:
            unknown = [name for name in placeholders(template) if name not in PLACEHOLDERS]
        except ValueError:
            unknown = ["a lone { or }"]
        if unknown:
            problems.add((key,), f"{unknown[0]!r} is not a placeholder (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}); no post text goes into an SMS", template)
        found[str(key)] = template
    problems.raise_any()
    return found


def _body(value: Any) -> str:
    body = text(value)
    try:
        unknown = [name for name in placeholders(body) if name not in PLACEHOLDERS]
    except ValueError:
        unknown = ["a lone { or }"]
    if unknown:
        raise fail(f"{unknown[0]!r} is not a placeholder (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    return body


class SmsSection(Section):
    kind: Annotated[str, PlainValidator(one_of(SMS_KINDS, f"an SMS provider ({', '.join(SMS_KINDS)})")), Shown(" | ".join(SMS_KINDS))] = Field(
        description="the SMS provider, which decides how requests are signed"
    )
    to: Annotated[tuple[str, ...], PlainValidator(_phones), Shown("list of phone numbers")] = Field(description='the phones, with country code ("+8613800000000")')
    sign_name: Text | None = Field(None, description="aliyun, tencent: the approved signature (签名), without 【】")
    template: Annotated[str, PlainValidator(_body), Shown("string")] | None = Field(
        None, description="aliyun, tencent: the approved template's code or id; twilio: the body, with {placeholders} (default: brand, severity, ticket, link)"
    )
    sender: Text | None = Field(None, alias="from", description="twilio: the sending number")
    params: Annotated[dict[str, str], PlainValidator(_params), Shown("table of name = string")] = Field(
        {}, description="aliyun, tencent: the template's parameters in order, from {severity} {severity_en} {brand} {id} {link}; each cut to the provider's limit"
    )
    app_id: Text | None = Field(None, description="tencent: the SMS application's SdkAppId (1400…)")
    region: Text | None = Field(None, description="aliyun: RegionId (default cn-hangzhou); tencent: X-TC-Region (default ap-guangzhou)")
    key_id_env: EnvName = Field(description="environment variable holding the AccessKey ID / SecretId / Account SID")
    key_secret_env: EnvName = Field(description="environment variable holding the AccessKey secret / SecretKey / Auth Token")
    base_url: Text | None = Field(None, description="the provider's API address (default its public one; a test server on 127.0.0.1)")
    min_severity: SeverityName = Field(Severity.urgent, description="only tickets at least this severe are sent by SMS")
    param_limit: Annotated[int, PlainValidator(whole(1, 1600, "must be a whole number from 1 to 1600")), Shown("whole number")] | None = Field(
        None, description="cut each parameter to this many characters (default: aliyun 35, tencent 12, twilio 1600)"
    )
    rate: Rate | None = Field(None, description="at most this many messages per window (default: the provider's per-number limit)")
    timeout: Duration = Field(timedelta(seconds=10), description="give up on one request to the provider after this long")

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        kind = given_text(table, "kind")
        problems: list[tuple[Loc, str]] = []
        needed = {"aliyun": ("sign_name", "template"), "tencent": ("sign_name", "template", "app_id"), "twilio": ("from",)}.get(kind or "", ())
        problems += [((key,), f"is required for {kind}") for key in needed if key not in table]
        for key in ("key_id_env", "key_secret_env"):
            name = given_text(table, key)
            if name is not None and (problem := env_problem(name)):
                problems.append(((key,), problem))
        url = given_text(table, "base_url")
        if url is not None and not is_web_url(url):
            problems.append((("base_url",), f"{url!r} is not an http(s) URL with a host"))
        elif url is not None and not secure_enough(url):
            problems.append((("base_url",), f"{url!r} must be https: the request carries the provider's keys (plain http only to 127.0.0.1)"))
        return problems


def _group_by(value: Any) -> tuple[str, ...]:
    fields = texts(value)
    problems = Problems()
    for j, name in enumerate(fields):
        if name not in GROUP_BY_FIELDS:
            problems.add((j,), f"{name!r} cannot be grouped by (expected: {', '.join(GROUP_BY_FIELDS)})", name)
    problems.raise_any()
    return fields


def _never_zero(value: dict[Severity, timedelta]) -> dict[Severity, timedelta]:
    if any(not delay for delay in value.values()):
        raise fail("must be longer than zero")
    return value


class EscalationSection(Section):
    after: Delay = Field(timedelta(0), description="counted from the ticket's opening, while nobody has acknowledged it")
    to: Addresses = Field((), description="email addresses told at this step")
    chat: ChatNames = Field((), description="chat receivers told at this step")
    sms: SmsNames = Field((), description="SMS receivers told at this step")

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        return _someone(table, "is required (who is told), unless the step has chat or SMS receivers")

    def step(self) -> EscalationStep:
        return EscalationStep(self.after, self.to, (*self.chat, *self.sms), self.sms)


def _in_order(value: Any, info: Any) -> list[tuple[Loc, str]]:
    """Steps in order of their after times (a step with a problem of its own still counts)."""
    if not isinstance(value, list) or not all(isinstance(step, dict) for step in value):
        return []  # not an array of tables: that is the problem to fix first
    afters = []
    for step in value:
        try:
            afters.append(parse_duration(step.get("after", "0s"), allow_zero=True))
        except ValueError:
            afters.append(timedelta(0))
    return [((i, "after"), "steps must be in order of their after times") for i in range(1, len(afters)) if afters[i] < afters[i - 1]]


def _someone(table: dict[str, Any], message: str) -> list[tuple[Loc, str]]:
    """Mail, chat or SMS: somebody is told (a list with a problem of its own counts as empty)."""
    return [] if given_texts(table, "to") or given_texts(table, "chat") or given_texts(table, "sms") else [(("to",), message)]


SeverityDelays = Shown("duration, or table of severity = duration")


class RouteSection(Section):
    name: Text = Field(description="the route's name in logs and the console; unique")
    to: Addresses = Field((), description="email addresses; required unless the route has chat receivers")
    chat: ChatNames = Field((), description="[alerts.chat.*] receivers this route posts to")
    sms: SmsNames = Field((), description="[alerts.sms.*] receivers this route texts (each only for tickets at its own min_severity, urgent by default)")
    min_severity: SeverityName = Field(Severity.normal, description="tickets at least this severe match")
    categories: Annotated[tuple[str, ...] | None, PlainValidator(named_in("categories", "a [crisis.*] category")), Shown("list of categories")] = Field(
        None, description="only tickets with one of these crisis categories match (default: any)"
    )
    brands: Annotated[tuple[str, ...] | None, PlainValidator(named_in("brands", "a [[brands]] name")), Shown("list of brands")] = Field(
        None, description="only tickets of these brands match (default: any)"
    )
    continue_: Flag = Field(True, alias="continue", description="false: a ticket this route takes is not offered to the routes after it")
    group_by: Annotated[tuple[str, ...], PlainValidator(_group_by), Shown("list of fields")] = Field(
        ("brand",), description=f"tickets alike in these fields ({', '.join(GROUP_BY_FIELDS)}) share one message"
    )
    group_wait: Annotated[dict[Severity, timedelta], PlainValidator(per_severity(DEFAULT_GROUP_WAIT)), SeverityDelays] = Field(
        DEFAULT_GROUP_WAIT, description="how long a new group waits for more tickets before its first message"
    )
    group_interval: Duration = Field(DEFAULT_GROUP_INTERVAL, description="the least time between two messages of one group")
    repeat_interval: Annotated[dict[Severity, timedelta], PlainValidator(per_severity(DEFAULT_REPEAT_INTERVAL)), AfterValidator(_never_zero), SeverityDelays] = Field(
        DEFAULT_REPEAT_INTERVAL, description="an unchanged open group is sent again after this long"
    )
    escalate_to: Annotated[tuple[EscalationSection, ...], also(_in_order)] = Field(
        (), description="an array of tables: who else is told while a ticket stays unacknowledged"
    )

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        return _someone(table, "is required (email addresses), unless the route has chat or SMS receivers")


def _whole_days(value: timedelta) -> timedelta:
    if value.total_seconds() % 86400:
        raise fail("must be whole days (\"1d\" daily, \"7d\" weekly)")
    return value


class DigestSection(Section):
    to: Addresses = Field((), description="who gets the digest by mail; required unless it has chat receivers")
    chat: ChatNames = Field((), description="[alerts.chat.*] receivers of the digest")
    every: Annotated[Duration, AfterValidator(_whole_days)] = Field(timedelta(days=1), description="whole days: 1d is a daily digest, 7d a weekly one (sent on Mondays)")
    at: ClockTime = Field(time(9, 0), description="local time ([monitor] timezone) the digest goes out")

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: Any) -> list[tuple[Loc, str]]:
        return _someone(table, "is required (who gets the digest), unless it has chat receivers")


def _names_apart(value: Any, info: Any) -> list[tuple[Loc, str]]:
    """A chat and an SMS receiver may not share a name: both are channels of the outbox."""
    chat = context(info, "chat") or set()
    return [((name,), f"{name!r} is also the name of an [alerts.chat] receiver: choose another") for name in (value if isinstance(value, dict) else {}) if name in chat]


def _route_names(routes: tuple[RouteSection, ...]) -> tuple[RouteSection, ...]:
    unique([r.name for r in routes], "route")
    return routes


class AlertsSection(Section):
    email: EmailSection | None = Field(None, description="a table: the SMTP server; without it alert mail is written as .eml files to [monitor] outbox")
    chat: dict[str, ChatSection] = Field({}, description="tables [alerts.chat.<name>]: chat receivers routes can name")
    sms: Annotated[dict[str, SmsSection], also(_names_apart)] = Field({}, description="tables [alerts.sms.<name>]: SMS receivers routes and escalation steps can name")
    routes: Annotated[tuple[RouteSection, ...], AfterValidator(_route_names)] = Field((), description="an array of tables: who is told about which tickets")
    digest: DigestSection | None = Field(None, description="a table: a periodic summary by mail or chat")
