"""A console over a real App with a crisis in it, for the web tests: one urgent ticket
(a scald, with hostile markup in its text and author) and one normal one."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from monitor.app import App
from monitor.storage.models import TicketRow
from monitor.web.console import Console, create_app
from monitor.web.users import add_user
from tests.conftest import FakeClock, mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
SECRET = b"test secret for the console, 32+ bytes long"
PASSWORD = "correct horse battery"
HOSTILE_TEXT = '孩子被艾克美杯子烫伤 <script>alert("x")</script> & "quotes"'
HOSTILE_AUTHOR = '"><img src=x onerror=alert(1)>'
WEB = '\n[web]\nlisten = "127.0.0.1:8080"\nbase_url = "https://monitor.example.com"\n'


@dataclass
class Crisis:
    app: App
    console: Console
    config: Path
    urgent: int
    normal: int


def crisis(tmp_path: Path, loopback: Any, make_app: Any, clock: FakeClock, tokenizers: Any, web: str = WEB) -> Crisis:
    config = write_config(tmp_path, mastodon_source(loopback.base), web)
    app = make_app(config)
    text = html.escape(HOSTILE_TEXT)  # Mastodon sends HTML: this is what reaches the post's plain text
    loopback.json(TIMELINE, [status("1", "艾克美保温杯漏水，客服不管"), status("2", text, who=HOSTILE_AUTHOR, favs=20)])
    app.poll("masto")
    clock.advance(minutes=10)
    loopback.json(TIMELINE, [status("1", "艾克美保温杯漏水，客服不管"), status("2", text, who=HOSTILE_AUTHOR, favs=90, reblogs=30)])
    app.poll("masto")
    console = Console(
        config=lambda: app.config, sessions=app.sessions, read_sessions=app.read_sessions, secret=SECRET, clock=clock, tokenizers=tokenizers,
        write_lock=app.write_lock,
    )
    with app.sessions() as session:
        add_user(session, "王经理", PASSWORD, clock())
        session.commit()
    with app.read_sessions() as session:
        by_severity = {t.severity: t.id for t in session.scalars(select(TicketRow))}
    return Crisis(app, console, config, by_severity["urgent"], by_severity["normal"])


def client_for(console: Console) -> TestClient:
    return TestClient(create_app(console), base_url="https://monitor.example.com", follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str = "王经理", password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf_of(page.text), "next": "/"})
