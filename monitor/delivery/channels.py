"""The channel factories: from a config to the notifier's stages, the channels messages
leave by (SMTP or .eml files, chat robots), their pace, and the console links' signer.
The daemon, ``poll``, the CLI and the console all build them here."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from alerts import Channel, MaildirChannel, Renderer, Severity, SmtpChannel, SmtpSettings
from alerts.chat import make_chat_channel
from alerts.ratelimit import DEFAULT_RATES, RateLimiter
from alerts.sms import DEFAULT_SMS_RATES, make_sms_channel
from monitor.config import Config
from monitor.delivery.links import LinkSigner
from monitor.delivery.notify import Notifier
from monitor.delivery.outbox import Outbox

DEFAULT_SENDER = "Brand monitor <monitor@localhost>"


def make_channel(config: Config) -> Channel:
    """SMTP when ``[alerts.email]`` is configured, else .eml files in ``[monitor].outbox``."""
    email = config.email
    if email is None:
        return MaildirChannel(config.monitor.outbox)
    return SmtpChannel(
        SmtpSettings(
            host=email.host,
            port=email.port,
            starttls=email.starttls,
            ssl=email.ssl,
            username=email.username,
            password=email.password(),
            timeout=email.timeout.total_seconds(),
        )
    )


def make_link_signer(config: Config, secret: bytes | None = None) -> LinkSigner | None:
    """Signs the console links in alert mail: with ``[web]`` and a secret (the environment's,
    or the one a daemon made up for itself when none is set)."""
    if config.web is None:
        return None
    secret = secret or (config.web.secret() or "").encode("utf-8")
    return LinkSigner(secret, config.web.base_url, config.web.link_ttl) if secret else None


def make_notifier(config: Config, link_secret: bytes | None = None) -> Notifier:
    """The route → group → notify stages for a config (the daemon's, or a CLI command's)."""
    return Notifier(
        config.routes,
        Renderer(config.monitor.timezone),
        config.monitor.timezone,
        config.tickets.working_hours,
        config.people,
        ack_command=f"monitor -c {config.path} tickets ack {{id}}",
        playbooks=config.playbooks,
        links=make_link_signer(config, link_secret),
        outbox=Outbox(floors=receiver_floors(config)),
        scoring=config.scoring,
    )


def receiver_floors(config: Config) -> dict[str, Severity]:
    """Receivers that take only tickets at least this severe: each SMS receiver's
    ``min_severity`` (urgent unless set), whatever the route that names it."""
    return {name: sms.min_severity for name, sms in config.sms.items()}


def make_chat_channels(config: Config, client: httpx.Client) -> dict[str, Channel]:
    """The chat and SMS receivers, by name (one namespace: each is an outbox channel)."""
    sms: dict[str, Channel] = {name: make_sms_channel(c.kind, name, c.settings(), client) for name, c in config.sms.items()}
    return sms | {
        name: make_chat_channel(
            chat.kind, name, chat.resolved_url(), client, secret=chat.secret(), timeout=chat.timeout.total_seconds(), **chat.options()
        )
        for name, chat in config.chat.items()
    }


def make_limits(config: Config, current: Mapping[str, RateLimiter] | None = None) -> dict[str, RateLimiter]:
    """Each channel's pace: the configured ``rate``, else the platform's documented limit.
    A limiter whose rate did not change is kept, so saving config.toml does not reset
    DingTalk's 20-a-minute window."""
    wanted: dict[str, str] = {}
    if config.email is not None and config.email.rate is not None:
        wanted["email"] = str(config.email.rate)
    for name, chat in config.chat.items():
        rate = chat.rate or DEFAULT_RATES.get(chat.kind)
        if rate is not None:
            wanted[name] = str(rate)
    for name, sms in config.sms.items():
        wanted[name] = str(sms.rate or DEFAULT_SMS_RATES[sms.kind])
    current = current or {}
    return {
        name: current[name] if name in current and repr(current[name]) == repr(RateLimiter(rate)) else RateLimiter(rate)
        for name, rate in wanted.items()
    }
