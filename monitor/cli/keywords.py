"""``monitor keywords test``: try a keyword list or a query on stored posts before putting
it in config.toml."""

from __future__ import annotations

import json

import click

from monitor.cli.common import Fail, load, open_engine
from monitor.clock import utcnow
from monitor.detect.matching import TokenizerFactory
from monitor.detect.query import QuerySyntaxError
from monitor.durations import parse_duration
from monitor.storage.db import read_session_factory
from monitor.tuning.tryout import candidate_brand, matching_posts


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
    try:
        brand = candidate_brand("test", words, exclude, as_query=as_query)
    except QuerySyntaxError as exc:
        raise Fail(f"query: {exc.message} at column {exc.column} / 查询语法错误", code=2) from None
    except ValueError as exc:
        raise Fail(str(exc), code=2) from None
    config = load(ctx)
    engine = open_engine(config)
    try:
        with read_session_factory(engine)() as session:
            found, scanned = matching_posts(session, config, brand, utcnow() - since, TokenizerFactory())
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([
            {
                "url": f.post.url, "source": f.post.source, "seen_at": f.post.first_seen_at.isoformat(), "text": f.post.text,
                "categories": list(f.mention.categories), "denied_terms": list(f.mention.negated),
            }
            for f in found[:limit]
        ], ensure_ascii=False, indent=2))
        return
    tz = config.monitor.timezone
    click.echo(f"{len(found)} of {scanned} posts from the last {since_text} match / 条帖子匹配")
    for f in found[:limit]:
        post, cats = f.post, ", ".join(f.mention.categories) or "–"
        click.echo(f"  {post.first_seen_at.astimezone(tz):%m-%d %H:%M}  [{cats}]  {' '.join(post.text.split())[:100]}  {post.url}")
    if len(found) > limit:
        click.echo(f"  … {len(found) - limit} more (--limit) / 另有更多")

