"""Dependencies point one way (issue 15): the interfaces (cli, web) sit on the stages
(ingest, tickets, delivery, report, tuning), the stages on detection and storage, all of
it on ``sources``, ``alerts``, ``weburl``, ``httpdeadline`` and ``retryafter``, which never import ``monitor``.

The imports are read from the source with ``ast``, without importing anything: every
``import`` and ``from … import`` of every module under monitor/, sources/, alerts/,
weburl/, httpdeadline/ and retryafter/, at any depth (imports inside functions too, and those under ``TYPE_CHECKING``:
no exemption is needed today). The test fails on an import cycle between modules and on
an import that goes up the layer table below.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "sources", "alerts", "weburl", "httpdeadline", "retryafter")

LAYERS: dict[str, int] = {
    # A module belongs to the longest entry that is its name or a package above it. It may
    # import modules of its own entry and of entries with a lower rank; entries of equal
    # rank are siblings that do not import each other.
    "weburl": 0,  # what a safe web address is: sources and alerts both ask
    "httpdeadline": 0,  # one deadline on a whole HTTP request: sources and alerts both hold to it
    "retryafter": 0,  # what a Retry-After header asks for: sources and alerts both read it so
    "sources": 1,
    "alerts": 1,
    "monitor.clock": 2,  # shared utilities of every stage
    "monitor.durations": 2,
    "monitor.errors": 2,
    "monitor.keys": 2,  # issue and idempotency keys: built and parsed in one place, standard library only
    "monitor.config": 3,  # settings as data (reads durations)
    "monitor.storage": 4,
    "monitor.detect": 5,
    "monitor.metrics": 5,  # counters the poller records into; reads storage models at scrape time
    "monitor.tickets": 6,  # tells delivery what changed through tickets.port, never imports it
    "monitor.delivery": 7,
    "monitor.ingest": 8,  # the pipeline raises tickets; the poller runs it
    "monitor.report": 9,
    "monitor.tuning": 9,
    "monitor.jobs": 10,  # the daemon's rounds beside polling: delivery, clocks, retention
    "monitor.reloader": 10,
    "monitor.app": 11,  # the composition root
    "monitor.web": 11,  # the console works on the stages and the database, not on App
    "monitor.daemon": 12,  # runs App, its jobs and the console
    "monitor.cli": 13,
    "monitor": 14,  # the package itself and ``python -m monitor``
}

EXCEPTIONS: dict[tuple[str, str], str] = {
    # (importer's entry or module, imported module): why it may go up
    ("monitor.config", "monitor.detect.query"): "a brand's query is parsed when the config loads, so a bad "
    "one fails `monitor check` naming its key; query.py is pure (it imports only detect.textnorm)",
    ("monitor.config", "monitor.storage.db"): "the database URL is checked and its password kept out of "
    "messages when the config loads (make_url_safe, secret_parameters: pure functions of a URL)",
}


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _ours(name: str) -> str | None:
    """The module of ours an imported name is (``monitor.web.api`` for ``from monitor.web
    import api``; the package for a name defined in its ``__init__``), else None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Iterator[tuple[str, int]]:
    path, is_package = MODULES[module]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package up
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _ours(name)
            if target is not None and target != module:
                yield target, node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """Each module's imports of ours, with the line of the first import of each."""
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES:
        targets = graph[module] = {}
        for target, line in _imports(module):
            targets[target] = min(line, targets.get(target, line))
    return graph


GRAPH = _graph()


def _layer(module: str) -> str | None:
    entries = [entry for entry in LAYERS if module == entry or module.startswith(entry + ".")]
    return max(entries, key=len, default=None)


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_no_import_goes_up_the_layers():
    upward = []
    for module, targets in GRAPH.items():
        mine = _layer(module)
        assert mine is not None
        for target, line in targets.items():
            theirs = _layer(target)
            assert theirs is not None
            if theirs == mine or LAYERS[theirs] < LAYERS[mine]:
                continue
            if any((module == who or module.startswith(who + ".")) and target == what for who, what in EXCEPTIONS):
                continue
            upward.append(f"{MODULES[module][0].relative_to(ROOT)}:{line}: {module} ({mine}, {LAYERS[mine]}) imports {target} ({theirs}, {LAYERS[theirs]})")
    assert not upward, "\n".join(upward)


def test_sources_and_alerts_never_import_monitor():
    assert [(m, t) for m, targets in GRAPH.items() if m.split(".")[0] in ("sources", "alerts", "weburl", "httpdeadline", "retryafter") for t in targets if t.split(".")[0] == "monitor"] == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_walk_sees_what_it_must():
    """The walk itself: function-level, relative and package imports are all found."""
    assert "monitor.web.console" in GRAPH["monitor.daemon"]  # inside Daemon._start_console
    assert {"monitor.web.api", "monitor.web.pages"} <= set(GRAPH["monitor.web.console"])  # from monitor.web import api, pages
    assert "sources" in GRAPH["monitor.app"]  # a name from sources/__init__.py
    assert _layer("monitor.storage.migrations.env") == "monitor.storage"
