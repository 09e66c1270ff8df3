"""``monitor cases search TEXT``: how a problem was solved before, found by a word of the
resolution note, the title or the posts.

Registered on the ``monitor`` group by ``cli.py`` (``cli.add_command(cases)``).
"""

from __future__ import annotations

import json
from datetime import tzinfo

import click

from monitor.cli.common import Fail, load, open_engine
from monitor.storage.db import read_session_factory
from monitor.tickets.cases import FoundCase, search_cases


@click.group()
def cases() -> None:
    """Past cases: how the same problem was solved before / 历史案例."""


@cases.command("search")
@click.argument("text")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many cases / 最多显示条数.")
@click.option("--brand", default=None, help="Only cases of this brand / 只看该品牌.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array (for scripts).")
@click.pass_context
def cases_search(ctx: click.Context, text: str, limit: int, brand: str | None, as_json: bool) -> None:
    """Resolved cases whose resolution note, title or posts contain TEXT, newest first / 搜索历史案例."""
    if not text.strip():
        raise Fail("the search text is empty / 搜索内容为空", code=2)
    config = load(ctx)
    engine = open_engine(config)
    try:
        # a read session: on SQLite it takes no write lock, so a running daemon is not held up
        with read_session_factory(engine)() as session:
            found = search_cases(session, text, limit, brand=brand)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([case.as_dict() for case in found], ensure_ascii=False, indent=2))
        return
    shown = _flat(text)
    if not found:
        click.echo(f'no resolved case mentions "{shown}" / 没有相关案例')
        return
    click.echo(f'{len(found)} resolved case(s) mentioning "{shown}", newest first / 相关案例 {len(found)} 个:')
    for case in found:
        click.echo(_format(case, config.monitor.timezone))


def _flat(text: str) -> str:
    """One line: a note's line breaks must not forge lines of the listing."""
    return " ".join(text.split())


def _format(case: FoundCase, tz: tzinfo) -> str:
    from monitor.durations import human_duration

    resolved = case.resolved_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            f"  #{case.ticket_id}  解决 resolved {resolved}  用时 took {human_duration(case.took)}  {_flat(case.brand)}: {_flat(case.title)}",
            f"      处理结果 resolution: {_flat(case.resolution) or '–'}",
            f"      类别 categories: {', '.join(case.categories) or '–'} · 匹配 found in: {', '.join(case.matched)}",
        ]
    )
