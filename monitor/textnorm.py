"""One normal form for everything matched or fingerprinted: plain text, NFKC (full-width
letters and digits become half-width), case-folded."""

from __future__ import annotations

import unicodedata

from sources import html_to_text
from sources.text import looks_like_html


def normalize(text: str) -> str:
    if looks_like_html(text):
        text = html_to_text(text)
    return unicodedata.normalize("NFKC", text).casefold()


def has_cjk(text: str) -> bool:
    return any(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0002ffff"
        for ch in text
    )
