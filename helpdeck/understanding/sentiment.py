"""Lexicon sentiment in [-1, 0]: how strongly negative a message reads (0 = not negative).

Good enough to tell an angry complaint from a calm one for escalation; not a general model.
"""

from __future__ import annotations

import re

from helpdeck.understanding.cues import CJK_NEGATIVE, INTENSIFIERS, NEGATIVE_STEMS

_WORD = re.compile(r"[\w'’]+")


def negative_hits(text: str) -> int:
    folded = text.casefold()
    words = _WORD.findall(folded)
    joined = " " + " ".join(words) + " "
    hits = sum(1 for stem in NEGATIVE_STEMS if (" " + stem) in joined)
    return hits + sum(1 for cue in CJK_NEGATIVE if cue in folded)


def sentiment_score(text: str) -> float:
    """-1 strongly negative … 0 neutral or positive."""
    hits = negative_hits(text)
    if not hits:
        return 0.0
    folded = text.casefold()
    boost = sum(1 for word in INTENSIFIERS if word in folded) + folded.count("!") // 2
    boost += sum(1 for w in _WORD.findall(text) if len(w) > 3 and w.isupper())  # SHOUTING
    return -min(1.0, 0.45 * hits + 0.2 * boost + 0.1)
