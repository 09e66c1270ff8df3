"""Console users: names and argon2id password hashes in the database.

argon2-cffi's defaults (RFC 9106 low-memory profile) are what OWASP recommends; a hash
made with older parameters is upgraded at the next sign-in.
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import UserRow

MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("an unguessable placeholder for absent users")


class UserError(Exception):
    """A request about users that cannot be done; the message is fit to show a user."""


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise UserError("a user name is 1–200 characters / 用户名长度 1–200")
    return name


def add_user(session: Session, name: str, password: str, now: datetime, *, replace: bool = False) -> UserRow:
    """Create a user (or, with ``replace``, set a new password for one)."""
    name = _clean_name(name)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters / 密码至少 {MIN_PASSWORD} 位")
    user = session.scalar(select(UserRow).where(UserRow.name == name))
    if user is not None and not replace:
        raise UserError(f"user {name!r} exists (--reset sets a new password) / 用户已存在")
    if user is None:
        user = UserRow(name=name, created_at=now)
        session.add(user)
    user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def remove_user(session: Session, name: str) -> None:
    user = session.scalar(select(UserRow).where(UserRow.name == _clean_name(name)))
    if user is None:
        raise UserError(f"no user {name!r} / 没有该用户")
    session.delete(user)


def authenticate(session: Session, name: str, password: str, now: datetime) -> UserRow | None:
    """The user if the password is right. An unknown name costs the same time as a wrong
    password, so sign-in does not tell which names exist."""
    user = session.scalar(select(UserRow).where(UserRow.name == " ".join(name.split())))
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    return user
