"""config.toml → typed, validated objects; the settings described as data.

The file's tables are pydantic models (``ConfigFile`` and its sections): their fields give
each key's type, default and one-line description, which validation, ``monitor check`` and
``docs/configuration-reference.md`` (``python -m monitor.config.reference``) all read.
``load_config`` checks a file against them and hands the rest of the code plain frozen
dataclasses (``Config`` and its parts).

Modules: ``fields`` (value types and their messages), ``sections`` / ``alerts`` / ``sources``
(the tables), ``load`` (read, check, build), ``objects`` (what is handed on), ``reference``.
"""

from __future__ import annotations

from monitor.config.load import ConfigError, ConfigFile, load_config, parse_config, resolve_database
from monitor.config.objects import (
    DEFAULT_REMIND,
    DEFAULT_SLA,
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

__all__ = [
    "DEFAULT_REMIND",
    "DEFAULT_SLA",
    "BrandConfig",
    "CategoryConfig",
    "ChatConfig",
    "Config",
    "ConfigError",
    "ConfigFile",
    "DigestConfig",
    "EmailConfig",
    "MetricsConfig",
    "MonitorSettings",
    "OwnerRule",
    "Playbook",
    "PlaybookStep",
    "ScoringConfig",
    "SmsConfig",
    "SourceConfig",
    "TicketConfig",
    "WebConfig",
    "load_config",
    "parse_config",
    "resolve_database",
]
