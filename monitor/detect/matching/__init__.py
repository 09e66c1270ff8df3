"""Is this post a mention of a brand, and which crisis terms does it carry?

Whole words only. Chinese has no spaces, so it is segmented with jieba, with every
configured keyword, exclude and term added to the tokenizer's dictionary (with a high
frequency, so 艾克美 and 烫伤 segment whole); a Chinese phrase matches when its tokens
appear consecutively. Phrases without Chinese match case-insensitively on word
boundaries. Each matcher owns its tokenizer: jieba's global one is never touched.

One job per private module: ``_tokenizer`` (jieba's dictionary loaded once, tokenizers
handed out), ``_prefilter`` (one Aho-Corasick pass that rules out most posts before any
jieba), ``_matcher`` (brands, excludes, queries and crisis terms, the ``Mention``),
``_negation`` (a post prepared for look-ups, which tells an asserted term from a denied or
quoted one), ``_phrases`` (the compiled phrase the other three share).
"""

from monitor.detect.matching._matcher import Matcher, Mention
from monitor.detect.matching._negation import NEGATION_EN, NEGATION_REACH, NEGATION_ZH, QUOTE_SLACK_EN, QUOTE_SLACK_ZH
from monitor.detect.matching._tokenizer import TokenizerFactory

__all__ = [
    "NEGATION_EN",
    "NEGATION_REACH",
    "NEGATION_ZH",
    "QUOTE_SLACK_EN",
    "QUOTE_SLACK_ZH",
    "Matcher",
    "Mention",
    "TokenizerFactory",
]
