"""The public API of the three packages, pinned: a name added to or dropped from an
``__all__`` must change this test too, so a change to what plugin authors and embedders
may use is always a decision (httpx's ``tests/test_exported_members.py`` does the same).
And every error monitor raises on purpose sits in one tree under ``MonitorError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import alerts
import monitor
import sources
from monitor.errors import MonitorError, RequestRefused

PUBLIC = {
    "monitor": [
        "App", "Config", "ConfigError", "DatabaseBusy", "DatabaseError", "LinkError", "ListenError", "MonitorError",
        "QuerySyntaxError", "RequestRefused", "SilenceError", "TicketError", "UserError", "__version__", "load_config",
    ],
    "sources": [
        "GROUP", "BackingOff", "BodyTooLarge", "Engagement", "Fetched", "Gone", "HttpPolicy", "Option", "ParseError", "PoliteHttp",
        "Post", "RateLimited", "ResponseError", "Source", "SourceContext", "SourceError", "TransportError", "html_to_text",
        "new_client", "source_kinds", "validate_options",
    ],
    "alerts": [
        "Alert", "AlertCase", "AlertPost", "AlertStep", "Brief", "Channel", "DeliveryError", "Envelope", "MaildirChannel", "Receipt",
        "Refusal", "Rejected", "Rendered", "Renderer", "Route", "SEND_LIMIT", "Severity", "SmtpChannel", "SmtpSettings", "build_email",
        "new_message_id", "next_attempt", "routes_for",
    ],
}
PACKAGES = {"monitor": monitor, "sources": sources, "alerts": alerts}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_exported_names_are_pinned(name: str) -> None:
    assert sorted(PACKAGES[name].__all__) == sorted(PUBLIC[name])
    assert len(set(PACKAGES[name].__all__)) == len(PACKAGES[name].__all__)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_exported_name_imports(name: str) -> None:
    package = PACKAGES[name]
    for member in package.__all__:
        assert getattr(package, member) is not None, f"{name}.{member}"
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)  # the star import an embedder may write
    assert set(package.__all__) <= set(namespace)


def test_import_monitor_is_cheap() -> None:
    """The names load on first use: a fresh ``import monitor`` loads neither the daemon nor the console."""
    import subprocess
    import sys

    code = "import sys, monitor; print(sorted(m for m in sys.modules if m.startswith('monitor')))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "['monitor', 'monitor.errors']"


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert monitor.__version__ == version("brand-monitor")


def _modules(package: ModuleType) -> list[ModuleType]:
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__") or ".migrations" in info.name:
            continue  # running them is not importing them
        found.append(importlib.import_module(info.name))
    return found


def _exceptions(package: ModuleType) -> dict[str, type[BaseException]]:
    return {
        f"{cls.__module__}.{cls.__qualname__}": cls
        for module in _modules(package)
        for _name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }


NOT_IN_THE_TREE = {
    # control flow inside one module, never seen outside it
    "monitor.detect.query._limits._TooDeep",
    "monitor.web.requests.SignInRequired",
    "monitor.web.requests.CsrfRefused",
    # click's own exception: the CLI's way to exit with a message
    "monitor.cli.common.Fail",
}


def test_every_monitor_error_is_in_one_tree() -> None:
    found = _exceptions(monitor)
    outside = {name for name, cls in found.items() if not issubclass(cls, MonitorError)}
    assert outside == NOT_IN_THE_TREE
    from monitor.config import ConfigError
    from monitor.daemon import ListenError
    from monitor.delivery.links import LinkError
    from monitor.storage.db import DatabaseBusy, DatabaseError
    from monitor.tickets.actions import TicketError
    from monitor.tickets.silences import SilenceError

    assert issubclass(DatabaseBusy, DatabaseError) and issubclass(DatabaseError, MonitorError)
    assert issubclass(ConfigError, MonitorError)
    assert issubclass(ListenError, MonitorError) and issubclass(ListenError, OSError)
    assert all(issubclass(cls, RequestRefused) for cls in (TicketError, SilenceError, LinkError))
    assert issubclass(monitor.QuerySyntaxError, ValueError)


@pytest.mark.parametrize(("package", "base"), [(sources, sources.SourceError), (alerts, alerts.DeliveryError)])
def test_sources_and_alerts_errors_have_one_base(package: ModuleType, base: type[Exception]) -> None:
    for name, cls in _exceptions(package).items():
        assert issubclass(cls, base), name
