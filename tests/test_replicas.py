"""Several `monitor run` processes on one database share the work and never do it twice.

These run on the database under test: SQLite by default (several processes on one
host), PostgreSQL when MONITOR_TEST_DATABASE_URL is set (replicas on several hosts)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime

from conftest import real_now, rss_source, smtp_block, wait_until, write_config
from sqlalchemy import select

from monitor.app import Elsewhere
from monitor.storage.leases import Leases
from monitor.storage.models import LeaseRow, MessageRow, TicketRow

FEEDS = 30


def _feed(n: int, when: datetime) -> bytes:
    date = format_datetime(when)
    items = "".join(
        f"<item><title>艾克美保温杯烫伤 {n}-{i}</title><link>https://news.test/{n}/{i}</link><guid>{n}-{i}</guid><pubDate>{date}</pubDate>"
        f"<description>孩子被艾克美保温杯烫伤了，记者已介入 {n}-{i}</description></item>"
        for i in range(3)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f{n}</title>{items}</channel></rss>'.encode()


class Watch:
    """Counts requests per feed, and the most that were ever in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()

    def route(self, path: str, body: bytes):
        def answer():
            with self.lock:
                self.in_flight[path] += 1
                self.hits[path] += 1
                self.most[path] = max(self.most[path], self.in_flight[path])
            time.sleep(0.01)  # server-side latency, so that overlapping polls would show
            with self.lock:
                self.in_flight[path] -= 1
            return 200, {"Content-Type": "application/rss+xml"}, body

        return answer


def test_three_replicas_poll_every_source_once_open_each_ticket_once_and_send_each_message_once(tmp_path, loopback, make_app, clock, smtp):
    watch = Watch()
    sources = []
    for n in range(FEEDS):
        path = f"/feed/{n}.xml"
        loopback.routes[path] = watch.route(path, _feed(n, clock.now))
        sources.append(rss_source(f"{loopback.base}{path}", f"feed{n}", every="1m"))
    config = write_config(tmp_path, *sources, smtp_block(smtp.port))
    replicas = [make_app(config) for _ in range(3)]
    assert len({app.leases.owner for app in replicas}) == 3

    rounds = 3
    for _ in range(rounds):
        outcomes: list[object] = []
        gate = threading.Barrier(3)

        def run(app):
            gate.wait(10)  # noqa: B023 - the threads are joined within this round
            outcomes.extend(app.poll_all().values())  # noqa: B023
            app.deliver()

        threads = [threading.Thread(target=run, args=(app,)) for app in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(1 for o in outcomes if not isinstance(o, Elsewhere)) == FEEDS  # each source polled by exactly one replica
        clock.advance(minutes=1)

    assert set(watch.hits.values()) == {rounds}  # every source polled every round, never twice
    assert max(watch.most.values()) == 1  # never by two replicas at once
    for app in replicas:
        app.deliver()
    with replicas[0].sessions() as s:
        tickets = s.scalars(select(TicketRow)).all()
        keys = [t.open_key for t in tickets]
        sizes = [len(t.posts) for t in tickets]
        sent = s.scalars(select(MessageRow).where(MessageRow.status == "sent")).all()
        holders = Counter(lease.owner for lease in s.scalars(select(LeaseRow).where(LeaseRow.name.like("source:%"))))
    assert keys and len(keys) == len(set(keys))  # 30 feeds raced on one issue: one ticket
    assert sizes == [FEEDS * 3]
    received = Counter(m["X-Monitor-Key"] for m in smtp.wait_for(len(sent)))
    assert len(sent) >= 2 and set(received.values()) == {1} and len(received) == len(sent)  # every message once
    assert sum(holders.values()) == FEEDS


def test_a_lease_held_elsewhere_is_taken_over_only_when_it_runs_out(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path))
    here = Leases(app.writer, clock, owner="host-a:1:aaaaaa")
    there = Leases(app.writer, clock, owner="host-b:2:bbbbbb")
    assert here.acquire("source:x", timedelta(minutes=2)) is not None
    assert there.acquire("source:x", timedelta(minutes=2)) is None
    clock.advance(minutes=1)
    assert here.acquire("source:x", timedelta(minutes=2)).previous_owner is None  # the holder renews
    clock.advance(minutes=1, seconds=59)
    assert there.acquire("source:x", timedelta(minutes=2)) is None
    clock.advance(seconds=2)  # host-a stopped renewing: its lease ran out
    taken = there.acquire("source:x", timedelta(minutes=2))
    assert taken is not None and taken.previous_owner == "host-a:1:aaaaaa"
    assert here.acquire("source:x", timedelta(minutes=2)) is None
    there.release_all()  # a clean stop hands it back at once
    assert here.acquire("source:x", timedelta(minutes=2)) is not None


def test_a_replica_killed_mid_round_has_its_sources_taken_over_when_its_leases_run_out_and_loses_nothing(tmp_path, loopback, make_app, clock, caplog):
    """A `monitor run` process is SIGKILLed while it holds every source. Its leases stay
    its own until they run out (every + lease_grace after its last poll: whether a holder is
    alive is told by its renewals alone, never by looking for its PID); then another replica
    takes the sources over and ingests what the dead one had not stored."""
    clock.now = real_now()  # the killed `monitor run` reads the real clock: both replicas must agree on the time
    for n in range(5):
        loopback.routes[f"/feed/{n}.xml"] = (200, {"Content-Type": "application/rss+xml"}, _feed(n, clock.now))
    config = write_config(tmp_path, *[rss_source(f"{loopback.base}/feed/{n}.xml", f"feed{n}", every="1s") for n in range(5)])
    config.write_text(config.read_text(encoding="utf-8").replace("[monitor]\n", '[monitor]\nlease_grace = "4s"\n', 1), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], cwd=config.parent, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    app = make_app(config)
    try:
        def held_by_first():
            holders = app.leases.holders()
            return len([n for n, (owner, _) in holders.items() if n.startswith("source:") and owner.endswith(f":{first.pid}")]) == 5

        wait_until(held_by_first, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    held = {name: holder for name, holder in app.leases.holders().items() if name.startswith("source:")}
    leases = {name: until for name, (_, until) in held.items()}
    clock.now = min(leases.values()) - timedelta(seconds=1)
    assert all(isinstance(o, Elsewhere) for o in app.poll_all().values())  # the dead replica's leases still hold
    wait_until(lambda: real_now() >= max(leases.values()), timeout=30)  # no replica renews them: they run out
    clock.now = real_now()
    caplog.set_level(logging.INFO, logger="monitor")
    outcomes = app.poll_all()
    [dead] = {owner for owner, _ in held.values()}
    assert sum(f"taken over from replica {dead}" in r.getMessage() for r in caplog.records) == 5
    assert not any(isinstance(o, Elsewhere) for o in outcomes.values())  # all five taken over
    assert all(o is not None for o in outcomes.values())
    owners = {owner for name, (owner, _) in app.leases.holders().items() if name.startswith("source:")}
    assert owners == {app.leases.owner}
    with app.sessions() as s:
        [ticket] = s.scalars(select(TicketRow)).all()
        assert len(ticket.posts) == 5 * 3  # what the dead replica stored, plus the rest


def _gone_pid() -> int:
    """The id of a process that has ended: on this host, nobody answers to it."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(child.stdout)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    raise AssertionError(f"pid {pid} was reused at once")


def test_a_holder_whose_pid_is_not_visible_here_keeps_its_lease_until_it_expires(tmp_path, make_app, clock):
    """Two containers with host networking share one host name but not their PIDs: a
    holder whose PID this replica cannot see may well be alive. Only its lease running out
    (it stopped renewing) frees the source; otherwise both replicas poll everything."""
    app = make_app(write_config(tmp_path))
    pid = _gone_pid()
    here = Leases(app.writer, clock)
    # the holder is on "this" host with a PID we cannot see: as a replica of this version
    # names itself, and as older replicas did (host:pid:random) in a database being upgraded
    for owner in (f"0123456789ab@{socket.gethostname()}:{pid}", f"{socket.gethostname()}:{pid}:cccccc"):
        there = Leases(app.writer, clock, owner=owner)
        name = f"source:{owner}"
        assert there.acquire(name, timedelta(minutes=2)) is not None
        assert here.acquire(name, timedelta(minutes=2)) is None  # alive as far as anyone can tell
        clock.advance(minutes=1, seconds=59)
        assert here.acquire(name, timedelta(minutes=2)) is None
        clock.advance(seconds=1)  # it stopped renewing: now it is taken over
        taken = here.acquire(name, timedelta(minutes=2))
        assert taken is not None and taken.previous_owner == owner
