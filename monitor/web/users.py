"""Console users: names and argon2id password hashes in the database.

argon2-cffi's defaults (RFC 9106 low-memory profile) are what OWASP recommends; a hash
made with older parameters is upgraded at the next sign-in. Checking a password costs
tens of milliseconds of CPU on purpose, so it runs on a read session without the
daemon's write lock, and only a successful sign-in writes (briefly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import RequestRefused
from monitor.storage.models import UserRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
_hasher = PasswordHasher()


@cache
def _dummy() -> str:
    """A hash to check unknown names against (made when first needed: it costs ~50 ms)."""
    return _hasher.hash("an unguessable placeholder for absent users")


class UserError(RequestRefused):
    """A request about users that cannot be done; the message is fit to show a user."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    name: str
    epoch: int
    rehash: bool


def clean_name(name: str) -> str:
    """Whitespace folded, as typed at sign-in, on the command line and in the timeline."""
    return " ".join(name.split())


def _checked_name(name: str) -> str:
    name = clean_name(name)
    if not name or len(name) > 200:
        raise UserError("a user name is 1–200 characters / 用户名长度 1–200")
    return name


def add_user(session: Session, name: str, password: str, now: datetime, *, replace: bool = False) -> UserRow:
    """Create a user, or with ``replace`` set a new password, which ends every session
    the user has open (stolen cookies included)."""
    name = _checked_name(name)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"the password needs {MIN_PASSWORD}–{MAX_PASSWORD} characters / 密码至少 {MIN_PASSWORD} 位")
    user = session.scalar(select(UserRow).where(UserRow.name == name))
    if user is not None and not replace:
        raise UserError(f"user {name!r} exists (--reset sets a new password) / 用户已存在")
    if user is None:
        user = UserRow(name=name, created_at=now, session_epoch=0)
        session.add(user)
    else:
        user.session_epoch = (user.session_epoch or 0) + 1
    user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def remove_user(session: Session, name: str) -> None:
    user = session.scalar(select(UserRow).where(UserRow.name == _checked_name(name)))
    if user is None:
        raise UserError(f"no user {name!r} / 没有该用户")
    session.delete(user)


def check_password(session: Session, name: str, password: str) -> SignedIn | None:
    """Who signs in, if the password is right (read-only). An unknown name costs the same
    time as a wrong password, so sign-in does not tell which names exist."""
    user = session.scalar(select(UserRow).where(UserRow.name == clean_name(name)))
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    return SignedIn(user.name, user.session_epoch or 0, _hasher.check_needs_rehash(user.password_hash))


def record_sign_in(session: Session, signed_in: SignedIn, password: str, now: datetime) -> None:
    user = session.scalar(select(UserRow).where(UserRow.name == signed_in.name))
    if user is None:
        return
    if signed_in.rehash:
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now


def session_epoch(session: Session, name: str) -> int | None:
    """The user's current epoch; ``None`` when the user no longer exists."""
    return session.scalar(select(UserRow.session_epoch).where(UserRow.name == name))
