"""The ``monitor`` command: ``cli`` is the click group, ``main`` the console script."""

from monitor.cli.commands import cli, main

__all__ = ["cli", "main"]
