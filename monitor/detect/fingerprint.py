"""Near-duplicate detection for "the same complaint, copied and reworded a little".

Two steps: a 64-bit SimHash over character 3-grams (stored with each mention) rules
out clearly different texts cheaply; then character-bigram overlap decides. Overlap is
measured against the shorter text, so "转发：" prefixes, appended links, @names and
emoji do not split one complaint into several issues. Character shingles need no
segmentation and work the same for Chinese and English.
"""

from __future__ import annotations

import hashlib
import re

from monitor.detect.textnorm import normalize

_NOISE = re.compile(r"https?://\S+|@\S+|[\W_]+", re.UNICODE)
PREFILTER_BITS = 20  # SimHash distance beyond which two texts are never compared in full
SAME_ISSUE = 0.7  # share of the shorter text's bigrams found in the other one
MIN_SHINGLES = 8  # below this, require Jaccard (two near-empty texts are not "the same")


def clean(text: str) -> str:
    return _NOISE.sub("", normalize(text))


def simhash(text: str) -> int:
    cleaned = clean(text)
    if not cleaned:
        return 0
    grams = [cleaned[i : i + 3] for i in range(max(1, len(cleaned) - 2))]
    weights = [0] * 64
    for gram in grams:
        h = int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def to_hex(value: int) -> str:
    return f"{value:016x}"


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def shingles(text: str) -> set[str]:
    cleaned = clean(text)
    return {cleaned[i : i + 2] for i in range(len(cleaned) - 1)} if len(cleaned) > 1 else {cleaned} - {""}


def same_issue(a: str, b: str) -> bool:
    """Whether two texts are copies of one complaint (a symmetric, pure function)."""
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return False
    common = len(sa & sb)
    smaller = min(len(sa), len(sb))
    if smaller < MIN_SHINGLES:
        return common / len(sa | sb) >= SAME_ISSUE
    return common / smaller >= SAME_ISSUE
