"""The benchmarks are not tests, but they must run where docs/benchmarks.md says they do: a peer
that is not installed is skipped with a line saying why, never a traceback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a bench's dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_polling_bench_skips_rss2email_with_a_line_when_it_is_not_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    polling = _bench("polling")
    assert polling.r2e(["http://127.0.0.1:9/0.xml"], tmp_path, exe=tmp_path / "r2e") is None
    [line] = capsys.readouterr().out.strip().splitlines()
    assert "skipped" in line and "rss2email is not installed" in line and "install -e '.[bench]'" in line


def test_the_polling_bench_skips_an_rss2email_that_does_not_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    polling = _bench("polling")
    broken = tmp_path / "r2e"
    broken.write_text(f"#!{sys.executable}\nraise SystemExit('no module named rss2email')\n")
    broken.chmod(0o755)
    assert polling.r2e(["http://127.0.0.1:9/0.xml"], tmp_path, exe=broken) is None
    [line] = capsys.readouterr().out.strip().splitlines()
    assert "skipped" in line and "exited 1" in line and "no module named rss2email" in line


def test_the_forecast_bench_skips_with_a_line_when_the_cascades_are_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forecast = _bench("forecast")
    assert forecast.main(["--data", str(tmp_path)]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("skipped") and "--data" in line
