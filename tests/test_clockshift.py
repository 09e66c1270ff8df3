"""CI's second run moves the wall clock of every process the tests start: prove it did,
so a run that silently failed to move it cannot pass for one that did."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import pytest

SHIFT = os.environ.get("MONITOR_TEST_CLOCK_SHIFT")


@pytest.mark.skipif(not SHIFT, reason="only in the run with the clock moved (MONITOR_TEST_CLOCK_SHIFT)")
def test_this_process_and_a_child_in_another_folder_see_the_moved_clock():
    """Wall clock minus monotonic clock is the same for every process of one machine, until
    the wall clock is moved: then it differs by the shift. Here and in a child started in
    another folder it must be moved alike, and by the shift."""
    probe = "import time; print(time.time() - time.monotonic())"
    child = subprocess.run([sys.executable, "-c", probe], cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60, check=True)
    untouched = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60, check=True)  # -S: no sitecustomize
    here = time.time() - time.monotonic()
    shift = timedelta(days=float(SHIFT or 0)).total_seconds()
    assert abs(float(child.stdout) - here) < 60
    assert abs(here - float(untouched.stdout) - shift) < 60
