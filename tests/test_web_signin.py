"""The sign-in throttle under concurrency: many wrong passwords sent at once against a
real console get no more password checks than the throttle allows (issue 14, item 7)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import monitor.web.pages
from tests.webkit import PASSWORD, client_for, crisis, csrf_of, sign_in

GUESSES = 60


@pytest.fixture
def world(tmp_path, loopback, make_app, clock, tokenizers):
    return crisis(tmp_path, loopback, make_app, clock, tokenizers)


def test_concurrent_wrong_passwords_get_only_the_allowed_password_checks(world, monkeypatch):
    checks: list[str] = []
    real_check = monitor.web.pages.check_password

    def counted(session, name, password):  # the argon2 check the sign-in route calls
        checks.append(password)
        return real_check(session, name, password)

    monkeypatch.setattr(monitor.web.pages, "check_password", counted)
    clients = [client_for(world.console) for _ in range(GUESSES)]
    tokens = [csrf_of(c.get("/login").text) for c in clients]
    start = threading.Barrier(GUESSES, timeout=60)

    def guess(i: int) -> int:
        start.wait()  # all at once
        data = {"name": "王经理", "password": f"wrong guess {i:04}", "csrf": tokens[i], "next": "/"}
        return clients[i].post("/login", data=data).status_code

    with ThreadPoolExecutor(GUESSES) as pool:
        codes = list(pool.map(guess, range(GUESSES)))

    limit = world.console.throttle.limit
    assert len(checks) <= limit, f"{len(checks)} password checks for {GUESSES} concurrent guesses"
    assert codes.count(401) == len(checks) and set(codes) <= {401, 429, 503}
    assert codes.count(429) >= GUESSES - limit - codes.count(503)
    # the right password is refused too while the pair is throttled …
    assert sign_in(clients[0], password=PASSWORD).status_code == 429
    assert len(checks) <= limit


def test_a_right_password_forgets_the_attempts(world):
    client = client_for(world.console)
    limit = world.console.throttle.limit
    for _ in range(limit - 1):
        assert sign_in(client, password="wrong password!").status_code == 401
    assert sign_in(client).status_code == 303
    other = client_for(world.console)
    for _ in range(limit):
        assert sign_in(other, password="wrong password!").status_code == 401
    assert sign_in(other, password="wrong password!").status_code == 429


def test_busy_answers_are_not_counted_as_guesses(world):
    """When every password-check slot is taken the console answers 503 "busy" without
    trying the password: that is no guess, so a person who met it ``limit`` times still
    signs in (it used to lock them out for the window)."""
    console = world.console
    client = client_for(console)
    console.hashing_wait = 0.01
    taken = [console.hashing.acquire(timeout=1) for _ in range(2)]
    assert all(taken)
    try:
        for _ in range(console.throttle.limit + 2):
            assert sign_in(client).status_code == 503
    finally:
        for _ in taken:
            console.hashing.release()
    assert sign_in(client).status_code == 303
