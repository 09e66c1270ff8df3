"""The JSON API against its own OpenAPI description (schemathesis): generated requests,
signed in and with the CSRF header, never make the server fail, and every answer matches
what the description promises."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from monitor.web.console import create_app
from tests.webkit import client_for, crisis, sign_in

BASE = "https://monitor.example.com"


def test_the_api_never_fails_and_keeps_its_description(tmp_path, loopback, make_app, clock, tokenizers):
    world = crisis(tmp_path, loopback, make_app, clock, tokenizers)
    client = client_for(world.console)
    assert sign_in(client).status_code == 303
    headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar), "X-CSRF-Token": client.get("/api/me").json()["csrf"]}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(world.console))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /api/tickets", "GET /api/tickets/{ticket_id}", "POST /api/tickets/{ticket_id}/{action}", "GET /api/mentions", "GET /api/sources"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, base_url=BASE)

        check()


def test_signed_out_calls_are_refused_not_failed(tmp_path, loopback, make_app, clock, tokenizers):
    world = crisis(tmp_path, loopback, make_app, clock, tokenizers)
    plain = client_for(world.console)
    for path in ("/api/tickets", f"/api/tickets/{world.urgent}", "/api/mentions", "/api/sources", "/api/me"):
        answer = plain.get(path)
        assert answer.status_code == 401 and "sign in" in answer.json()["detail"]


def test_mentions_of_a_brand_that_is_not_configured_are_none_even_with_a_nul_in_its_name(tmp_path, loopback, make_app, clock, tokenizers):
    """Found by schemathesis on PostgreSQL: `?brand=%00` reached the database, which refuses NUL."""
    world = crisis(tmp_path, loopback, make_app, clock, tokenizers)
    client = client_for(world.console)
    assert sign_in(client).status_code == 303
    assert client.get("/api/mentions", params={"brand": "艾克美", "hours": 24 * 31}).json()  # the brand's own are there
    for name in ("\x00", "nobody", "艾克美\x00"):
        response = client.get("/api/mentions", params={"brand": name})
        assert response.status_code == 200 and response.json() == []
        assert client.get("/mentions", params={"brand": name}).status_code == 200


def test_free_text_with_a_nul_is_stored_on_any_database(tmp_path, loopback, make_app, clock, tokenizers):
    """A NUL in a note, an owner or a demand failed with a 500 on PostgreSQL."""
    world = crisis(tmp_path, loopback, make_app, clock, tokenizers)
    client = client_for(world.console)
    assert sign_in(client).status_code == 303
    csrf = client.get("/api/me").json()["csrf"]
    for action, body in (("note", {"note": "电话\x00已回访"}), ("assign", {"owner": "王\x00经理"}), ("demand", {"text": "退\x00款"})):
        answer = client.post(f"/api/tickets/{world.urgent}/{action}", json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200, (action, answer.text[:200])
    timeline = client.get(f"/api/tickets/{world.urgent}").text
    assert "电话已回访" in timeline and "\\u0000" not in timeline
