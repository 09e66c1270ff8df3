"""The long-lived service: APScheduler 3.x in a thread pool, jobs rebuilt from config.

Concurrency model: sync ``httpx.Client`` calls in a pool of threads. Polling is I/O
bound and small; the sync client costs ~2 ms CPU per request where the async one costs
12–22 ms under concurrency (encode/httpx#3215), and feedparser is CPU work a thread pool
overlaps with other sources' network waits just as well. Each source is its own job
(``max_instances=1``: a slow source never overlaps itself nor delays another); one
delivery job, one reminder job, one job that watches ``config.toml``.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import App
from monitor.clock import Clock, utcnow
from monitor.config import Config
from monitor.detect.matching import TokenizerFactory
from monitor.errors import MonitorError
from monitor.ingest.pipeline import IngestReport
from monitor.metrics import Metrics, serve
from monitor.reloader import ConfigReloader
from monitor.storage.db import make_engine, make_url_safe, migrate
from sources import HttpPolicy, PoliteHttp, Source, new_client, source_kinds

if TYPE_CHECKING:
    from monitor.web.server import WebServer


class SpreadInterval(IntervalTrigger):
    """Every ``seconds``, on a grid that starts one interval and ``phase`` seconds from now
    (the daemon polls each source once at start, off the grid): sources spread over a
    tenth of their interval (at most 30 s), each keeping its interval.
    APScheduler's own ``jitter`` is added to the previous run, itself jittered, so it
    accumulates: with ``every = "1m"`` a source was polled every 63 s on average, and a
    soak's polls per minute fell from 200 to about 190, dipping to 175 while every
    source's drift passed a whole minute (issue 14, item 11)."""

    def __init__(self, seconds: float, phase: float, *, start: datetime | None = None) -> None:
        super().__init__(seconds=seconds, start_date=start or utcnow() + timedelta(seconds=seconds + phase), timezone="UTC")

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None:
            return super().get_next_fire_time(None, now)
        # the grid point after the previous run (as IntervalTrigger, but from the grid)
        return super().get_next_fire_time(None, previous_fire_time + timedelta(microseconds=1))


def changed_interval_start(next_run: datetime, old: timedelta, new: timedelta, now: datetime) -> datetime:
    """Where a source's grid starts when a reload changes its ``every``: one *new* interval
    after its last poll, at once if that is already past, and on the same phase. Counting
    the new interval from the reload instead made "poll every 30m instead of every 1h",
    saved 50 minutes after a poll, wait 80 minutes for the next one."""
    return max(now, next_run - old + new)


log = logging.getLogger("monitor.daemon")

CLOCK_TICK = timedelta(minutes=1)
"""How often the clocks (reminders, repeats, escalation, follow-up, the digest) run."""


class ListenError(MonitorError, OSError):
    """The console's or the metrics' address cannot be had (taken by another process, or
    not an address of this machine): a problem the user can fix, told in one line."""


class Daemon:
    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        clock: Clock = utcnow,
        kinds: Mapping[str, type[Source]] | None = None,
        http: PoliteHttp | None = None,
        tokenizers: TokenizerFactory | None = None,
        deliver_every: float = 5.0,
        watch_every: float = 2.0,
        workers: int = 16,
    ) -> None:
        self.config_path = Path(config_path)
        self.clock = clock
        self.kinds = dict(kinds) if kinds is not None else source_kinds()
        self._own_http = http is None
        self.http = http or PoliteHttp(new_client(HttpPolicy()))
        self.tokenizers = tokenizers or TokenizerFactory()
        self.deliver_every = deliver_every
        self.watch_every = watch_every
        # Sources get their own pool; delivery, reminders and the config watcher get another,
        # so hung sources can never hold up an alert or a reload.
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers), "control": ThreadPoolExecutor(3)}, timezone="UTC"
        )
        self.app: App | None = None
        self._server: WSGIServer | None = None
        self.web: WebServer | None = None
        self._heartbeat = time.monotonic()
        self.reloader = ConfigReloader(self.config_path, self.kinds)
        self._stopped = threading.Event()
        self._delivery_lock = threading.Lock()
        self._delivering = False
        self._deliver_again = False

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> App:
        """Load config, migrate the database, schedule every job. Raises ConfigError,
        DatabaseError, or ListenError when the console or metrics address cannot be had."""
        config = self.reloader.load()
        for warning in config.warnings():
            log.warning("config: %s", warning)
        engine = make_engine(config.monitor.database)
        migrate(engine)
        metrics = Metrics() if config.metrics else None
        # without MONITOR_WEB_SECRET a made-up secret still signs this process's links and
        # sessions (config.warnings() has said they end at restart)
        link_secret = None if config.web is None else (config.web.secret() or "").encode("utf-8") or secrets.token_bytes(32)
        self.app = App(
            config, engine=engine, http=self.http, kinds=self.kinds, clock=self.clock, tokenizers=self.tokenizers, metrics=metrics, link_secret=link_secret
        )
        if metrics is not None and config.metrics is not None:
            app = self.app
            metrics.watch_database(lambda: app.read_sessions)
            metrics.watch_streams(lambda: app.sources)
            try:
                self._server = serve(metrics, config.metrics.host, config.metrics.port, self.health_problem)
            except OSError as exc:
                raise ListenError(f"metrics cannot listen on {config.metrics.host}:{config.metrics.port} ({exc.strerror or exc})") from None
            log.info("metrics on http://%s:%d/metrics, health on /healthz", config.metrics.host, config.metrics.port)
        if link_secret is not None:
            self._start_console(config, link_secret)
        self._schedule_sources(config)
        control = {"executor": "control", "max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self.scheduler.add_job(self._deliver, "interval", seconds=self.deliver_every, id="deliver", next_run_time=utcnow(), **control)
        self.scheduler.add_listener(self._after_delivery, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.add_job(self._remind, "interval", seconds=CLOCK_TICK.total_seconds(), id="remind", next_run_time=utcnow(), **control)
        self._schedule_repeats(config)
        self.scheduler.add_job(self._watch_config, "interval", seconds=self.watch_every, id="watch-config", **control)
        self.scheduler.add_job(self._prune, "interval", hours=6, id="prune", next_run_time=utcnow(), **control)
        self.scheduler.start()
        log.info("monitor started: %d source(s), %d brand(s), database %s", len(config.sources), len(config.brands), make_url_safe(engine.url))
        return self.app

    def stop(self) -> None:
        """Stop scheduling at once; let a running ingest finish its transaction; never wait
        on a hung HTTP read (the fetch result is simply dropped and re-fetched next start)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.app is not None:
            self.app.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.web is not None:
            self.web.stop()
        if self.app is not None:
            self.app.quiesce()
            self.app.close()
            self.app.engine.dispose()
        if self._own_http:
            self.http.client.close()
        log.info("monitor stopped")

    def _start_console(self, config: Config, secret: bytes) -> None:
        from monitor.web.console import Console, create_app  # the web stack loads only when [web] is set
        from monitor.web.server import WebServer

        app = self.app
        assert app is not None and config.web is not None
        console = Console(
            config=lambda: app.config, sessions=app.sessions, read_sessions=app.read_sessions, secret=secret, clock=self.clock,
            tokenizers=self.tokenizers, write_lock=app.write_lock, changed=self._wake_delivery,
        )
        self.web = WebServer(create_app(console), config.web.host, config.web.port, config.web.trusted_proxies)
        try:
            self.web.start()
        except OSError as exc:
            raise ListenError(str(exc)) from None
        log.info("web console on %s (listening on %s:%d)", config.web.base_url, config.web.host, self.web.port)

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # -- jobs ---------------------------------------------------------------------------

    def _schedule_sources(self, config: Config) -> None:
        wanted = {f"source:{s.name}": s for s in config.sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("source:") and job.id not in wanted:
                job.remove()
        for job_id, source in wanted.items():
            seconds = source.every.total_seconds()
            trigger = SpreadInterval(seconds, random.uniform(0, min(seconds * 0.1, 30.0)))
            existing = self.scheduler.get_job(job_id)
            if existing is not None:
                interval = getattr(existing.trigger, "interval", None)
                if interval != timedelta(seconds=seconds):
                    if interval is not None and existing.next_run_time is not None:
                        start = changed_interval_start(existing.next_run_time, interval, source.every, utcnow())
                        trigger = SpreadInterval(seconds, 0.0, start=start)
                    existing.reschedule(trigger)
                continue
            self.scheduler.add_job(
                self._poll, trigger, args=[source.name], id=job_id,
                max_instances=1, coalesce=True, misfire_grace_time=max(1, int(seconds)), next_run_time=utcnow(),
            )

    def _schedule_repeats(self, config: Config) -> None:
        """The clocks run every minute; a route whose ``repeat_interval`` is shorter (say
        ``urgent = "8s"``) has repeats looked for at half that interval in between, so an
        unacknowledged ticket is told again after about its repeat_interval, not a minute."""
        shortest = min((every for route in config.routes for every in route.repeat_interval.values()), default=CLOCK_TICK)
        job = self.scheduler.get_job("repeat")
        if shortest >= CLOCK_TICK:
            if job is not None:
                job.remove()
            return
        seconds = max(1.0, shortest.total_seconds() / 2)
        if job is None:
            self.scheduler.add_job(
                self._repeat, "interval", seconds=seconds, id="repeat", executor="control", max_instances=1, coalesce=True, misfire_grace_time=None,
            )
        elif getattr(job.trigger, "interval", None) != timedelta(seconds=seconds):
            job.reschedule("interval", seconds=seconds)

    def _repeat(self) -> None:
        assert self.app is not None
        try:
            repeats = self.app.repeat()
        except Exception:
            log.exception("repeat cycle failed")
            return
        if repeats:
            self._wake_delivery()

    def _poll(self, name: str) -> None:
        assert self.app is not None
        job = self.scheduler.get_job(f"source:{name}")
        try:
            report = self.app.poll(name, next_poll=job.next_run_time if job else None)
        except Exception:
            log.exception("source %s: unexpected error in the poll cycle", name)
            return
        if isinstance(report, IngestReport) and report.tickets:
            self._wake_delivery()

    def _wake_delivery(self) -> None:
        """A poll that touched a ticket may have queued an urgent message: deliver now
        rather than at the next tick of the delivery job (up to ``deliver_every`` later).
        While a round is running it is asked for one more instead: waking the job then
        would only log "skipped: maximum number of running instances", once per poll. A
        wake-up that slips in after a round ended but before APScheduler counted it as
        ended is caught by ``_after_delivery``."""
        with self._delivery_lock:
            self._deliver_again = True
            if self._delivering:
                return
        try:
            self.scheduler.modify_job("deliver", next_run_time=utcnow())
        except Exception:  # stopping: the job is gone; nothing to hurry
            pass

    def health_problem(self) -> str | None:
        """None when healthy, else why not: the scheduler stopped, the control jobs are
        stuck (no delivery round for a while), or the database does not answer."""
        if not self.scheduler.running:
            return "scheduler is not running"
        stalled = time.monotonic() - self._heartbeat
        if stalled > max(60.0, 10 * self.deliver_every):
            return f"no delivery round for {stalled:.0f}s: the scheduler is stuck"
        assert self.app is not None
        with self.app.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None

    def _deliver(self) -> None:
        assert self.app is not None
        with self._delivery_lock:
            self._delivering = True
        try:
            while True:
                with self._delivery_lock:
                    self._deliver_again = False
                self._heartbeat = time.monotonic()
                try:
                    self.app.deliver()
                except Exception:
                    log.exception("delivery cycle failed")
                with self._delivery_lock:
                    if not self._deliver_again or self._stopped.is_set():
                        return
        finally:
            with self._delivery_lock:
                self._delivering = False

    def _after_delivery(self, event: JobExecutionEvent) -> None:
        """APScheduler counts a round as ended only after it returned, and tells listeners
        after that: a wake-up in between was refused as "already running"; run it now."""
        if event.job_id != "deliver" or self._stopped.is_set():
            return
        with self._delivery_lock:
            again = self._deliver_again and not self._delivering
        if again:
            self._wake_delivery()

    def _remind(self) -> None:
        assert self.app is not None
        try:
            self.app.remind()
        except Exception:
            log.exception("reminder cycle failed")

    def _prune(self) -> None:
        assert self.app is not None
        try:
            self.app.prune()
        except Exception:
            log.exception("retention cycle failed")

    def _watch_config(self) -> None:
        if self.reloader.changed():
            self.reload()

    def reload(self) -> bool:
        """Re-read config.toml; on any problem log it and keep the running config."""
        assert self.app is not None
        config = self.reloader.reload(self.app.config, self.app.apply)
        if config is None:
            return False
        self._schedule_sources(config)
        self._schedule_repeats(config)
        log.info("config reloaded: %d source(s), %d brand(s)", len(config.sources), len(config.brands))
        return True
