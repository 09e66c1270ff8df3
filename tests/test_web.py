"""The web console through FastAPI's test client: what a manager and a PR lead see and do."""

from __future__ import annotations

import email
import time
from datetime import timedelta
from email import policy
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli.commands import cli
from monitor.storage.models import EventRow, TicketRow
from tests.webkit import HOSTILE_AUTHOR, PASSWORD, client_for, crisis, csrf_of, sign_in


@pytest.fixture
def world(tmp_path, loopback, make_app, clock, tokenizers):
    return crisis(tmp_path, loopback, make_app, clock, tokenizers)


def status_of(world, ticket_id):
    with world.app.read_sessions() as session:
        return session.get(TicketRow, ticket_id).status


def timeline(world, ticket_id):
    with world.app.read_sessions() as session:
        return [(e.kind, e.actor) for e in session.scalars(select(EventRow).where(EventRow.ticket_id == ticket_id).order_by(EventRow.id))]


def test_everything_but_sign_in_and_links_needs_a_user(world):
    client = client_for(world.console)
    for path in ("/", "/tickets?status=all", f"/tickets/{world.urgent}", "/mentions", "/sources", "/tester"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    assert client.get("/api/tickets").status_code == 401
    assert client.post(f"/api/tickets/{world.urgent}/ack", json={}).status_code == 401
    assert client.get("/login").status_code == 200


def test_sign_in_then_inbox_lists_urgent_first_and_the_ticket_page_explains(world):
    client = client_for(world.console)
    refused = sign_in(client, password="wrong password!")
    assert refused.status_code == 401 and ("用户名或密码错误" in refused.text or "Wrong user name" in refused.text)
    assert sign_in(client).status_code == 303
    inbox = client.get("/", headers={"accept-language": "en"})
    assert inbox.status_code == 200
    assert inbox.text.index(f"/tickets/{world.urgent}") < inbox.text.index(f"/tickets/{world.normal}")
    assert "Open tickets" in inbox.text
    page = client.get(f"/tickets/{world.urgent}")
    assert page.status_code == 200
    assert "<svg" in page.text and "polyline" in page.text  # the engagement curve, drawn inline
    assert "烫伤" in page.text and "safety" in page.text  # why it fired
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["referrer-policy"] == "no-referrer"


def test_chinese_by_default_or_by_browser_and_switchable(world):
    client = client_for(world.console)
    sign_in(client)
    assert "待处理工单" in client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert "Open tickets" in client.get("/", headers={"accept-language": "en-GB,en;q=0.8"}).text
    client.get("/lang/zh?next=/")
    assert "待处理工单" in client.get("/", headers={"accept-language": "en"}).text


def test_actions_from_the_page_land_in_the_timeline_with_the_users_name(world):
    client = client_for(world.console)
    sign_in(client)
    token = csrf_of(client.get(f"/tickets/{world.urgent}").text)
    assert client.post(f"/tickets/{world.urgent}/ack", data={"csrf": token}).status_code == 303
    assert client.post(f"/tickets/{world.urgent}/assign", data={"csrf": token, "owner": "李娜"}).status_code == 303
    assert client.post(f"/tickets/{world.urgent}/note", data={"csrf": token, "note": "已联系家长"}).status_code == 303
    refused = client.post(f"/tickets/{world.urgent}/resolve", data={"csrf": token, "note": ""}, follow_redirects=True)
    assert "note" in refused.text or "说明" in refused.text  # the refusal is shown, nothing changed
    assert status_of(world, world.urgent) == "acknowledged"
    assert client.post(f"/tickets/{world.urgent}/resolve", data={"csrf": token, "note": "道歉并退款"}).status_code == 303
    assert status_of(world, world.urgent) == "resolved"
    assert client.post(f"/tickets/{world.urgent}/reopen", data={"csrf": token, "note": "家长再次投诉"}).status_code == 303
    assert status_of(world, world.urgent) == "open"
    events = timeline(world, world.urgent)
    for kind in ("acknowledged", "assigned", "note", "resolved", "reopened"):
        assert (kind, "王经理") in events
    page = client.get(f"/tickets/{world.urgent}").text
    assert "已联系家长" in page and "王经理" in page


def test_forms_without_the_csrf_token_are_refused(world):
    client = client_for(world.console)
    sign_in(client)
    client.get(f"/tickets/{world.urgent}")
    assert client.post(f"/tickets/{world.urgent}/ack", data={}).status_code == 403
    assert client.post(f"/tickets/{world.urgent}/ack", data={"csrf": "forged-token-from-another-site"}).status_code == 403
    assert status_of(world, world.urgent) == "open"
    other = client_for(world.console)  # a sign-in form posted from elsewhere (login CSRF)
    assert other.post("/login", data={"name": "王经理", "password": PASSWORD}).status_code == 403
    # the API wants the token in a header
    assert client.post(f"/api/tickets/{world.urgent}/ack", json={}).status_code == 403
    assert status_of(world, world.urgent) == "open"


def test_sign_in_never_redirects_off_site(world):
    client = client_for(world.console)
    page = client.get("/login?next=//evil.example/x")
    answer = client.post("/login", data={"name": "王经理", "password": PASSWORD, "csrf": csrf_of(page.text), "next": "//evil.example/x"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_signed_ack_link_works_once_and_refuses_altered_or_expired(world, clock):
    signer = world.console.signer()
    link = signer.ack_url(world.urgent, "management", clock())
    path = urlparse(link).path
    client = client_for(world.console)  # no sign-in: the link is the credential
    confirm = client.get(path)
    assert confirm.status_code == 200 and 'id="confirm-ack"' in confirm.text
    assert status_of(world, world.urgent) == "open"  # looking (or a mail scanner fetching) changes nothing
    done = client.post(path)
    assert done.status_code == 200 and 'id="link-done"' in done.text
    assert status_of(world, world.urgent) == "acknowledged"
    assert ("acknowledged", "management (alert link / 预警链接)") in timeline(world, world.urgent)
    again = client.post(path)
    assert again.status_code == 410 and 'id="link-used"' in again.text
    assert client.get(path).status_code == 410

    fresh = urlparse(signer.ack_url(world.normal, "pr", clock())).path
    payload, signature = fresh.removeprefix("/l/").split(".")
    other_ticket = signer.token(world.urgent, "ack", "pr", clock()).split(".")[0]
    for altered in (f"{other_ticket}.{signature}", f"{payload}.{signature[:-2]}AA", f"{payload}x.{signature}", "garbage", "a.b"):
        answer = client.post(f"/l/{altered}")
        assert answer.status_code == 403 and 'id="link-tampered"' in answer.text, altered
    assert status_of(world, world.normal) == "open"
    clock.advance(hours=72, seconds=1)
    expired = client.post(fresh)
    assert expired.status_code == 410 and 'id="link-expired"' in expired.text
    assert status_of(world, world.normal) == "open"


def test_alert_mail_carries_the_ticket_page_and_a_working_ack_link(tmp_path, loopback, make_app, clock, tokenizers, monkeypatch):
    monkeypatch.setenv("MONITOR_WEB_SECRET", "a secret from the environment, 32 bytes or more")
    world = crisis(tmp_path, loopback, make_app, clock, tokenizers)
    world.console.secret = b"a secret from the environment, 32 bytes or more"
    assert world.app.deliver().sent >= 2
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in (tmp_path / "outbox").rglob("*") if p.is_file()]
    urgent = [m for m in mails if f"https://monitor.example.com/tickets/{world.urgent}" in m.get_body(("plain",)).get_content()]
    assert urgent, "no mail links to the urgent ticket's page"
    message = urgent[0]
    text = message.get_body(("plain",)).get_content()
    link = next(word for word in text.split() if word.startswith("https://monitor.example.com/l/"))
    html = message.get_body(("html",)).get_content()
    assert f'href="https://monitor.example.com/tickets/{world.urgent}"' in html
    client = client_for(world.console)
    assert client.post(urlparse(link).path).status_code == 200
    assert status_of(world, world.urgent) == "acknowledged"


def test_post_text_and_author_are_escaped_everywhere(world):
    client = client_for(world.console)
    sign_in(client)
    pages = {
        "ticket": client.get(f"/tickets/{world.urgent}").text,
        "mentions": client.get("/mentions").text,
        "tester": run_tester(client, words="艾克美", days=7).text,
        "link": client.get(urlparse(world.console.signer().ack_url(world.urgent, "pr", world.console.now())).path).text,
    }
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        assert "<img src=x" not in html, name
        assert "&lt;script&gt;" in html, name
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages["ticket"] or "&#34;&gt;&lt;img" in pages["ticket"]
    api = client.get(f"/api/tickets/{world.urgent}").json()
    assert any(p["author"] == HOSTILE_AUTHOR for p in api["posts"])  # JSON carries it as data, untouched


def test_links_to_posts_are_only_http(world):
    with world.app.sessions() as session:
        from monitor.storage.models import PostRow

        for post in session.scalars(select(PostRow)):
            post.url = "javascript:alert(document.cookie)"
        session.commit()
    client = client_for(world.console)
    sign_in(client)
    for path in (f"/tickets/{world.urgent}", "/mentions"):
        assert "javascript:" not in client.get(path).text


def test_mentions_and_sources_pages(world):
    client = client_for(world.console)
    sign_in(client)
    mentions = client.get("/mentions", params={"brand": "艾克美", "hours": 24})
    assert mentions.status_code == 200 and "漏水" in mentions.text and f"/tickets/{world.urgent}" in mentions.text
    sources = client.get("/sources")
    assert sources.status_code == 200 and "masto" in sources.text and "mastodon" in sources.text
    assert [s["name"] for s in client.get("/api/sources").json()] == ["masto"]
    listed = client.get("/api/mentions", params={"hours": 24}).json()
    assert {m["post"]["text"][:4] for m in listed} >= {"艾克美保"}



def test_sources_page_shows_a_streams_health(world):
    """A stream's connection state, lag, rate and reconnects are on the console's sources
    page as in `monitor sources`: down shows as overdue."""
    with world.app.sessions() as session:
        from monitor.storage.models import SourceStateRow

        row = session.get(SourceStateRow, "masto") or SourceStateRow(name="masto", kind="mastodon")
        row.kind = "mastodon"
        row.stream = {"connected": False, "since": None, "lag_seconds": 12.5, "events_per_second": 840.0, "reconnects": 3, "dropped": 7}
        session.add(row)
        session.commit()
    client = client_for(world.console)
    sign_in(client)
    page = client.get("/sources").text
    assert 'class="stream overdue"' in page
    for shown in ("已断开", "12.5 s", "840.0", "3 重连", "7 丢弃"):
        assert shown in page, shown
    assert client.get("/api/sources").json()[0]["stream"]["reconnects"] == 3

def run_tester(client, headers=None, **fields):
    token = csrf_of(client.get("/tester").text)
    return client.post("/tester", data={"csrf": token, **fields}, headers=headers or {})


def test_keyword_tester_shows_matches_and_the_tickets_a_new_list_would_raise(world):
    client = client_for(world.console)
    sign_in(client)
    narrow = run_tester(client, brand="艾克美", words="保温杯", days=7)
    assert narrow.status_code == 200
    assert "漏水" in narrow.text and "alert(" not in narrow.text
    # "保温杯" alone misses the scald post (it says 杯子): that urgent ticket would not be raised
    assert "- would not raise" in run_tester(client, {"accept-language": "en"}, brand="艾克美", words="保温杯", days=7).text
    bad = run_tester(client, brand="艾克美", query="(艾克美 AND", days=7)
    assert bad.status_code == 200 and "column" in bad.text


def test_json_api_lists_shows_and_changes_with_the_csrf_header(world):
    client = client_for(world.console)
    sign_in(client)
    me = client.get("/api/me").json()
    assert me["user"] == "王经理"
    listed = client.get("/api/tickets").json()
    assert [t["id"] for t in listed][0] == world.urgent and listed[0]["severity"] == "urgent"
    detail = client.get(f"/api/tickets/{world.urgent}").json()
    assert detail["posts"] and detail["posts"][0]["curve"] and detail["reasons"]
    headers = {"x-csrf-token": me["csrf"]}
    refused = client.post(f"/api/tickets/{world.urgent}/resolve", json={"note": ""}, headers=headers)
    assert refused.status_code == 409 and "note" in refused.json()["detail"]
    done = client.post(f"/api/tickets/{world.urgent}/resolve", json={"note": "退款并道歉"}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert client.get("/api/tickets/99999").status_code == 404
    schema = client.get("/api/openapi.json").json()
    assert {"/api/tickets", "/api/tickets/{ticket_id}", "/api/mentions", "/api/sources"} <= set(schema["paths"])
    assert not any(path.startswith("/tickets") for path in schema["paths"])  # pages are not API


def test_users_cli_adds_lists_and_removing_a_user_ends_their_session(world):
    runner = CliRunner()
    added = runner.invoke(cli, ["-c", str(world.config), "users", "add", "李娜", "--password-stdin"], input="a long enough password\n")
    assert added.exit_code == 0, added.output
    short = runner.invoke(cli, ["-c", str(world.config), "users", "add", "赵六", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "10" in short.output
    listed = runner.invoke(cli, ["-c", str(world.config), "users", "list"])
    assert "李娜" in listed.output and "王经理" in listed.output
    client = client_for(world.console)
    assert sign_in(client, "李娜", "a long enough password").status_code == 303
    assert client.get("/").status_code == 200
    assert runner.invoke(cli, ["-c", str(world.config), "users", "remove", "李娜"]).exit_code == 0
    assert client.get("/").status_code == 303


def test_session_cookie_is_http_only_lax_secure_and_expires(world, clock):
    client = client_for(world.console)
    answer = sign_in(client)
    flags = answer.headers["set-cookie"].lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    cookie = next(c for c in client.cookies.jar if c.name == "monitor_session")
    assert cookie.secure  # base_url is https
    assert cookie.expires is not None and cookie.expires - time.time() <= timedelta(hours=12).total_seconds() + 5


def test_monitor_run_serves_the_console_and_mail_links_into_it(tmp_path, loopback, http, monkeypatch):
    """The daemon itself serves ``[web]``; the links in its mail open its pages."""
    import httpx

    from monitor.daemon import Daemon
    from tests.conftest import free_port, mastodon_source, status, wait_until, write_config
    from tests.test_daemon import TIMELINE, _now

    monkeypatch.setenv("MONITOR_WEB_SECRET", "from the environment, shared by all replicas")
    port = free_port()
    loopback.json(TIMELINE, [status("1", "孩子用艾克美保温杯被烫伤了", created=_now())])
    config = write_config(tmp_path, mastodon_source(loopback.base, every="1s"), f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    daemon = Daemon(config, http=http, deliver_every=0.5)
    daemon.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/login").status_code == 200
        wait_until(lambda: len(list((tmp_path / "outbox").glob("*.eml"))) == 2)
        mail = email.message_from_bytes(next((tmp_path / "outbox").glob("*.eml")).read_bytes(), policy=policy.default)
        text = mail.get_body(("plain",)).get_content()
        link = next(word for word in text.split() if word.startswith(f"{base}/l/"))
        assert f"{base}/tickets/1" in text
        assert httpx.get(link).status_code == 200
        assert httpx.post(link).status_code == 200
        with daemon.app.read_sessions() as session:
            assert session.get(TicketRow, 1).status == "acknowledged"
    finally:
        daemon.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/login")


def test_check_warns_when_the_console_has_no_secret(tmp_path, monkeypatch):
    from tests.conftest import write_config

    monkeypatch.delenv("MONITOR_WEB_SECRET", raising=False)
    config = write_config(tmp_path, '\n[web]\nlisten = "127.0.0.1:8080"\nlanguage = "fr"\nbase_url = "ftp://x"\ntrusted_proxies = ["10.0.0.0/8", "proxy"]\n')
    bad = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert bad.exit_code == 2 and "web.language" in bad.output and "web.base_url" in bad.output and "web.trusted_proxies" in bad.output
    config = write_config(tmp_path, '\n[web]\nlisten = "127.0.0.1:8080"\nbase_url = "https://example.com/monitor"\n')
    assert "without a path" in CliRunner().invoke(cli, ["-c", str(config), "check"]).output
    monkeypatch.setenv("MONITOR_WEB_SECRET", "short")
    config = write_config(tmp_path, '\n[web]\nlisten = "127.0.0.1:8080"\n')
    weak = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert weak.exit_code == 2 and "fewer than 32 bytes" in weak.output
    monkeypatch.delenv("MONITOR_WEB_SECRET")
    config = write_config(tmp_path, '\n[web]\nlisten = "0.0.0.0:8080"\n')
    assert "only works on this machine" in CliRunner().invoke(cli, ["-c", str(config), "check"]).output
    config = write_config(tmp_path, '\n[web]\nlisten = "127.0.0.1:8080"\n')
    ok = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert ok.exit_code == 0 and "MONITOR_WEB_SECRET is not set" in ok.output


def test_password_guessing_is_slowed_down(world, clock):
    client = client_for(world.console)
    for _ in range(5):
        assert sign_in(client, password="a wrong guess").status_code == 401
    blocked = sign_in(client)  # even the right password waits: the guesser must not learn it
    assert blocked.status_code == 429 and ("15" in blocked.text)
    assert client.get("/").status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert sign_in(client).status_code == 303
    assert client.get("/").status_code == 200


def test_a_link_mailed_before_a_reopening_does_not_acknowledge_the_flare_up(world, clock):
    old = urlparse(world.console.signer().ack_url(world.urgent, "pr", clock(), reopens=0)).path
    client = client_for(world.console)
    sign_in(client)
    token = csrf_of(client.get(f"/tickets/{world.urgent}").text)
    client.post(f"/tickets/{world.urgent}/resolve", data={"csrf": token, "note": "退款"})
    clock.advance(hours=30)
    sign_in(client)  # the sign-in of yesterday has run out
    token = csrf_of(client.get(f"/tickets/{world.urgent}").text)
    client.post(f"/tickets/{world.urgent}/reopen", data={"csrf": token, "note": "又有人投诉"})
    assert status_of(world, world.urgent) == "open"
    stale = client_for(world.console).post(old)
    assert stale.status_code == 410 and 'id="link-stale"' in stale.text and f"/tickets/{world.urgent}" in stale.text
    assert status_of(world, world.urgent) == "open"
    fresh = urlparse(world.console.signer().ack_url(world.urgent, "pr", clock(), reopens=1)).path
    assert client_for(world.console).post(fresh).status_code == 200
    assert status_of(world, world.urgent) == "acknowledged"


def test_a_link_to_a_ticket_someone_already_acknowledged_says_who_and_changes_nothing(world, clock):
    link = urlparse(world.console.signer().ack_url(world.urgent, "management", clock())).path
    client = client_for(world.console)
    sign_in(client)
    client.post(f"/tickets/{world.urgent}/ack", data={"csrf": csrf_of(client.get(f"/tickets/{world.urgent}").text)})
    for answer in (client_for(world.console).get(link), client_for(world.console).post(link)):
        assert answer.status_code == 200 and 'id="link-already"' in answer.text and "王经理" in answer.text
        assert 'id="confirm-ack"' not in answer.text
    assert [kind for kind, _who in timeline(world, world.urgent)].count("acknowledged") == 1


def test_a_session_ends_after_session_ttl_and_when_the_password_is_reset(world, clock):
    client = client_for(world.console)
    sign_in(client)
    clock.advance(hours=11)
    assert client.get("/").status_code == 200
    clock.advance(hours=1, seconds=1)
    assert client.get("/").status_code == 303  # 12 h after sign-in, however active
    sign_in(client)
    stolen = dict(client.cookies)
    reset = CliRunner().invoke(cli, ["-c", str(world.config), "users", "add", "王经理", "--reset", "--password-stdin"], input="a brand new password\n")
    assert reset.exit_code == 0, reset.output
    thief = client_for(world.console)
    thief.cookies.update(stolen)
    assert thief.get("/").status_code == 303


def test_after_signing_in_again_a_form_post_lands_on_its_ticket_page(world):
    client = client_for(world.console)
    answer = client.post(f"/tickets/{world.urgent}/ack", data={"csrf": "x"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/login?next=%2Ftickets%2F{world.urgent}"


def test_oversized_or_absurd_requests_are_refused_cleanly(world):
    client = client_for(world.console)
    big = client.post(f"/api/tickets/{world.urgent}/ack", content=b"x" * (300 * 1024), headers={"content-type": "application/json"})
    assert big.status_code == 413
    sign_in(client)
    assert client.get("/tickets/99999999999999999999").status_code == 422
    token = csrf_of(client.get(f"/tickets/{world.urgent}").text)
    long_owner = client.post(f"/tickets/{world.urgent}/assign", data={"csrf": token, "owner": "王" * 500})
    assert long_owner.status_code == 422 and "<html" in long_owner.text
    with world.app.read_sessions() as session:
        assert session.get(TicketRow, world.urgent).owner is None


def test_the_inbox_keeps_urgent_tickets_when_there_are_more_than_it_shows(world, clock):
    from monitor.web.views import inbox

    with world.app.sessions() as session:
        for i in range(5):
            session.add(TicketRow(brand="艾克美", issue_key=f"x{i}", open_key=f"艾克美|x{i}", title=f"n{i}", severity="normal", status="open",
                                  categories=[], reasons=[], opened_at=clock(), due_at=clock() - timedelta(hours=1)))
        session.commit()
        rows, total = inbox(session, clock(), limit=3)
    assert total == 7 and rows[0]["id"] == world.urgent and rows[0]["severity"] == "urgent"


def test_run_says_so_in_one_line_when_the_console_port_is_taken(tmp_path):
    import socket

    from tests.conftest import write_config

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
        result = CliRunner().invoke(cli, ["-c", str(config), "run"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output


def test_run_names_any_other_start_up_failure_without_blaming_a_port(tmp_path, monkeypatch):
    """Only a taken address is "port taken"; a file the daemon cannot open at start is said
    as itself (``run`` used to call every OSError a port in use)."""
    from monitor.daemon import Daemon
    from tests.conftest import write_config

    def refused(self):
        raise PermissionError(13, "Permission denied", "/var/lib/monitor/monitor.db")

    monkeypatch.setattr(Daemon, "start", refused)
    result = CliRunner().invoke(cli, ["-c", str(write_config(tmp_path, "")), "run"])
    assert result.exit_code == 1
    assert "Permission denied: '/var/lib/monitor/monitor.db'" in result.output
    assert "端口" not in result.output and "listen" not in result.output and "Traceback" not in result.output
