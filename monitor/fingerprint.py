"""Near-duplicate detection: a 64-bit SimHash over character 3-grams.

Copies of one complaint differ in links, @names, emoji and punctuation; character
shingles of the normalised text survive those edits and need no segmentation.
"""

from __future__ import annotations

import hashlib
import re

from .textnorm import normalize

_NOISE = re.compile(r"https?://\S+|@\S+|#|[\W_]+", re.UNICODE)
NEAR = 6  # bits of 64 that may differ for two texts to be "the same complaint"


def simhash(text: str) -> int:
    cleaned = _NOISE.sub("", normalize(text))
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
