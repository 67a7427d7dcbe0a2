"""Hashed text features for the offline intent model: character n-grams that work across
scripts (within words for spaced languages, across the string for Chinese) plus word n-grams."""

from __future__ import annotations

import re
import unicodedata
import zlib

import numpy as np

from helpdeck.understanding.cues import CJK_PERSON, CJK_QUESTION, PERSON_WORDS, QUESTION_OPENERS
from helpdeck.understanding.sentiment import negative_hits

DIMENSIONS = 1 << 14
_WORD = re.compile(r"\w+", re.UNICODE)
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_NUMBER = re.compile(r"\b[A-Z]{0,3}\d[\dA-Z-]{3,}\b")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _EMAIL.sub(" zzemail ", text)
    text = _NUMBER.sub(" zznumber ", text)
    return text.casefold()


def terms(text: str) -> list[str]:
    """The string features of one message (before hashing)."""
    folded = normalise(text)
    words = _WORD.findall(folded)
    found: list[str] = [f"w:{w}" for w in words]
    found += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for word in words:
        padded = f" {word} "
        for n in (2, 3, 4):
            found += [f"c{n}:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    han = "".join(ch if _is_cjk(ch) else " " for ch in folded)
    for run in han.split():
        for n in (1, 2, 3):
            found += [f"h{n}:{run[i:i + n]}" for i in range(len(run) - n + 1)]
    if "?" in folded or "？" in folded:
        found.append("p:question_mark")
    if "!" in folded or "！" in folded:
        found.append("p:bang")
    found.append(f"len:{min(len(words), 12) // 3}")
    found += cue_terms(folded, words)
    return found


def cue_terms(folded: str, words: list[str]) -> list[str]:
    """Lexicon cues, repeated so they weigh like a few n-grams."""
    cues: list[str] = []
    if (words and words[0] in QUESTION_OPENERS) or any(c in folded for c in CJK_QUESTION):
        cues += ["cue:asks"] * 3
    if any(w in PERSON_WORDS for w in words) or any(c in folded for c in CJK_PERSON):
        cues += ["cue:person"] * 3
    if negative_hits(folded):
        cues += ["cue:negative"] * 3
    if "zznumber" in words or "zzemail" in words:
        cues += ["cue:identifier"] * 2
    return cues


def vector(text: str) -> np.ndarray:
    """L2-normalised hashed term counts, float32 (DIMENSIONS,)."""
    row = np.zeros(DIMENSIONS, dtype=np.float32)
    for term in terms(text):
        row[zlib.crc32(term.encode()) % DIMENSIONS] += 1.0
    norm = float(np.linalg.norm(row))
    return row / norm if norm else row


def matrix(texts: list[str]) -> np.ndarray:
    return np.stack([vector(t) for t in texts]) if texts else np.zeros((0, DIMENSIONS), np.float32)
