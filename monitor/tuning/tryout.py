"""Trying a keyword list or a query on stored posts before it goes into config.toml: which
posts it matches; with replay, which tickets it would have raised. Shared by
``monitor keywords test`` and the console's keyword tester."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import BrandConfig, Config
from monitor.detect.matching import Matcher, Mention, TokenizerFactory
from monitor.detect.query import parse as parse_query
from monitor.errors import MonitorError
from monitor.storage.models import PostRow


class TimeLimit(MonitorError):
    """A test ran out of its time: ``posts`` were looked at before it stopped."""

    def __init__(self, posts: int) -> None:
        super().__init__(posts)
        self.posts = posts

    def __str__(self) -> str:
        return f"stopped after {self.posts} posts: time limit / 已到时间上限，看过 {self.posts} 条帖子后停止"


@dataclass
class Deadline:
    """A time limit for one test, checked once per post: ``check`` raises ``TimeLimit``
    once ``seconds`` have passed on ``clock`` (monotonic) since the deadline was made."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def check(self, posts: int) -> None:
        if self.clock() - self.started > self.seconds:
            raise TimeLimit(posts)


@dataclass(frozen=True, slots=True)
class Found:
    post: PostRow
    mention: Mention


def candidate_brand(name: str, words: str, exclude: tuple[str, ...] = (), *, as_query: bool = False) -> BrandConfig:
    """A brand from what a person typed: space- or line-separated keywords, or a query.
    Raises ``QuerySyntaxError`` (with the column) for a bad query, ``ValueError`` when
    nothing was given."""
    query = parse_query(words) if as_query else None
    brand = BrandConfig(name, () if as_query else tuple(dict.fromkeys(words.split())), tuple(w for w in exclude if w.strip()), query)
    if not brand.keywords and brand.query is None:
        raise ValueError("no keywords given / 请给出关键词")
    return brand


def with_brand(config: Config, brand: BrandConfig) -> Config:
    """``config`` with ``brand`` in place of the brand of that name (or added)."""
    others = tuple(b for b in config.brands if b.name != brand.name)
    return replace(config, brands=(*others, brand))


def matching_posts(
    session: Session,
    config: Config,
    brand: BrandConfig,
    since: datetime,
    tokenizers: TokenizerFactory,
    *,
    max_scan: int | None = None,
    deadline: Deadline | None = None,
) -> tuple[list[Found], int]:
    """Stored posts first seen since ``since`` (at most the newest ``max_scan``) that
    ``brand`` would match, newest first, with the crisis terms each carries; and how many
    posts were looked at. ``TimeLimit`` when ``deadline`` passes first."""
    matcher = Matcher([brand], config.crisis, tokenizers.new())
    found: list[Found] = []
    scanned = 0
    query = select(PostRow).where(PostRow.first_seen_at >= since).order_by(PostRow.first_seen_at.desc())
    for post in session.scalars(query if max_scan is None else query.limit(max_scan)):
        if deadline is not None:
            deadline.check(scanned)
        scanned += 1
        found.extend(Found(post, mention) for mention in matcher.match(post.text))
    return found, scanned
