"""jieba's 350k-word dictionary, loaded once (off the start-up path if asked) and copied
into a tokenizer per matcher. Apart from the matcher because it is the slow, threaded,
jieba-version-sensitive part, and because jieba's global tokenizer must never be touched:
each matcher owns the one it is handed here."""

from __future__ import annotations

import logging
import marshal
import os
import tempfile
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba


class TokenizerFactory:
    """Loads jieba's 350k-word dictionary once (about a second) and hands out independent
    tokenizers (copies of it, ~15 ms), so a config reload never mutates one in use.

    ``preload()`` loads it on a background thread (jieba itself is imported there too), so
    a daemon can start polling meanwhile; ``deferred()`` hands out a tokenizer at once that
    waits for the dictionary only when it first cuts text, and a ``Matcher`` built on one
    compiles its phrases only when a post first gets past its prefilter."""

    def __init__(self, *, background: bool = False) -> None:
        self._base: jieba.Tokenizer | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._started = False
        if background:
            self.preload()

    def preload(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="jieba-dictionary", daemon=True).start()

    def _load(self) -> None:
        try:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            base = jieba.Tokenizer()
            _load_cache(base)
            if not base.initialized:
                base.initialize()  # builds the dictionary and writes jieba's cache
            self._base = base
        except BaseException as exc:  # handed to whoever waits for it
            self._error = exc
        finally:
            self._loaded.set()

    def base(self) -> jieba.Tokenizer:
        """jieba's dictionary, loaded (in this thread, unless a preload is under way)."""
        with self._lock:
            load_here = not self._started
            self._started = True
        if load_here:
            self._load()
        self._loaded.wait()
        if self._base is None:
            raise RuntimeError(f"jieba's dictionary could not be loaded: {self._error}") from self._error
        return self._base

    def new(self) -> jieba.Tokenizer:
        import jieba

        base = self.base()
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = dict(base.FREQ)
        tokenizer.total = base.total
        tokenizer.initialized = True
        return tokenizer

    def deferred(self) -> jieba.Tokenizer:
        """A tokenizer returned at once: ``add_word`` is recorded, and the dictionary is
        copied in (waiting for a preload if need be) when it first has text to cut."""
        return _deferred_class()(self)


def _load_cache(tokenizer: jieba.Tokenizer) -> None:
    """What ``jieba.Tokenizer.initialize`` reads from its cache for the default dictionary,
    read in one go: jieba's ``marshal.load`` on the open file takes 0.8 s where reading
    the 9 MB first and then ``marshal.loads`` takes 0.2 s (both hold the GIL throughout).
    Leaves the tokenizer uninitialised when there is no usable cache."""
    import jieba

    if tokenizer.dictionary != jieba.DEFAULT_DICT or tokenizer.cache_file:
        return
    cache = os.path.join(tokenizer.tmp_dir or tempfile.gettempdir(), "jieba.cache")
    try:
        with open(cache, "rb") as f:
            freq, total = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return
    if isinstance(freq, dict) and freq and total:
        tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True


def _deferred_class() -> type:
    global _Deferred
    if _Deferred is None:
        import jieba

        class Deferred(jieba.Tokenizer):
            initialized: bool

            def __init__(self, factory: TokenizerFactory) -> None:
                super().__init__()
                self._factory = factory
                self._pending: list[tuple[str, int]] = []

            def add_word(self, word: str, freq: int | None = None, tag: str | None = None) -> None:
                if freq is not None and tag is None and not self.initialized:
                    with self.lock:
                        if not self.initialized:
                            self._pending.append((word, int(freq)))
                            return
                super().add_word(word, freq, tag)

            def initialize(self, dictionary: str | None = None) -> None:
                with self.lock:
                    if self.initialized:
                        return
                    base = self._factory.base()
                    freq, total = dict(base.FREQ), base.total
                    for word, count in self._pending:  # jieba's add_word, for the words recorded
                        freq[word] = count
                        total += count
                        for end in range(1, len(word)):
                            freq.setdefault(word[:end], 0)
                    self._pending = []
                    self.FREQ, self.total = freq, total
                    self.initialized = True

        _Deferred = Deferred
    return _Deferred


_Deferred: type | None = None
