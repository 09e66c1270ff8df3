"""Saving config.toml reloads it without a restart: the file is watched, a changed one is
loaded and checked, and only a valid one is applied. A bad one is refused with its
problems logged, and the running configuration stays."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from monitor.config import Config, ConfigError, load_config
from sources import Source

log = logging.getLogger("monitor.daemon")


class ConfigReloader:
    def __init__(self, path: str | os.PathLike[str], kinds: Mapping[str, type[Source]]) -> None:
        self.path = Path(path)
        self.kinds = kinds
        self._stamp: tuple[int, int] | None = None

    def load(self) -> Config:
        """The first load (raises ConfigError); a save from now on is a change."""
        self._stamp = self._file_stamp()
        return load_config(self.path, self.kinds)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def changed(self) -> bool:
        """Was the file saved since the last look?"""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def reload(self, running: Config, apply: Callable[[Config], object]) -> Config | None:
        """Re-read the file and ``apply`` it; on any problem log it and return None (the
        running config stays). What only a restart can change is kept as it runs."""
        try:
            config = load_config(self.path, self.kinds)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config reload refused: %s", problem)
            log.error("config reload refused: keeping the previous configuration")
            return None
        if config.metrics != running.metrics:
            log.warning("config reload: [metrics] changed; that takes effect after a restart")
        if config.monitor.database != running.monitor.database:
            log.warning("config reload: monitor.database changed; that takes effect after a restart")
            config = replace(config, monitor=replace(config.monitor, database=running.monitor.database))
        try:
            apply(config)
        except Exception:
            log.exception("config reload failed; keeping the previous configuration")
            return None
        return config
