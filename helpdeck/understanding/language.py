"""Offline language identification (py3langid restricted to the company's languages) and the
choice of the language a reply is written in.

Short messages ("ok", "merci") are where n-gram models guess; there the greeting lexicon, then
the conversation's earlier language, then the company's default decide instead.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

SUPPORTED = ("en", "de", "fr", "it", "zh", "es", "nl", "pt", "ja", "ko", "ru", "pl", "sv")
DEFAULT_LANGUAGES = ("en", "de", "fr", "it", "zh")
MIN_CONFIDENT = 0.90  # below this (normalised probability) a short message is not trusted
SHORT_MESSAGE_CHARS = 25

# Words whose language is certain even alone (greetings, thanks, yes/no).
_LEXICON: dict[str, str] = {
    "hi": "en", "hello": "en", "hey": "en", "thanks": "en", "thank": "en", "yes": "en", "no": "en",
    "hallo": "de", "danke": "de", "ja": "de", "nein": "de", "tschüss": "de", "servus": "de",
    "bonjour": "fr", "bonsoir": "fr", "salut": "fr", "merci": "fr", "oui": "fr", "non": "fr",
    "ciao": "it", "buongiorno": "it", "grazie": "it", "salve": "it", "sì": "it", "si": "it",
    "hola": "es", "gracias": "es",
}
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))


def normalise_code(code: str) -> str:
    """'zh-cn', 'zh_Hans', 'DE-at' → 'zh', 'zh', 'de': the company lists base languages."""
    return code.strip().lower().replace("_", "-").split("-")[0]


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float


class LanguageDetector:
    """py3langid restricted to `languages`; one model copy per language set, thread-safe."""

    _cache: dict[tuple[str, ...], LanguageDetector] = {}
    _cache_lock = threading.Lock()

    def __init__(self, languages: Sequence[str]) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        known = [code for code in dict.fromkeys(normalise_code(c) for c in languages) if code]
        self.languages = tuple(known) or DEFAULT_LANGUAGES
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        modelled = set(self._identifier.labels)
        self._identifier.set_languages([c for c in self.languages if c in modelled] or ["en"])
        self._lock = threading.Lock()

    @classmethod
    def for_languages(cls, languages: Sequence[str] | None) -> LanguageDetector:
        key = tuple(sorted({normalise_code(c) for c in (languages or DEFAULT_LANGUAGES)}))
        with cls._cache_lock:
            detector = cls._cache.get(key)
            if detector is None:
                detector = cls._cache[key] = cls(key)
            return detector

    def detect(self, text: str) -> LanguageGuess:
        if len(self.languages) == 1:
            return LanguageGuess(self.languages[0], 1.0)
        cjk = sum(any(lo <= ord(ch) <= hi for lo, hi in _CJK_RANGES) for ch in text)
        if cjk >= 2 and "zh" in self.languages and cjk * 3 >= len(text.replace(" ", "")):
            return LanguageGuess("zh", 1.0)  # Han script: no other allowed language writes it
        with self._lock:  # set_languages state is shared; classify is cheap
            language, probability = self._identifier.classify(text)
        return LanguageGuess(str(language), float(probability))


def lexicon_language(text: str, languages: Sequence[str]) -> str | None:
    """The language of a message made only of greeting/thanks/yes/no words, if unambiguous."""
    folded = "".join(" " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in text.casefold())
    found = {_LEXICON[w] for w in folded.split() if w in _LEXICON}
    return found.pop() if len(found) == 1 and next(iter(found)) in languages else None


def reply_language(
    text: str,
    languages: Sequence[str] | None = None,
    previous_language: str | None = None,
    default_language: str | None = None,
) -> LanguageGuess:
    """The language to answer `text` in: detected when confident, else lexicon, previous, default."""
    allowed = tuple(normalise_code(c) for c in (languages or DEFAULT_LANGUAGES))
    guess = LanguageDetector.for_languages(allowed).detect(text)
    if guess.confidence >= MIN_CONFIDENT or len(text.strip()) > SHORT_MESSAGE_CHARS:
        return guess
    from_lexicon = lexicon_language(text, allowed)
    if from_lexicon:
        return LanguageGuess(from_lexicon, 0.9)
    fallback = previous_language or default_language
    if fallback and normalise_code(fallback) in allowed:
        return LanguageGuess(normalise_code(fallback), guess.confidence)
    return guess
