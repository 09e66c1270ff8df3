"""The errors ``monitor`` raises on purpose, as one tree: catch ``MonitorError`` for all of
them, or a branch for one kind of trouble. Each class stays where it was defined (its
import path is unchanged); this module holds the bases.

    MonitorError                    anything monitor raises on purpose; the message is fit to show
    ├── ConfigError                 config.toml is wrong: one line per problem, key first (exit 2)
    ├── DatabaseError               the database cannot be reached or migrated
    │   └── DatabaseBusy            another process held SQLite's write lock past our patience
    ├── ListenError                 (also OSError) the console's or metrics' address cannot be had
    ├── TimeLimit                   a keyword test ran out of its time
    ├── QuerySyntaxError            (also ValueError) a brand query that cannot be parsed
    └── RequestRefused              a person asked for something that cannot be done
        ├── TicketError             no such ticket, already resolved, an open demand left, …
        ├── SilenceError            a silence that cannot be added or ended
        ├── LinkError               a one-click link that is tampered, expired, used or stale
        └── UserError               a console user that cannot be added or changed

Where they live: ``monitor.config``, ``monitor.storage.db``, ``monitor.daemon``,
``monitor.tuning.tryout``, ``monitor.detect.query``, ``monitor.tickets.actions``,
``monitor.tickets.silences``, ``monitor.delivery.links``, ``monitor.web.users``.
``QuerySyntaxError`` and ``UserError`` join the tree when their modules' split lands (their
class lines are the only change); ``tests/test_public_api.py`` keeps the list.

Sources and alerts have trees of their own (``sources.errors``, ``alerts.errors``): a
poll's or a delivery's failure, translated from httpx, feedparser or smtplib at the edge.
"""

from __future__ import annotations

__all__ = ["MonitorError", "RequestRefused"]


class MonitorError(Exception):
    """Anything monitor raises on purpose; the message is fit to show a user."""


class RequestRefused(MonitorError):
    """A request (CLI, console or API) that cannot be done; tell the person who asked."""
