"""One normal form for everything matched or fingerprinted, so a post matches however
people write it:

- plain text (HTML stripped), NFKC (full-width letters and digits become half-width),
  case-folded;
- Traditional Chinese folded to Simplified with OpenCC (燙傷 = 烫伤), so one lexicon
  serves Taiwan, Hong Kong and the mainland;
- separators wedged between Chinese characters removed (艾 克 美, 艾-克-美, 艾*克*美 are
  艾克美): the common way to dodge a brand-name search.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import opencc

from sources import html_to_text
from sources.text import looks_like_html

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WEDGED = re.compile(rf"(?<=[{_CJK}])[\s\-_·•*/\\|~+=.]+(?=[{_CJK}])")
"""Spaces or symbols between two Chinese characters. Chinese puts no spaces between
words, so removing them loses nothing; clause punctuation (，。、) is kept, so words
on either side of it never run together."""


@functools.cache
def _t2s() -> opencc.OpenCC:
    """The conversion table, loaded once (15 ms) and read-only afterwards."""
    return opencc.OpenCC("t2s")


def normalize(text: str) -> str:
    if looks_like_html(text):
        text = html_to_text(text)
    text = unicodedata.normalize("NFKC", text).casefold()
    if has_cjk(text):
        text = _WEDGED.sub("", _t2s().convert(text))
    return text


_ANY_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


def has_cjk(text: str) -> bool:
    """Whether the text has a Chinese character (one regex scan: a stream source asks it
    of every post of a network's firehose)."""
    return _ANY_CJK.search(text) is not None
