"""Text analysis for the embedded BM25 index, done in Python so index and query agree.

Words are lower-cased and stripped of accents (so "Paket"/"paket", "réseau"/"reseau" meet),
split on anything that is not a letter or digit. Runs of CJK characters have no spaces, so
they become overlapping character bigrams (plus the character itself when a run is one
character long), as Lucene's CJK analyzer does. Tokens longer than 40 characters (hashes,
base64) are dropped.
"""

from __future__ import annotations

import re
import unicodedata

_CJK_RANGES = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(f"([{_CJK_RANGES}]+)|([^\\W_{_CJK_RANGES}]+)")
MAX_TOKEN_CHARS = 40


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ß", "ss")


def analyze(text: str) -> list[str]:
    """The BM25 terms of `text`, in order, with repeats."""
    terms: list[str] = []
    for cjk, word in _TOKEN.findall(unicodedata.normalize("NFKC", text)):
        if cjk:
            if len(cjk) == 1:
                terms.append(cjk)
            else:
                terms.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
        elif len(word) <= MAX_TOKEN_CHARS:
            terms.append(_fold(word))
    return terms
