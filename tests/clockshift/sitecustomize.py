"""Moves the wall clock of every Python process the tests start, for CI's second run:

    MONITOR_TEST_CLOCK_SHIFT=400 PYTHONPATH=tests/clockshift python -m pytest

Python imports ``sitecustomize`` from ``PYTHONPATH`` at start-up, and subprocesses (the CLI,
``monitor run`` replicas, the demo) inherit the environment, so all of them see the same
moved clock. ``time.time`` and ``datetime.now`` move (time-machine patches them at the C
level); the monotonic clock does not, so timeouts and waits behave. libfaketime moves the
monotonic clock too, and Python's timed waits (``sem_clockwait``) then never wake up.
"""

from __future__ import annotations

import os
from datetime import UTC

_DAYS = os.environ.get("MONITOR_TEST_CLOCK_SHIFT")
if _DAYS:
    from datetime import datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(_DAYS)), tick=True).start()
