"""Serving the console from inside ``monitor run``: uvicorn in a thread of its own, so a
slow page never delays a poll and a stuck poll never delays a page."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("monitor.web")


class WebServer:
    def __init__(self, app: FastAPI, host: str, port: int, trusted_proxies: tuple[str, ...] = ("127.0.0.1",)) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
            proxy_headers=True, forwarded_allow_ips=",".join(trusted_proxies),
            timeout_graceful_shutdown=3, limit_concurrency=200, h11_max_incomplete_event_size=64 * 1024,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="web-console", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn's way of saying it could not bind; start() reports it
            pass

    def start(self, timeout: float = 10.0) -> None:
        """Listening when it returns; ``OSError`` when the address cannot be had."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the web console cannot listen on {self._server.config.host}:{self._server.config.port} (in use, or not an address of this machine?)")
            time.sleep(0.01)

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the OS chose for port 0)."""
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
