"""Up to three likely follow-ups for a reply: the company's common questions closest to this
turn (by shared words with the question and the passages used), then the sections of those
passages the customer has not asked about yet."""

from __future__ import annotations

from collections.abc import Sequence

from helpdeck.providers.chat import Passage
from helpdeck.providers.offline_chat import content_words

MAX_SUGGESTIONS = 3
NEAR_DUPLICATE = 0.7  # a suggestion sharing this much with the question is the question again

MORE_ABOUT = {
    "en": "Tell me more about {topic}",
    "de": "Mehr zu {topic}",
    "fr": "En savoir plus sur {topic}",
    "it": "Dimmi di più su {topic}",
    "zh": "详细介绍一下{topic}",
}


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def suggest_followups(
    question: str,
    passages_used: Sequence[Passage],
    common_questions: Sequence[str],
    language: str = "en",
    limit: int = MAX_SUGGESTIONS,
) -> list[str]:
    asked = content_words(question)
    context = set(asked)
    for passage in passages_used:
        context |= content_words(passage.text)
    ranked = []
    for candidate in dict.fromkeys(q.strip() for q in common_questions if q.strip()):
        words = content_words(candidate)
        if _overlap(words, asked) >= NEAR_DUPLICATE:
            continue
        score = len(words & context) / max(len(words), 1)
        if score > 0:
            ranked.append((score, candidate))
    ranked.sort(key=lambda item: -item[0])
    suggestions = [candidate for _, candidate in ranked[:limit]]
    template = MORE_ABOUT.get(language, MORE_ABOUT["en"])
    for passage in passages_used:
        if len(suggestions) >= limit:
            break
        topic = (passage.section or "").strip()
        if topic and _overlap(content_words(topic), asked) < NEAR_DUPLICATE:
            # An FAQ entry's section is its question: offer it as it is.
            text = topic if topic.endswith(("?", "？")) else template.format(topic=topic)
            if text not in suggestions:
                suggestions.append(text)
    return suggestions[:limit]
