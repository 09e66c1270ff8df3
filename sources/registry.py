"""Source kinds are found through the ``monitor.sources`` entry point group.

The built-in kinds are registered there by our own pyproject.toml, so if ``rss`` works,
the plug point works for third-party kinds too.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from sources.base import Source

GROUP = "monitor.sources"
log = logging.getLogger(__name__)


def source_kinds() -> dict[str, type[Source]]:
    """Every installed kind by name; a plug-in that fails to import is logged and skipped."""
    kinds: dict[str, type[Source]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not take the daemon down
            log.error("source plug-in %r could not be loaded: %s", ep.name, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Source)):
            log.error("source plug-in %r is not a sources.Source subclass; skipped", ep.name)
            continue
        kinds[ep.name] = cls
    return kinds
