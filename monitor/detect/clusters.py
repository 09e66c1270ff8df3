"""Which issue, inside one brand and crisis category, a complaint belongs to.

One category holds many complaints: a scalded child and a kettle on fire are both
``safety``, and PR works them as two cases. So a category's mentions are clustered by
what they say; a mention joins the most similar recent complaint of its brand and
category (its issue), or starts an issue of its own, ``cat:<category>:<id>``.

Two texts are the same complaint when

- one is a near-copy of the other (``fingerprint.same_issue``: reposts, ``转发：``, an
  appended link or ``+1``), or
- they share most of their content words (jieba words without brand names, stop words
  and punctuation; overlap measured against the shorter text): a rewording that names the
  same product, injury and place in another order, or
- they name the same crisis term (the same problem: 漏水, 烫伤) and do not both give
  details that have nothing in common: "艾克美水杯漏水" and "又是艾克美，漏水漏了一桌子" are
  one batch complaint, "保温杯漏水，杯盖密封圈不行" and "电饭煲漏水，底座都湿了" are two.

Everything here is a pure function of the texts, so a replay in a sandbox clusters as
the daemon did, and the issue id is taken from the first post's platform id (not a
database id) so that live and replayed issues have the same key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.detect.fingerprint import same_issue

MAX_TOKENS = 80
"""Content words kept per mention: enough for any complaint, bounded for hostile text."""
SAME_WORDS = 0.6
"""Share of the shorter text's content words found in the other: a rewording."""
SAME_PROBLEM_DETAIL = 0.3
"""With a crisis term in common, details overlapping at least this much are one complaint."""
DETAILED = 3
"""Content words besides the crisis terms from which a post "gives details"."""

_URL = re.compile(r"https?://\S+|www\.\S+|@[\w\-.]+", re.UNICODE)
_WORD = re.compile(r"\w", re.UNICODE)
_LATIN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+", re.UNICODE)
STOP_WORDS = frozenset(
    """
    的 了 是 我 你 他 她 它 们 我们 你们 他们 这 那 这个 那个 就 也 都 和 与 及 或 在 有 被 把 给 让 向 对 从 到 用 买 说
    吗 呢 吧 啊 呀 哦 哈 嘛 么 啦 又 还 很 太 更 最 不 没 没有 一 一个 个 次 些 点 下 上 里 中 后 前 要 会 能 可以 已经 刚 刚刚
    真 真的 就是 还是 但是 而且 然后 因为 所以 如果 自己 大家 什么 怎么 为什么 谁 哪 转发 转 同款 求 请 网友 今天 昨天 现在
    一下 一样 这样 那样 这么 那么 之后 时候 事情 问题 家 我家 咱 俺
    the a an and or but of to in on at for with from by is are was were be been being it its this that
    these those i me my we our you your he she his her they them their not no so just very too also
    have has had do does did will would can could should rt via amp
    """.split()
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent mention of the same brand and category, as clustering sees it."""

    issue_key: str
    text: str
    words: Sequence[str]
    terms: frozenset[str]


def content_words(words: Iterable[str], drop: Iterable[str] = ()) -> list[str]:
    """The words that say what a complaint is about, in order, each once: no brand names
    (``drop``; a frozenset is taken as casefolded already), stop words, punctuation, links
    or @names."""
    dropped = drop if isinstance(drop, frozenset) else frozenset(w.casefold() for w in drop)
    seen: dict[str, None] = {}
    for raw in words:
        raw = raw.strip().casefold()
        if not raw or _URL.match(raw):
            continue
        parts = [raw] if not raw.isascii() else [_stem(w) for w in _LATIN.findall(raw)]
        for word in parts:
            if not word or word in dropped or word in STOP_WORDS or not _WORD.search(word):
                continue
            if word.isdigit() and len(word) < 3:
                continue
            seen.setdefault(word, None)
        if len(seen) >= MAX_TOKENS:
            break
    return list(seen)


def _stem(word: str) -> str:
    """A light English stem, so "scalded", "scalds" and "scald" are one word."""
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def strip_links(text: str) -> str:
    return _URL.sub(" ", text)


def _overlap(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def similarity(text: str, words: Sequence[str], terms: frozenset[str], other: Candidate) -> float:
    """How surely two mentions are one complaint, 0 to 1; at least ``JOIN`` means they are.
    Symmetric, and a pure function of the two texts."""
    if same_issue(text, other.text):
        return 1.0
    mine, theirs = set(words), set(other.words)
    score = _overlap(mine, theirs)
    if score >= SAME_WORDS:
        return score
    if terms & other.terms:
        fold = {t.casefold() for t in terms | other.terms}
        detail_a, detail_b = mine - fold, theirs - fold
        if min(len(detail_a), len(detail_b)) < DETAILED or _overlap(detail_a, detail_b) >= SAME_PROBLEM_DETAIL:
            return max(score, JOIN)
    return score


JOIN = 0.5
"""``similarity`` from which a mention joins an issue."""


def best_issue(text: str, words: Sequence[str], terms: frozenset[str], candidates: Iterable[Candidate]) -> str | None:
    """The issue of the most similar candidate, if any is similar enough (ties: the first
    given, i.e. the most recent)."""
    best, best_score = None, JOIN - 1e-9
    for candidate in candidates:
        score = similarity(text, words, terms, candidate)
        if score > best_score:
            best, best_score = candidate.issue_key, score
            if score >= 1.0:
                break
    return best
