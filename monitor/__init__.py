"""brand-monitor: watches public platforms for a brand's crisis and tells the right people.

The public API for embedding the daemon, the same names whatever module they live in::

    from monitor import App, load_config, MonitorError

Everything else in ``monitor`` is internal and may move between releases. Names load on
first use, so ``import monitor`` (and so every ``monitor.*`` import) stays cheap: the CLI
does not pay for the console or the daemon when it only lists tickets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError, RequestRefused

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.config import Config, ConfigError, load_config
    from monitor.daemon import ListenError
    from monitor.delivery.links import LinkError
    from monitor.detect.query import QuerySyntaxError
    from monitor.storage.db import DatabaseBusy, DatabaseError
    from monitor.tickets.actions import TicketError
    from monitor.tickets.silences import SilenceError
    from monitor.web.users import UserError

    __version__: str

__all__ = [
    "App",
    "Config",
    "ConfigError",
    "DatabaseBusy",
    "DatabaseError",
    "LinkError",
    "ListenError",
    "MonitorError",
    "QuerySyntaxError",
    "RequestRefused",
    "SilenceError",
    "TicketError",
    "UserError",
    "__version__",
    "load_config",
]

_HOMES = {
    "App": "monitor.app",
    "Config": "monitor.config",
    "ConfigError": "monitor.config",
    "load_config": "monitor.config",
    "ListenError": "monitor.daemon",
    "LinkError": "monitor.delivery.links",
    "QuerySyntaxError": "monitor.detect.query",
    "DatabaseBusy": "monitor.storage.db",
    "DatabaseError": "monitor.storage.db",
    "TicketError": "monitor.tickets.actions",
    "SilenceError": "monitor.tickets.silences",
    "UserError": "monitor.web.users",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("brand-monitor")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
