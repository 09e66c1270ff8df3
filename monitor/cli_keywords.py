"""``monitor keywords test``: try a keyword list or a query on stored posts before putting
it in config.toml."""

from __future__ import annotations

import json
import click
from sqlalchemy import select

from .cli_common import Fail, load, open_engine
from .clock import utcnow
from .config import BrandConfig
from .db import read_session_factory
from .durations import parse_duration
from .matching import Matcher, TokenizerFactory
from .models import PostRow
from .query import QuerySyntaxError
from .query import parse as parse_query


@click.group()
def keywords() -> None:
    """Try keywords on history / 关键词测试."""


@keywords.command("test")
@click.argument("words")
@click.option("--query", "as_query", is_flag=True, help="WORDS is a boolean query (AND, OR, NOT, \"phrases\", NEAR/n), not a list of words.")
@click.option("--exclude", multiple=True, help="A word that makes a post not a mention (repeat for several).")
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back to look.")
@click.option("--limit", default=20, show_default=True, help="Posts to show.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the matching posts.")
@click.pass_context
def keywords_test(ctx: click.Context, words: str, as_query: bool, exclude: tuple[str, ...], since_text: str, limit: int, as_json: bool) -> None:
    """Which stored posts WORDS (space-separated keywords, or a query) would match, with the
    crisis terms each carries, newest first / 用历史帖子测试关键词."""
    try:
        since = parse_duration(since_text)
    except ValueError as exc:
        raise Fail(f"--since: {exc} / 时长无效", code=2) from None
    query = None
    if as_query:
        try:
            query = parse_query(words)
        except QuerySyntaxError as exc:
            raise Fail(f"query: {exc.message} at column {exc.column} / 查询语法错误", code=2) from None
    brand = BrandConfig("test", () if as_query else tuple(words.split()), tuple(exclude), query)
    if not brand.keywords and brand.query is None:
        raise Fail("no keywords given / 请给出关键词", code=2)
    config = load(ctx)
    matcher = Matcher([brand], config.crisis, TokenizerFactory().new())
    engine = open_engine(config)
    found, scanned = [], 0
    try:
        with read_session_factory(engine)() as session:
            rows = session.scalars(select(PostRow).where(PostRow.first_seen_at >= utcnow() - since).order_by(PostRow.first_seen_at.desc()))
            for post in rows:
                scanned += 1
                for mention in matcher.match(post.text):
                    found.append((post, mention))
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([
            {"url": p.url, "source": p.source, "seen_at": p.first_seen_at.isoformat(), "text": p.text, "categories": list(m.categories), "denied_terms": list(m.negated)}
            for p, m in found[:limit]
        ], ensure_ascii=False, indent=2))
        return
    tz = config.monitor.timezone
    click.echo(f"{len(found)} of {scanned} posts from the last {since_text} match / 条帖子匹配")
    for post, mention in found[:limit]:
        cats = ", ".join(mention.categories) or "–"
        click.echo(f"  {post.first_seen_at.astimezone(tz):%m-%d %H:%M}  [{cats}]  {' '.join(post.text.split())[:100]}  {post.url}")
    if len(found) > limit:
        click.echo(f"  … {len(found) - limit} more (--limit) / 另有更多")

