"""``monitor users …``: who may sign in to the web console."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from monitor.cli.common import Fail, open_session
from monitor.clock import utcnow
from monitor.storage.models import UserRow
from monitor.web.users import MIN_PASSWORD, UserError, add_user, remove_user


@click.group()
def users() -> None:
    """Console users / 控制台用户."""


@users.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input (for scripts) instead of asking.")
@click.option("--reset", is_flag=True, help="The user exists: set a new password.")
@click.pass_context
def users_add(ctx: click.Context, name: str, password_stdin: bool, reset: bool) -> None:
    """Create a user (the password is asked for, never given on the command line) / 添加用户."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"password for {name} / 密码 (≥ {MIN_PASSWORD})", hide_input=True, confirmation_prompt=True)
    with open_session(ctx) as (_config, session):
        try:
            user = add_user(session, name, password, utcnow(), replace=reset)
        except UserError as exc:
            raise Fail(str(exc)) from None
        session.commit()
        click.echo(f"user {user.name} {'updated' if reset else 'added'} / 用户已{'更新' if reset else '添加'}")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Users and when they last signed in / 用户列表."""
    with open_session(ctx) as (config, session):
        rows = list(session.scalars(select(UserRow).order_by(UserRow.name)))
        if not rows:
            click.echo("no users: add one with `monitor users add NAME` / 尚无用户")
        tz = config.monitor.timezone
        for user in rows:
            last = user.last_login_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never / 从未"
            click.echo(f"{user.name:<24} last sign-in {last}")


@users.command("remove")
@click.argument("name")
@click.pass_context
def users_remove(ctx: click.Context, name: str) -> None:
    """Remove a user: their sessions end at their next click / 删除用户."""
    with open_session(ctx) as (_config, session):
        try:
            remove_user(session, name)
        except UserError as exc:
            raise Fail(str(exc)) from None
        session.commit()
        click.echo(f"user {name} removed / 用户已删除")
