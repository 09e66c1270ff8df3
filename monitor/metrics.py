"""Prometheus metrics and /healthz, served by the daemon when ``[metrics] listen`` is set.

Each daemon has its own registry (no prometheus_client global state), so tests and
reloads never see another instance's numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.models import MessageRow, TicketRow
from sources import Source
from sources.stream import StreamSource


class _DatabaseCollector(Collector):
    """Tickets and queued messages, read from the database at scrape time, so every
    replica reports the same truth."""

    def __init__(self, sessions: Callable[[], sessionmaker[Session]]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tickets = GaugeMetricFamily("monitor_tickets", "Tickets by severity and status", labels=["severity", "status"])
        messages = GaugeMetricFamily("monitor_messages", "Alert messages by delivery status (queued ones are waiting or retrying)", labels=["status"])
        with self.sessions()() as session:
            for severity, status, count in session.execute(select(TicketRow.severity, TicketRow.status, func.count()).group_by(TicketRow.severity, TicketRow.status)):
                tickets.add_metric([severity, status], count)
            for status, count in session.execute(select(MessageRow.status, func.count()).group_by(MessageRow.status)):
                messages.add_metric([status], count)
        yield tickets
        yield messages


class _StreamCollector(Collector):
    """Each stream source's status, read from the running source at scrape time."""

    def __init__(self, sources: Callable[[], Mapping[str, Source]]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        connected = GaugeMetricFamily("monitor_stream_connected", "1 while a stream source's connection is open", labels=["source"])
        lag = GaugeMetricFamily("monitor_stream_lag_seconds", "Now minus the time of the last event a stream source read", labels=["source"])
        rate = GaugeMetricFamily("monitor_stream_events_per_second", "Events a stream source read per second, over the last 10 s", labels=["source"])
        events = CounterMetricFamily("monitor_stream_events", "Events a stream source read since its reader started", labels=["source"])
        reconnects = CounterMetricFamily("monitor_stream_reconnects", "Times a stream source's connection was opened again", labels=["source"])
        dropped = CounterMetricFamily("monitor_stream_dropped", "Changed posts a stream source dropped because its buffer was full", labels=["source"])
        for name, source in sorted(self.sources().items()):
            if not isinstance(source, StreamSource):
                continue
            status = source.status()
            connected.add_metric([name], 1.0 if status.connected else 0.0)
            if status.lag_seconds is not None:
                lag.add_metric([name], status.lag_seconds)
            rate.add_metric([name], status.events_per_second)
            events.add_metric([name], status.events)
            reconnects.add_metric([name], status.reconnects)
            dropped.add_metric([name], status.dropped)
        yield from (connected, lag, rate, events, reconnects, dropped)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter("monitor_source_polls", "Polls per source and outcome (ok, failed, waiting)", ["source", "outcome"], registry=self.registry)
        self.poll_seconds = Histogram("monitor_source_poll_seconds", "Time one poll of a source takes, fetch to stored", ["source"], registry=self.registry)
        self.posts = Counter("monitor_posts_ingested", "New posts stored, per source", ["source"], registry=self.registry)
        self.mentions = Counter("monitor_mentions", "Posts matched to a brand, per source (re-reads included)", ["source"], registry=self.registry)
        self.alert_latency = Histogram(
            "monitor_alert_latency_seconds",
            "From the first sighting of a ticket's first post to its first alert message being sent",
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )

    def watch_database(self, sessions: Callable[[], sessionmaker[Session]]) -> None:
        self.registry.register(_DatabaseCollector(sessions))

    def watch_streams(self, sources: Callable[[], Mapping[str, Source]]) -> None:
        """Report the stream sources' status (``sources`` is read at each scrape, so a
        reload's sources are the ones reported)."""
        self.registry.register(_StreamCollector(sources))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(metrics: Metrics, host: str, port: int, healthy: Callable[[], str | None]) -> WSGIServer:
    """Serve ``/metrics`` and ``/healthz`` (200 "ok", or 503 with the reason) in a thread."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            try:
                problem = healthy()
            except Exception as exc:  # the check itself failing is the answer
                problem = f"{exc.__class__.__name__}: {exc}"
            status = "200 OK" if problem is None else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [("ok\n" if problem is None else f"{problem}\n").encode()]
        return prometheus(environ, start_response)

    server = make_server(host, port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
